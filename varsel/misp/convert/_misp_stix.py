"""The calls into ``misp-stix``: one event to STIX objects, and STIX objects to one event."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from misp_stix_converter import (
    ExternalSTIX2toMISPParser,
    InternalSTIX2toMISPParser,
    MISPtoSTIX21Parser,
)
from misp_stix_converter.tools import load_stix2_content

from varsel.errors import InvalidInput
from varsel.misp.convert._restore import restore_timestamps

_log = logging.getLogger(__name__)


# What misp-stix does not convert (placement does), or converts in a way the hub cannot keep:
# PyMISP refuses a sharing group named by uuid alone, and a published event becomes a STIX
# report instead of the grouping (its id would change when the event is published).
def stix_time(seconds: int) -> str:
    """Return ``seconds`` since the epoch as the STIX timestamp ``misp-stix`` writes."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _as_dict(obj: Any) -> dict[str, Any]:
    if isinstance(obj, dict):
        return obj
    loaded: dict[str, Any] = json.loads(obj.serialize())
    return loaded


def _messages(parser: MISPtoSTIX21Parser) -> list[str]:
    found: list[str] = []
    for store in (parser.errors, parser.warnings):
        for messages in store.values():
            found.extend(str(m) for m in messages)
    return found


_SCOPE_KEYS = ("distribution", "sharing_group_id", "SharingGroup", "published")


def _unscoped(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in _SCOPE_KEYS}


def _without_scopes(event: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``event`` without MISP's distribution and sharing groups, which ``misp-stix``
    does not convert (placement does) but PyMISP checks, refusing a sharing group by uuid."""
    bare = _unscoped(event)
    bare["Attribute"] = [_unscoped(a) for a in event.get("Attribute", ())]
    bare["Object"] = [
        dict(_unscoped(o), Attribute=[_unscoped(a) for a in o["Attribute"]])
        for o in event.get("Object", ())
    ]
    bare["EventReport"] = [_unscoped(r) for r in event.get("EventReport", ())]
    return bare


def run_misp_stix(event: Mapping[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """Return the STIX objects ``misp-stix`` makes of one bare event, and what it reported."""
    parser = MISPtoSTIX21Parser()
    parser.parse_misp_event({"Event": _without_scopes(event)})
    objects = [_as_dict(obj) for obj in parser.stix_objects]
    messages = _messages(parser)
    if not any(obj["type"] == "grouping" for obj in objects):
        # PyMISP could not load the event at all; misp-stix says why and writes nothing.
        raise ValueError("; ".join(messages[:3]) or "misp-stix wrote nothing of the event")
    return objects, messages


def uuid_of(stix_id: str) -> str:
    """Return the uuid part of a STIX id."""
    return stix_id.partition("--")[2]


def parse(
    container: dict[str, Any], objects: list[dict[str, Any]], event_uuid: str, misp_made: bool
) -> dict[str, Any]:
    """Return the MISP event misp-stix's parser reads from ``container`` and ``objects``."""
    parser: InternalSTIX2toMISPParser | ExternalSTIX2toMISPParser = (
        InternalSTIX2toMISPParser() if misp_made else ExternalSTIX2toMISPParser()
    )
    bundle = load_stix2_content(
        {"type": "bundle", "id": f"bundle--{event_uuid}", "objects": [container, *objects]}
    )
    parser.load_stix_bundle(bundle)
    parser.parse_stix_bundle(single_event=True)
    misp_event = parser.misp_event
    event: dict[str, Any] = json.loads(misp_event.to_json())
    restore_timestamps(event, misp_event)
    return event


def parse_one_by_one(
    container: dict[str, Any], objects: list[dict[str, Any]], event_uuid: str, misp_made: bool
) -> dict[str, Any]:
    """Return the event read object by object, when misp-stix fails on them all together.

    Each referenced object is read with the objects it refers to; one misp-stix cannot read is
    left out of what the reader sees (as anything it may not read is), the rest is read.
    """
    by_id = {obj["id"]: obj for obj in objects}
    shell = dict(container, object_refs=[])
    event: dict[str, Any] | None = None
    for ref in container.get("object_refs") or ():
        obj = by_id.get(ref)
        if obj is None:
            continue
        near = [by_id[r] for r in _referred(obj) if r in by_id and r != ref]
        try:
            part = parse(dict(shell, object_refs=[ref]), [obj, *near], event_uuid, misp_made)
        except Exception as exc:  # noqa: BLE001
            _log.warning("misp-stix cannot read %s of grouping--%s: %r", ref, event_uuid, exc)
            continue
        if event is None:
            event = part
            continue
        for key in ("Attribute", "Object", "EventReport", "Galaxy"):
            known = {item.get("uuid") for item in event.get(key, ())}
            event.setdefault(key, []).extend(
                item for item in part.get(key, ()) if item.get("uuid") not in known
            )
    if event is None:
        raise InvalidInput(f"grouping--{event_uuid}: misp-stix cannot read any of its objects")
    return event


def _referred(obj: Mapping[str, Any]) -> list[str]:
    found: list[str] = []
    for key, value in obj.items():
        if key.endswith("_ref") and isinstance(value, str):
            found.append(value)
        elif key.endswith("_refs") and key != "object_marking_refs" and isinstance(value, list):
            found.extend(v for v in value if isinstance(v, str))
    return found
