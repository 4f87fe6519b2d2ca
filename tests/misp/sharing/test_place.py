"""The MISP ⇄ hub sharing tables: place() and misp_scope(), case by case (docs/misp.md)."""

from __future__ import annotations

import pytest
from pytaxonomies import Taxonomies

from varsel.misp.sharing import (
    DEFAULT_CEILINGS,
    LEVEL_TAGS,
    TAG_LEVELS,
    Mapping,
    Placement,
    Scope,
    ceiling_problem,
    misp_scope,
    place,
    within,
)
from varsel.sharing.tlp import TLP

PRODUCER = "Fjordnett"
GROUP = "5f0c5a1e-1a2b-4c3d-8e9f-0123456789ab"


def _place(
    distribution: int,
    *tags: str,
    group: str | None = None,
    mapping: Mapping | None = None,
    default: TLP = TLP.AMBER,
) -> Placement:
    scope = Scope(distribution, group, tags, PRODUCER)
    return place(scope, mapping or Mapping(), default=default)


@pytest.mark.parametrize(
    ("distribution", "tag", "level"),
    [
        (1, "tlp:green", TLP.GREEN),
        (1, "tlp:amber", TLP.AMBER),
        (1, "tlp:amber+strict", TLP.AMBER_STRICT),
        (2, "tlp:green", TLP.GREEN),
        (2, "tlp:amber", TLP.AMBER),
        (3, "tlp:clear", TLP.CLEAR),
        (3, "tlp:white", TLP.CLEAR),
        (3, "tlp:green", TLP.GREEN),
        (3, "tlp:amber+strict", TLP.AMBER_STRICT),
    ],
)
def test_the_tags_level_stands_within_the_ceiling(distribution: int, tag: str, level: TLP) -> None:
    assert _place(distribution, tag) == Placement(level)


def test_distribution_0_is_red_to_the_producer_whatever_the_tag() -> None:
    for tag in ("tlp:clear", "tlp:green", "tlp:amber", "tlp:red"):
        placed = _place(0, tag)
        assert (placed.level, placed.recipients) == (TLP.RED, (PRODUCER,))


def test_this_community_only_is_never_clear() -> None:
    placed = _place(1, "tlp:clear")
    assert placed.level is TLP.GREEN
    assert placed.recipients == ()
    assert placed.note is not None and "TLP:GREEN" in placed.note


def test_connected_communities_is_capped_at_green_and_all_communities_is_not() -> None:
    assert _place(2, "tlp:clear").level is TLP.GREEN
    assert _place(3, "tlp:clear").level is TLP.CLEAR


def test_an_administrators_ceiling_narrows() -> None:
    mapping = Mapping(ceilings={**DEFAULT_CEILINGS, 3: TLP.AMBER})
    placed = _place(3, "tlp:clear", mapping=mapping)
    assert placed.level is TLP.AMBER
    assert placed.note is not None


def test_a_ceiling_broader_than_the_default_is_ignored_and_refused() -> None:
    # A table edited behind the service's back still cannot widen anything.
    mapping = Mapping(ceilings={0: TLP.CLEAR, 1: TLP.CLEAR, 2: TLP.CLEAR, 3: TLP.CLEAR})
    assert _place(1, "tlp:clear", mapping=mapping).level is TLP.GREEN
    assert _place(2, "tlp:clear", mapping=mapping).level is TLP.GREEN
    assert _place(0, "tlp:clear", mapping=mapping).level is TLP.RED
    assert ceiling_problem(1, TLP.CLEAR) is not None
    assert ceiling_problem(2, TLP.CLEAR) is not None
    assert ceiling_problem(0, TLP.AMBER) is not None
    assert ceiling_problem(3, TLP.CLEAR) is None
    assert ceiling_problem(2, TLP.RED) is None
    assert ceiling_problem(4, TLP.RED) is not None


def test_a_mapped_sharing_group_is_amber_strict_to_its_organisations() -> None:
    mapping = Mapping(groups={GROUP: ("CERT-SE", "Svea Moln AB")})
    for tag in ("tlp:clear", "tlp:green", "tlp:amber", "tlp:amber+strict"):
        placed = _place(4, tag, group=GROUP, mapping=mapping)
        assert (placed.level, placed.recipients) == (TLP.AMBER_STRICT, ("CERT-SE", "Svea Moln AB"))
        # The narrowing is named for the import report, unless nothing was narrowed.
        assert (placed.note is None) == (tag == "tlp:amber+strict")
    red = _place(4, "tlp:red", group=GROUP, mapping=mapping)
    assert red == Placement(TLP.RED, ("CERT-SE", "Svea Moln AB"))


def test_an_unmapped_sharing_group_is_red_to_the_producer() -> None:
    placed = _place(4, "tlp:green", group=GROUP)
    assert (placed.level, placed.recipients) == (TLP.RED, (PRODUCER,))
    assert placed.note is not None and GROUP in placed.note
    assert _place(4, "tlp:green", group=None).recipients == (PRODUCER,)


