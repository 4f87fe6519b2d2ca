"""Incidents, participants, timeline, tasks, entity profile and impact facts: plain functions.

Every read goes through :func:`varsel.policy.restrict` on :class:`Incident`; the rows that hang
off an incident are read only after the incident itself was found readable. Writes need the
policy's WRITE (the lead or a hub-admin) and are recorded in the audit log.

The private modules, by what they hold: ``_fields`` (checks of field values, stored times),
``_incidents`` (the incident and :func:`get`, which every other part passes first),
``_participants``, ``_timeline`` (entries and tasks), ``_profile`` (entity profile and impact
facts) and ``_submissions`` (reports recorded as sent).
"""

from __future__ import annotations

from varsel.incidents.service._fields import DORA_KINDS, ENTITY_TYPES, NIS2_CLASSES
from varsel.incidents.service._incidents import (
    create,
    get,
    keep_reach,
    list_incidents,
    readable,
    update,
)
from varsel.incidents.service._participants import add_participant, participants, remove_participant
from varsel.incidents.service._profile import (
    current_facts,
    entities,
    own_facts,
    profile,
    remove_entity,
    set_entity,
    set_facts,
    set_profile,
)
from varsel.incidents.service._submissions import record_submission, submissions
from varsel.incidents.service._timeline import add_entry, add_task, set_task_done, tasks, timeline

__all__ = [
    "DORA_KINDS",
    "ENTITY_TYPES",
    "NIS2_CLASSES",
    "add_entry",
    "add_participant",
    "add_task",
    "create",
    "current_facts",
    "entities",
    "get",
    "keep_reach",
    "list_incidents",
    "own_facts",
    "participants",
    "profile",
    "readable",
    "record_submission",
    "remove_entity",
    "remove_participant",
    "set_entity",
    "set_facts",
    "set_profile",
    "set_task_done",
    "submissions",
    "tasks",
    "timeline",
    "update",
]
