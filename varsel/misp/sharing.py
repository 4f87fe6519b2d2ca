"""MISP's sharing model ⇄ the hub's: distribution, sharing groups and ``tlp:*`` tags (docs/misp.md).

MISP decides who sees an event or attribute by its *distribution* (0 your organisation only,
1 this community only, 2 connected communities, 3 all communities, 4 a sharing group, 5 inherit
the event's) and marks handling with ``tlp:*`` tags. The hub decides by TLP 2.0 level, the
collection's community and named recipients (docs/access-policy.md). :func:`place` maps MISP → hub
so that the hub never lets more organisations read an item than MISP's side allowed;
:func:`misp_scope` maps back, never broader either.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from varsel.sharing.tlp import TLP

# The ``tlp`` taxonomy of MISP (misp-taxonomies, ``tlp/machinetag.json`` version 10, read with
# pytaxonomies): each tag's TLP 2.0 level. ``tlp:white`` is TLP 1.0's name for CLEAR.
TAG_LEVELS: dict[str, TLP] = {
    "tlp:clear": TLP.CLEAR,
    "tlp:white": TLP.CLEAR,
    "tlp:green": TLP.GREEN,
    "tlp:amber": TLP.AMBER,
    "tlp:amber+strict": TLP.AMBER_STRICT,
    "tlp:red": TLP.RED,
}
# Tags of the taxonomy that say nothing about who may read: the Chatham House Rule is about
# attribution. Any other ``tlp:`` tag (``tlp:unclear``, a misspelling) is read as TLP:RED.
_NOT_A_LEVEL = frozenset({"tlp:ex:chr"})
# The hub level's tag, in the taxonomy's own spelling (misp_scope).
LEVEL_TAGS: dict[TLP, str] = {
    TLP.CLEAR: "tlp:clear",
    TLP.GREEN: "tlp:green",
    TLP.AMBER: "tlp:amber",
    TLP.AMBER_STRICT: "tlp:amber+strict",
    TLP.RED: "tlp:red",
}

DEFAULT_CEILINGS: dict[int, TLP] = {0: TLP.RED, 1: TLP.GREEN, 2: TLP.GREEN, 3: TLP.CLEAR}
"""The least restrictive level per distribution 0–3 unless the administrator narrows it.

0 (your organisation only) is the producer's alone: TLP:RED. 1 (this community only) is the
collection's community: never TLP:CLEAR. 2 (connected communities) reaches past this hub's
communities in MISP but not the world: at most TLP:GREEN. 3 (all communities): TLP:CLEAR.
"""

DISTRIBUTIONS: dict[int, str] = {
    0: "your organisation only",
    1: "this community only",
    2: "connected communities",
    3: "all communities",
    4: "a sharing group",
}
"""MISP's distribution levels by number, as MISP names them (5, inherit, is resolved first)."""


@dataclass(frozen=True, slots=True)
class Scope:
    """What MISP says about who may see an item."""

    distribution: int
    """0–4 (5, inherit, is resolved to the event's before :func:`place` is called)."""
    sharing_group: str | None
    """The sharing group's uuid when ``distribution`` is 4."""
    tags: tuple[str, ...]
    """The item's tags (the event's tags for the event; an attribute's own and inherited ones)."""
    producer: str
    """The hub organisation sharing the item (it always keeps read access)."""


@dataclass(frozen=True, slots=True)
class Placement:
    """Where the hub puts an item: its TLP level and, for RED and AMBER+STRICT, its recipients."""

    level: TLP
    recipients: tuple[str, ...] = ()
    """Hub recipient names (``ORG`` or ``user:NAME``); empty means the collection's community."""
    note: str | None = None
    """Why the placement is narrower than the tags alone would give, for the import report."""


@dataclass(frozen=True, slots=True)
class Mapping:
    """The hub administrator's mapping (table-backed in :mod:`varsel.misp.models`).

    ``ceilings`` give, per distribution 0–3, the least restrictive TLP level an item of that
    distribution may get; ``groups`` map a sharing group's uuid to hub recipient names. Both
    can only be made narrower than the defaults (:data:`DEFAULT_CEILINGS`), never broader.
    """

    ceilings: dict[int, TLP] = field(default_factory=lambda: dict(DEFAULT_CEILINGS))
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def ceiling(self, distribution: int) -> TLP:
        """Return the ceiling of ``distribution``: the administrator's, never above the default."""
        default = DEFAULT_CEILINGS[distribution]
        chosen = self.ceilings.get(distribution, default)
        return narrowest(chosen, default)


def narrowest(*levels: TLP) -> TLP:
    """Return the most restrictive of ``levels``."""
    return max(levels, key=lambda level: level.rank)


def ceiling_problem(distribution: int, level: TLP) -> str | None:
    """Return why ``level`` may not be the ceiling of ``distribution``, or None if it may."""
    if distribution not in DEFAULT_CEILINGS:
        return f"distribution {distribution} has no ceiling; expected 0, 1, 2 or 3"
    default = DEFAULT_CEILINGS[distribution]
    if level.rank < default.rank:
        return (
            f"distribution {distribution} ({DISTRIBUTIONS[distribution]}) may be at most "
            f"{default.label}; {level.label} would be broader than MISP allowed"
        )
    return None


