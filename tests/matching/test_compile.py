"""Compiling what a principal may read: policy, validity, revocation, unusable patterns."""

from __future__ import annotations

from datetime import UTC, datetime

from tests import factories as f
from tests.matching.conftest import World, pattern_indicator
from varsel.matching._compile import compile_for
from varsel.sharing.tlp import TLP


def _compile(world: World, username: str, **kwargs: object):  # type: ignore[no-untyped-def]
    with world.hub.session() as s:
        return compile_for(
            session=s, principal=f.principal(s, username), warn=False, keep_entries=True, **kwargs
        )  # type: ignore[arg-type]


def test_only_readable_valid_unrevoked_indicators_are_compiled(world: World) -> None:
    live = pattern_indicator("[ipv4-addr:value = '198.51.100.7']")
    red = pattern_indicator("[domain-name:value = 'red.example']", tlp=TLP.RED, recipients=["Svea"])
    expired = pattern_indicator(
        "[domain-name:value = 'old.example']", valid_until="2026-01-02T00:00:00Z"
    )
    future = pattern_indicator(
        "[domain-name:value = 'later.example']", valid_from="2099-01-01T00:00:00Z"
    )
    odd = pattern_indicator("[process:name = 'evil.exe']")
    other = pattern_indicator("[x:y = 1]", pattern_type="sigma")
    world.share("alice", live, red, expired, future, odd, other)
    revoked = dict(live, modified="2026-02-01T00:00:00.000Z", revoked=True)

    as_bob = _compile(world, "bob", at=datetime(2026, 3, 1, tzinfo=UTC))
    assert set(as_bob.ids) == {live["id"], red["id"]}
    report = as_bob.report
    assert (report.expired, report.not_yet_valid, report.not_stix) == (1, 1, 1)
    assert report.unsupported == [
        (odd["id"], "object path process:name is not one the matcher evaluates")
    ]
    assert report.next_change == "2099-01-01T00:00:00.000000000"
    # Retro-hunting: at a time when the expired one was valid.
    assert expired["id"] in _compile(world, "dag", at=datetime(2026, 1, 1, 12, tzinfo=UTC)).ids
    # RED is for its recipients only; the outsider sees nothing of the community's AMBER.
    assert red["id"] not in _compile(world, "dag").ids
    assert _compile(world, "carol").ids == []

    world.share("alice", revoked)
    again = _compile(world, "bob")
    assert live["id"] not in again.ids and again.report.revoked == 1


def test_an_indicator_in_two_collections_counts_once_at_its_newest_version(world: World) -> None:
    first = pattern_indicator("[domain-name:value = 'one.example']")
    newer = dict(
        first, modified="2026-02-01T00:00:00.000Z", pattern="[domain-name:value = 'two.example']"
    )
    world.share("alice", first)
    world.share("alice", newer, collection=world.sightings)
    result = _compile(world, "bob", include_subdomains=True)
    assert result.ids == [first["id"]]
    assert {a.value for _, a in result.entries or []} == {"two.example"}
    assert {a.subdomains for _, a in result.entries or []} == {False, True}
