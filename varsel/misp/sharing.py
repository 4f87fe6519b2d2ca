"""MISP's sharing model ⇄ the hub's: distribution, sharing groups and ``tlp:*`` tags (docs/misp.md).

MISP decides who sees an event or attribute by its *distribution* (0 your organisation only,
1 this community only, 2 connected communities, 3 all communities, 4 a sharing group, 5 inherit
the event's) and marks handling with ``tlp:*`` tags. The hub decides by TLP 2.0 level, the
collection's community and named recipients (docs/access-policy.md). :func:`place` maps MISP → hub
so that the hub never lets more organisations read an item than MISP's side allowed;
:func:`misp_scope` maps back, never broader either.
"""

from __future__ import annotations

from dataclasses import dataclass

from varsel.sharing.tlp import TLP


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

    ceilings: dict[int, TLP]
    groups: dict[str, tuple[str, ...]]


def place(scope: Scope, mapping: Mapping, *, default: TLP) -> Placement:
    """Return where the hub puts an item MISP scoped as ``scope``; never broader than MISP.

    ``default`` is the collection's default TLP, used when the item carries no ``tlp:*`` tag.
    """
    raise NotImplementedError("issue 16: varsel.misp.sharing")


def misp_scope(level: TLP, recipients: tuple[str, ...]) -> tuple[int, list[str]]:
    """Return the MISP distribution and ``tlp:*`` tags for a hub item, never broader."""
    raise NotImplementedError("issue 16: varsel.misp.sharing")