def tag_level(tags: tuple[str, ...]) -> tuple[TLP | None, str | None]:
    """Return the most restrictive level the ``tlp:*`` tags give (None: no tag), and a note.

    An unknown ``tlp:`` tag counts as TLP:RED (fail closed), with a note naming it.
    """
    found: list[TLP] = []
    unknown: list[str] = []
    for tag in tags:
        name = tag.strip().lower().replace('"', "")
        if not name.startswith("tlp:") or name in _NOT_A_LEVEL:
            continue
        level = TAG_LEVELS.get(name)
        if level is None:
            unknown.append(tag)
            level = TLP.RED
        found.append(level)
    note = None
    if unknown:
        note = f"unknown TLP tag {', '.join(repr(t) for t in unknown)} read as TLP:RED"
    return (narrowest(*found) if found else None), note


def _to_producer(scope: Scope, notes: list[str], why: str) -> Placement:
    notes.append(why)
    return Placement(TLP.RED, (scope.producer,), "; ".join(notes))


def place(scope: Scope, mapping: Mapping, *, default: TLP) -> Placement:
    """Return where the hub puts an item MISP scoped as ``scope``; never broader than MISP.

    ``default`` is the collection's default TLP, used when the item carries no ``tlp:*`` tag.
    The table is in docs/misp.md ("Sharing"): distribution 0 is TLP:RED to the producer;
    1–3 the tag's level capped by the distribution's ceiling; 4 TLP:AMBER+STRICT (TLP:RED if
    tagged so) to the sharing group's organisations. Whatever is not understood goes to the
    producer alone.
    """
    notes: list[str] = []
    tagged, note = tag_level(scope.tags)
    if note:
        notes.append(note)
    level = tagged if tagged is not None else default
    if scope.distribution == 0:
        return Placement(TLP.RED, (scope.producer,), "; ".join(notes) or None)
    if scope.distribution == 4:
        members = mapping.groups.get(scope.sharing_group or "", ())
        if not members:
            return _to_producer(
                scope,
                notes,
                f"sharing group {scope.sharing_group!r} is not mapped to hub organisations: "
                "TLP:RED to the producer only",
            )
        group_level = TLP.RED if level is TLP.RED else TLP.AMBER_STRICT
        if group_level is not level:
            notes.append(
                f"{level.label} shared with sharing group {scope.sharing_group}: "
                f"{group_level.label} to its organisations"
            )
        return Placement(group_level, tuple(members), "; ".join(notes) or None)
    if scope.distribution not in DEFAULT_CEILINGS:
        return _to_producer(
            scope,
            notes,
            f"unknown distribution {scope.distribution!r}: TLP:RED to the producer only",
        )
    ceiling = mapping.ceiling(scope.distribution)
    if ceiling.rank > level.rank:
        notes.append(
            f"{level.label} capped at {ceiling.label} for distribution {scope.distribution} "
            f"({DISTRIBUTIONS[scope.distribution]})"
        )
        level = ceiling
    if level is TLP.RED:
        return _to_producer(scope, notes, "TLP:RED names no recipients: the producer only")
    return Placement(level, (), "; ".join(notes) or None)


def _readers(placement: Placement, community: frozenset[str]) -> frozenset[str] | None:
    """Return who may read ``placement`` besides the producer: None for everyone."""
    if placement.recipients:
        return frozenset(placement.recipients)
    if placement.level is TLP.CLEAR:
        return None
    return community


def within(
    item: Placement, parent: Placement, *, community: Iterable[str], producer: str
) -> Placement:
    """Return the placement of an item under ``parent``: readable only by whom both let read.

    MISP shows an attribute to those who may see both it and its event (or object), so the
    hub's readers must be in both placements' readers. ``community`` names the members of the
    collection's community (who reads a level without recipients), ``producer`` the producing
    organisation (who reads everything it shared). Named recipients outside the other side's
    readers are dropped; when none is left the item goes to the producer alone, with a note.
    """
    members = frozenset(community)
    level = narrowest(item.level, parent.level)
    notes = list(dict.fromkeys(n for n in (item.note, parent.note) if n))
    mine, theirs = _readers(item, members), _readers(parent, members)
    if not item.recipients and not parent.recipients:
        # Both are "everyone" or "the community": the narrower level reads as the narrower.
        return Placement(level, (), "; ".join(notes) or None)
    named = item.recipients or parent.recipients
    other = theirs if item.recipients else mine
    kept = tuple(name for name in named if other is None or name in other or name == producer)
    if not any(name != producer for name in kept) and any(name != producer for name in named):
        notes.append(
            "its recipients and its parent's readers have no one in common: the producer only"
        )
        return Placement(TLP.RED, (producer,), "; ".join(notes))
    if len(kept) < len(named):
        dropped = ", ".join(name for name in named if name not in kept)
        notes.append(f"not readers of its parent, so left out: {dropped}")
    return Placement(narrowest(level, TLP.AMBER_STRICT), kept, "; ".join(notes) or None)


def misp_scope(level: TLP, recipients: tuple[str, ...]) -> tuple[int, list[str]]:
    """Return the MISP distribution and ``tlp:*`` tags for a hub item, never broader.

    TLP:CLEAR is "all communities" (3); TLP:GREEN "this community only" (1), since MISP's
    connected communities reach past the hub's; every other level "your organisation only" (0):
    the hub's named recipients and community have no MISP equivalent a receiving MISP would
    keep. ``recipients`` do not widen anything, so they change nothing here.
    """
    del recipients  # named or not, the narrowest MISP distribution already applies
    if level is TLP.CLEAR:
        return 3, [LEVEL_TAGS[level]]
    if level is TLP.GREEN:
        return 1, [LEVEL_TAGS[level]]
    return 0, [LEVEL_TAGS[level]]
