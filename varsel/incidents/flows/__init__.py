"""Work that crosses domains: incidents with the reporting engine and the hub's STIX objects.

Linked STIX objects are read through :func:`varsel.policy.restrict` on StixObject, so a viewer
sees (and a report is pre-filled with) only the objects that viewer may read.

The private modules, by what they hold: ``_links`` (links to STIX objects), ``_engine`` (the
reporting engine over one incident: obligations, reports, submissions), ``_clock`` (due and
overdue reports across incidents) and ``_notify`` (the reminder job).
"""

from __future__ import annotations

from varsel.incidents.flows._clock import clock
from varsel.incidents.flows._engine import Loaded, load_incident, obligations_of, report, submit
from varsel.incidents.flows._links import (
    link_object,
    linkable_incidents,
    linked_incidents,
    visible_links,
)
from varsel.incidents.flows._notify import NotifyResult, notify_due

__all__ = [
    "Loaded",
    "NotifyResult",
    "clock",
    "link_object",
    "linkable_incidents",
    "linked_incidents",
    "load_incident",
    "notify_due",
    "obligations_of",
    "report",
    "submit",
    "visible_links",
]
