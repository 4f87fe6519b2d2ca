"""Compare MISP attributes before and after MISP → STIX → MISP, field by field."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tests.misp.convert.conftest import tag_placer, tag_scope
from varsel.misp.convert import event_to_stix, stix_to_event
from varsel.misp.convert._fidelity import attributes, differences


@dataclass
class Tally:
    """Events and attributes that came back equal, and the ones lost by reason."""

    events: int = 0
    equal: int = 0
    lost: Counter[str] = field(default_factory=Counter)
    unnamed: list[str] = field(default_factory=list)
    """Attributes that came back different with no loss naming them: must stay empty."""


def round_trip(event: dict[str, Any], tally: Tally, *, name: str = "") -> dict[str, Any]:
    """Convert ``event`` to STIX and back; count each attribute as equal, lost or unnamed."""
    converted = event_to_stix(event, place=tag_placer)
    back = stix_to_event(converted.objects[0], converted.objects[1:], scope=tag_scope)
    tally.events += 1
    returned = {a.get("uuid"): a for a in attributes(back)}
    named = {loss.item: loss for loss in converted.losses}
    objects_lost = {loss.item for loss in converted.losses if loss.what.startswith("object ")}
    bare = event.get("Event", event)
    parents = {
        a.get("uuid"): o.get("uuid")
        for o in bare.get("Object") or ()
        for a in o.get("Attribute") or ()
    }
    for before in attributes(event):
        diff = differences(before, returned.get(before.get("uuid")))
        loss = named.get(before.get("uuid"))
        if not diff:
            tally.equal += 1
        elif loss is not None:
            tally.lost[loss.reason.split(":")[0]] += 1
        elif parents.get(before.get("uuid")) in objects_lost:
            tally.lost["its object was lost"] += 1
        else:
            tally.unnamed.append(f"{name}: {before.get('type')} {before.get('uuid')} {diff}")
    return back
