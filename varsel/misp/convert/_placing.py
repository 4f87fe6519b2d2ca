"""Place each STIX object of an event: its TLP 2.0 marking and recipients, never broader.

MISP lets an item be read by the narrower of its own distribution and its event's, so an
item's :class:`Placement` is the narrower of the one ``place`` gives for the item's own scope
(distribution 5 resolved to its parent's; its tags and its event's) and its parent's. TLP
markings ``misp-stix`` wrote from ``tlp:*`` tags (TLP 1.0 ids among them) are replaced by the
placement's TLP 2.0 id; the hub knows those ids, so no marking-definition is sent for them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from varsel.errors import InvalidInput
from varsel.misp.sharing import Placement, Scope
from varsel.sharing.ingest import RECIPIENTS_PROPERTY
from varsel.sharing.tlp import level_of_marking


class Unplaceable(InvalidInput):
    """Two scopes an item is under leave no reader in common (fail closed: a loss)."""


def narrower(a: Placement, b: Placement) -> Placement:
    """Return the placement readable only by those both ``a`` and ``b`` let read.

    The level is the more restrictive one; named recipients are those both name (either's,
    when only one names any). Raises :class:`Unplaceable` when both name recipients and
    none in common.
    """
    if a == b:
        return a
    level = a.level if a.level.rank >= b.level.rank else b.level
    if a.recipients and b.recipients:
        theirs = set(b.recipients)
        recipients = tuple(name for name in a.recipients if name in theirs)
        if not recipients:
            raise Unplaceable("its own recipients and its event's have no one in common")
    else:
        recipients = a.recipients or b.recipients
    notes = [note for note in (a.note, b.note) if note]
    return Placement(level, recipients, "; ".join(dict.fromkeys(notes)) or None)


def sharing_group(item: Mapping[str, Any]) -> str | None:
    """Return the uuid of the sharing group an item names, if any."""
    group = item.get("SharingGroup")
    if isinstance(group, Mapping) and isinstance(group.get("uuid"), str):
        return str(group["uuid"])
    return None


def tag_names(item: Mapping[str, Any]) -> tuple[str, ...]:
    """Return the names of an item's tags (already checked to be text)."""
    return tuple(tag["name"] for tag in item.get("Tag") or ())


def scope_of(
    item: Mapping[str, Any],
    parent: Scope,
    *,
    extra_tags: tuple[str, ...] = (),
) -> Scope:
    """Return an item's scope: distribution 5 (inherit) resolved to ``parent``'s, tags added."""
    spread = int(item.get("distribution", 5))
    group = sharing_group(item) if spread == 4 else None
    if spread == 5:
        spread, group = parent.distribution, parent.sharing_group
    tags = tuple(dict.fromkeys((*tag_names(item), *extra_tags, *parent.tags)))
    return Scope(spread, group, tags, parent.producer)


def mark(obj: dict[str, Any], placement: Placement) -> None:
    """Set ``obj``'s TLP 2.0 marking (its other markings kept) and its recipients."""
    refs = [ref for ref in obj.get("object_marking_refs", ()) if level_of_marking(ref) is None]
    obj["object_marking_refs"] = [placement.level.stix_id, *refs]
    if placement.recipients:
        obj[RECIPIENTS_PROPERTY] = list(placement.recipients)
    else:
        obj.pop(RECIPIENTS_PROPERTY, None)
    granular = obj.get("granular_markings")
    if isinstance(granular, list):
        kept = [g for g in granular if level_of_marking(str(g.get("marking_ref"))) is None]
        if kept:
            obj["granular_markings"] = kept
        else:
            obj.pop("granular_markings")


def is_tlp_definition(obj: Mapping[str, Any]) -> bool:
    """Return whether ``obj`` is the definition of a TLP marking (1.0 or 2.0) the hub knows."""
    return obj.get("type") == "marking-definition" and level_of_marking(str(obj["id"])) is not None
