"""The per-reader scan cache: reused while nothing changed, never wider than the reader's reach.

Each step compares the cached matcher with a fresh ``compile_for`` of the same reader, and
checks that what the reader may no longer read (revoked, out of a community, above a
clearance) stops matching at the next scan.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest

from tests import factories as f
from tests.cli.test_cli import run
from tests.conftest import SECRET as CLI_SECRET
from tests.conftest import Hub
from tests.matching.conftest import World, pattern_indicator
from tests.matching.helpers import FIXTURES
from varsel.clearances import rules
from varsel.clearances import service as clearances
from varsel.matching._cache import CacheResult, cache_path, compile_cached
from varsel.matching._compile import Compiled, compile_for
from varsel.observables.normalize import Role
from varsel.orgs import service as orgs
from varsel.sharing.ingest.marking import marking_id

SECRET = "scan-cache-test-secret"
PROBES = ("evil.example", "198.51.100.7", "203.0.113.9", "x.bad.example", "secret.example")


def _scan(hub: Hub, username: str, directory: Path, secret: str = SECRET) -> CacheResult:
    """Compile through the cache as ``varsel scan`` does, and check it against a fresh compile."""
    with hub.session() as s:
        principal = f.principal(s, username)
        result = compile_cached(
            session=s,
            principal=principal,
            directory=directory,
            secret=secret,
            database_url=hub.settings.database_url,
        )
        fresh = compile_for(session=s, principal=principal, warn=False)
    assert _hits(result.compiled) == _hits(fresh)
    mine, theirs = result.compiled.report.as_dict(), fresh.report.as_dict()
    assert {**mine, "unsupported": sorted(map(str, mine["unsupported"]))} == {  # type: ignore[call-overload]
        **theirs,
        "unsupported": sorted(map(str, theirs["unsupported"])),  # type: ignore[call-overload]
    }
    return result


def _hits(compiled: Compiled) -> set[tuple[str, str]]:
    found = compiled.matcher.match(pa.array(PROBES, pa.string()), Role.ANY)
    return {(compiled.ids[member], value) for _, member, value in found}


def _ids(result: CacheResult) -> set[str]:
    return {i for i, _ in _hits(result.compiled)}


def test_reused_updated_and_narrowed_exactly_when_reach_changes(
    world: World, tmp_path: Path
) -> None:
    domain = pattern_indicator("[domain-name:value = 'evil.example']")
    address = pattern_indicator("[ipv4-addr:value = '198.51.100.7']")
    odd = pattern_indicator("[process:name = 'x.exe']")
    world.share("alice", domain, address, odd)
    first = _scan(world.hub, "bob", tmp_path)
    assert first.how == "compiled" and _ids(first) == {domain["id"], address["id"]}
    again = _scan(world.hub, "bob", tmp_path)
    assert again.how == "reused" and _ids(again) == _ids(first)

    rule = pattern_indicator("[domain-name:value LIKE '%.bad.example']")
    world.share("alice", rule)
    grown = _scan(world.hub, "bob", tmp_path)
    assert (grown.how, grown.new_rows) == ("updated", 1)
    assert _ids(grown) == {domain["id"], address["id"], rule["id"]}

    # A revocation is a new version: the old row leaves the listing, the revoked one is counted.
    revoked = {**domain, "modified": "2026-02-01T00:00:00.000Z", "revoked": True}
    world.share("alice", revoked)
    after = _scan(world.hub, "bob", tmp_path)
    assert after.how == "updated" and after.dropped_rows == 1
    assert _ids(after) == {address["id"], rule["id"]}
    assert after.compiled.report.revoked == 1

    with world.hub.session() as s:
        orgs.remove_member(session=s, community="Nordic", org="Svea")
        s.commit()
    outside = _scan(world.hub, "bob", tmp_path)
    assert outside.how == "updated" and _ids(outside) == set()
    assert outside.compiled.report.readable == 0


def test_a_lost_clearance_stops_matching_at_once(
    hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(rules.CEILING_ENV, "NO:HEMMELIG")
    monkeypatch.delenv(rules.AGREEMENTS_ENV, raising=False)
    with hub.session() as s:
        f.org(s, "Fjordnett AS", "NO")
        f.org(s, "Svea Moln AB", "SE")
        f.user(s, "producer", "Fjordnett AS", password=None)
        f.user(s, "cleared", "Svea Moln AB", password=None)
        f.community(s, "Nordic", ["Fjordnett AS", "Svea Moln AB"])
        coll = f.collection(s, "Indicators", "Nordic", "green")
        s.commit()
    secret = f.indicator(
        pattern="[domain-name:value = 'secret.example']",
        object_marking_refs=[marking_id(rules.parse_label("NO:HEMMELIG"))],
    )
    plain = f.indicator(value="203.0.113.9")
    with hub.session() as s:
        from varsel.sharing import ingest
        from varsel.sharing.models import Collection

        ingest.ingest(
            session=s,
            collection=s.get(Collection, coll.id),
            principal=f.principal(s, "producer"),
            body=f.envelope(secret, plain),
        )
        person = clearances.add_person(
            session=s,
            principal=None,
            name="Eva",
            nationality="SE",
            employer="Svea Moln AB",
            username="cleared",
        )
        held = clearances.add_clearance(
            session=s,
            principal=None,
            person=person,
            country="SE",
            level="HEMLIG",
            authority="Säpo",
            valid_from=date(2020, 1, 1),
            valid_until=date(2099, 1, 1),
        )
        clearances.verify_clearance(session=s, principal=None, clearance_id=held.id)
        asked = clearances.request_recognition(
            session=s, principal=None, clearance_id=held.id, country="NO"
        )
        clearances.decide_recognition(session=s, principal=None, request_id=asked.id, approve=True)
        s.commit()
    cleared = _scan(hub, "cleared", tmp_path)
    assert _ids(cleared) == {secret["id"], plain["id"]}
    with hub.session() as s:
        clearances.revoke_clearance(session=s, principal=None, clearance_id=held.id, reason="t")
        s.commit()
    lost = _scan(hub, "cleared", tmp_path)
    assert lost.how == "updated" and _ids(lost) == {plain["id"]}


def test_the_file_is_private_and_cannot_be_forged_or_moved(world: World, tmp_path: Path) -> None:
    world.share("alice", pattern_indicator("[domain-name:value = 'evil.example']"))
    directory = tmp_path / "scan-cache"
    _scan(world.hub, "bob", directory)
    with world.hub.session() as s:
        bob, carol = f.principal(s, "bob"), f.principal(s, "carol")
    url = world.hub.settings.database_url
    path = cache_path(directory=directory, principal=bob, database_url=url, subdomains=False)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert _scan(world.hub, "bob", directory).how == "reused"

    # Another hub's secret, a flipped byte, a file others may read: each is ignored.
    assert _scan(world.hub, "bob", directory, secret="another hub").how == "compiled"
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    assert _scan(world.hub, "bob", directory).how == "compiled"
    os.chmod(path, 0o644)
    assert _scan(world.hub, "bob", directory).how == "compiled"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    # A data directory the cache cannot be written to costs the cache, not the scan.
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("", encoding="utf-8")
    unwritable = _scan(world.hub, "bob", blocked / "scan-cache")
    assert unwritable.how == "compiled (cache not writable)" and _ids(unwritable)

    # Bob's file put where carol's belongs is not carol's: she still matches nothing.
    theirs = cache_path(directory=directory, principal=carol, database_url=url, subdomains=False)
    shutil.copyfile(path, theirs)
    os.chmod(theirs, 0o600)
    outsider = _scan(world.hub, "carol", directory)
    assert outsider.how == "compiled" and _ids(outsider) == set()


def test_scan_command_reuses_its_cache(world: World, tmp_path: Path) -> None:
    bad = pattern_indicator("[domain-name:value LIKE '%.evil-cdn.net']", name="CDN abuse")
    block = pattern_indicator("[ipv4-addr:value = '198.51.100.0/24']")
    world.share("alice", bad, block)
    args = ("scan", str(FIXTURES / "dns.log"), "--as", "bob", "--format", "zeek")
    first = run(world.hub, *args, data_dir=tmp_path)
    # Scanning needs no warning lists (ingest flags indicators when they are shared).
    second = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "varsel", *args],
        env={
            **os.environ,
            "VARSEL_DATABASE_URL": world.hub.settings.database_url,
            "VARSEL_SECRET_KEY": CLI_SECRET,
            "VARSEL_DATA_DIR": str(tmp_path),
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    for done in (first, second):
        assert done.returncode == 0, done.stderr[-3000:]
    assert "varsel.matching._cache" in second.stderr
    assert "warninglists" not in second.stderr and "pymispwarninglists" not in second.stderr
    assert "compiled indicators compiled" in first.stderr
    assert "compiled indicators reused" in second.stderr
    assert "2 indicators compiled" in second.stderr
    assert first.stdout == second.stdout
    assert {json.loads(x)["indicator_id"] for x in second.stdout.splitlines()} == {
        bad["id"],
        block["id"],
    }