def test_red_without_recipients_goes_to_the_producer() -> None:
    for distribution in (1, 2, 3):
        placed = _place(distribution, "tlp:red")
        assert (placed.level, placed.recipients) == (TLP.RED, (PRODUCER,))
        assert placed.note is not None


def test_no_tag_takes_the_collections_default_then_the_ceiling() -> None:
    assert _place(3, default=TLP.CLEAR).level is TLP.CLEAR
    assert _place(1, default=TLP.CLEAR).level is TLP.GREEN
    assert _place(2, default=TLP.AMBER).level is TLP.AMBER
    assert _place(3, default=TLP.RED).recipients == (PRODUCER,)


def test_several_tags_give_the_most_restrictive_and_other_tags_are_ignored() -> None:
    assert _place(3, "tlp:clear", "tlp:amber", "tlp:green").level is TLP.AMBER
    assert _place(3, "TLP:GREEN", 'misp-galaxy:threat-actor="APT28"').level is TLP.GREEN
    assert _place(3, "tlp:clear", "tlp:ex:chr").level is TLP.CLEAR


def test_an_unknown_tlp_tag_is_read_as_red() -> None:
    placed = _place(3, "tlp:clear", "tlp:unclear")
    assert (placed.level, placed.recipients) == (TLP.RED, (PRODUCER,))
    assert placed.note is not None and "tlp:unclear" in placed.note


def test_an_unknown_distribution_goes_to_the_producer() -> None:
    for distribution in (5, -1, 9):
        placed = _place(distribution, "tlp:clear")
        assert (placed.level, placed.recipients) == (TLP.RED, (PRODUCER,))


@pytest.mark.parametrize(
    ("level", "recipients", "expected"),
    [
        (TLP.CLEAR, (), (3, ["tlp:clear"])),
        (TLP.GREEN, (), (1, ["tlp:green"])),
        (TLP.AMBER, (), (0, ["tlp:amber"])),
        (TLP.AMBER_STRICT, (), (0, ["tlp:amber+strict"])),
        (TLP.AMBER_STRICT, ("CERT-SE",), (0, ["tlp:amber+strict"])),
        (TLP.RED, ("CERT-SE",), (0, ["tlp:red"])),
    ],
)
def test_misp_scope(
    level: TLP, recipients: tuple[str, ...], expected: tuple[int, list[str]]
) -> None:
    assert misp_scope(level, recipients) == expected


def test_misp_scope_round_trips_through_place_without_widening() -> None:
    for level in TLP:
        distribution, tags = misp_scope(level, ())
        back = _place(distribution, *tags)
        assert back.level.rank >= level.rank


def test_the_tags_are_spelt_as_misps_tlp_taxonomy_spells_them() -> None:
    known = set(Taxonomies()["tlp"].machinetags())
    assert set(LEVEL_TAGS.values()) <= known
    assert set(TAG_LEVELS) <= known


K = ("Fjordnett", "Svea")


def _within(item: Placement, parent: Placement) -> Placement:
    return within(item, parent, community=K, producer=PRODUCER)


def test_within_keeps_the_narrower_level_when_neither_names_anyone() -> None:
    assert _within(Placement(TLP.CLEAR), Placement(TLP.GREEN)) == Placement(TLP.GREEN)
    assert _within(Placement(TLP.AMBER), Placement(TLP.CLEAR)) == Placement(TLP.AMBER)


def test_within_drops_recipients_the_parent_does_not_let_read() -> None:
    # A sharing group's attribute in an event for this community only: the group's
    # organisations outside the community must not read it.
    group = Placement(TLP.AMBER_STRICT, ("Svea", "CERT-SE"))
    placed = _within(group, Placement(TLP.GREEN))
    assert (placed.level, placed.recipients) == (TLP.AMBER_STRICT, ("Svea",))
    assert placed.note is not None and "CERT-SE" in placed.note
    # Everyone may read the parent: the group stands.
    assert _within(group, Placement(TLP.CLEAR)) == group
    # The other way round: a community attribute in a sharing group's event.
    placed = _within(Placement(TLP.GREEN), group)
    assert (placed.level, placed.recipients) == (TLP.AMBER_STRICT, ("Svea",))


def test_within_two_named_placements_keep_whom_both_name() -> None:
    a = Placement(TLP.AMBER_STRICT, ("Svea", "CERT-SE"))
    b = Placement(TLP.RED, ("CERT-SE", "Ålands Kraft"))
    assert _within(a, b).recipients == ("CERT-SE",)
    assert _within(a, b).level is TLP.RED


def test_within_no_one_in_common_goes_to_the_producer() -> None:
    placed = _within(Placement(TLP.RED, ("CERT-SE",)), Placement(TLP.GREEN))
    assert (placed.level, placed.recipients) == (TLP.RED, (PRODUCER,))
    assert placed.note is not None
    producer_only = Placement(TLP.RED, (PRODUCER,))
    assert _within(producer_only, Placement(TLP.CLEAR)) == producer_only
