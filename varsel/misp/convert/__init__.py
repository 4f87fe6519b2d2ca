"""MISP event ⇄ STIX 2.1 objects, with CIRCL's ``misp-stix`` as the converter (docs/misp.md).

Pure functions: no database, no policy. :func:`event_to_stix` turns one MISP event (the JSON a
MISP instance exports, ``{"Event": {…}}`` or the bare event) into the STIX objects the hub
stores, each placed (TLP 2.0 marking, recipients) by the ``place`` callback the caller passes —
the hub's mapping of MISP's distribution, sharing groups and ``tlp:*`` tags
(:mod:`varsel.misp.sharing`). Everything it cannot convert is named in ``losses``; nothing is
dropped silently. :func:`stix_to_event` is the way back, for the objects a reader may see.

The private modules, in the order an event goes through them: ``_reading`` (refuse what is no
event, name each unreadable item), ``_fast`` (what misp-stix would write of a plain attribute,
built directly, both ways), ``_misp_stix`` (the calls into misp-stix), ``_annotate`` and
``_properties`` (what misp-stix drops, kept in the hub's own properties), ``_export`` (the
conversion, item by item when misp-stix fails, and the checks that every item became STIX and
comes back), ``_compact`` (a to_ids attribute as its indicator alone), ``_placing`` (TLP 2.0
markings and recipients, never broader than MISP said), ``_import`` and ``_restore`` (the way
back) and ``_fidelity`` (what "comes back equal" means).

``Scope.producer`` is the event's creator as MISP names it (``Orgc.name``); a ``place`` that
places for a hub organisation puts that organisation there (``dataclasses.replace``).
"""

from __future__ import annotations

from varsel.misp.convert._export import event_to_stix
from varsel.misp.convert._import import stix_to_event
from varsel.misp.convert._types import Converted, Loss, Placer

__all__ = ["Converted", "Loss", "Placer", "event_to_stix", "stix_to_event"]
