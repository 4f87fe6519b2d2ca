"""``varsel scan``, ``varsel export`` and ``varsel sightings`` as scripts use them."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_cli import run
from tests.matching.conftest import World, pattern_indicator
from tests.matching.helpers import FIXTURES
from varsel.matching.flows import identity_id
from varsel.sharing.tlp import TLP


def test_scan_writes_json_lines_and_shares_sightings(world: World, tmp_path: Path) -> None:
    bad = pattern_indicator("[domain-name:value LIKE '%.evil-cdn.net']", name="CDN abuse")
    block = pattern_indicator("[ipv4-addr:value = '198.51.100.0/24']")
    odd = pattern_indicator("[process:name = 'x.exe']")
    world.share("alice", bad, block, odd)
    out = tmp_path / "matches.jsonl"
    done = run(
        world.hub,
        "scan",
        str(FIXTURES / "dns.log"),
        str(FIXTURES / "conn.log"),
        "--as",
        "bob",
        "--output",
        str(out),
        "--no-warninglists",
        "--share-sightings",
        "sightings",
        "--tlp",
        "green",
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert {(m["indicator_id"], m["field"], m["value"]) for m in lines} == {
        (bad["id"], "query", "update.evil-cdn.net"),
        (bad["id"], "answers", "cdn.evil-cdn.net"),
        (block["id"], "answers", "198.51.100.77"),
    }
    first = next(m for m in lines if m["field"] == "query")
    assert first["indicator_name"] == "CDN abuse" and first["file"] == "dns.log"
    assert first["time"] == "2026-03-01T10:00:01.500000Z" and first["line"] == 10
    assert first["record"]["query"] == "Update.Evil-Cdn.NET."
    assert "2 indicators compiled" in done.stderr and "1 unsupported" in done.stderr
    assert "process:name" in done.stderr and "2 sightings shared" in done.stderr

    fetched = run(world.hub, "fetch", "sightings", "--as", "alice", "--type", "sighting")
    assert fetched.returncode == 0, fetched.stderr
    sightings = json.loads(fetched.stdout)["objects"]
    assert {s["sighting_of_ref"] for s in sightings} == {bad["id"], block["id"]}
    assert all(s["where_sighted_refs"] == [identity_id("Svea")] for s in sightings)
    assert all(s["object_marking_refs"] == [TLP.GREEN.stix_id] for s in sightings)
    counts = {
        s["sighting_of_ref"]: (s["count"], s["first_seen"], s["last_seen"]) for s in sightings
    }
    assert counts[bad["id"]] == (2, "2026-03-01T10:00:01.500000Z", "2026-03-01T10:00:01.500000Z")


def test_scan_to_stdout_and_errors(world: World, tmp_path: Path) -> None:
    world.share("alice", pattern_indicator("[url:value = 'http://phish.example.net/login']"))
    done = run(
        world.hub,
        "scan",
        str(FIXTURES / "syslog.txt"),
        "--as",
        "dag",
        "--format",
        "text",
        "--no-warninglists",
    )
    assert done.returncode == 0, done.stderr
    assert [json.loads(x)["line"] for x in done.stdout.splitlines()] == [2]
    bad_map = run(
        world.hub,
        "scan",
        str(FIXTURES / "proxy.csv"),
        "--as",
        "dag",
        "--map",
        "url",
        "--no-warninglists",
    )
    assert bad_map.returncode == 2 and "COLUMN=ROLE" in bad_map.stderr
    nobody = run(world.hub, "scan", str(FIXTURES / "dns.log"), "--as", "nobody")
    assert nobody.returncode == 1 and "no user called 'nobody'" in nobody.stderr


def test_export_command(world: World, tmp_path: Path) -> None:
    world.share(
        "alice",
        pattern_indicator("[ipv4-addr:value = '198.51.100.7']"),
        pattern_indicator("[domain-name:value = 'evil.example']"),
    )
    plain = run(world.hub, "export", "--as", "bob", "--format", "plain", "--type", "domain")
    assert plain.returncode == 0 and plain.stdout == "evil.example\n"
    target = tmp_path / "intel.txt"
    zeek = run(world.hub, "export", "--as", "carol", "--format", "zeek", "--output", str(target))
    assert zeek.returncode == 0 and target.read_text().count("\n") == 1  # header only
    # The API's filters, as options.
    args = ("export", "--as", "bob", "--format", "plain", "--type", "domain")
    assert run(world.hub, *args, "--max-age", "30d").stdout == "evil.example\n"
    assert run(world.hub, *args, "--since", "2999-01-01").stdout == ""
    bad_age = run(world.hub, *args, "--max-age", "soon")
    assert bad_age.returncode == 1 and "max_age" in bad_age.stderr
    wrong = run(world.hub, "export", "--as", "bob", "--format", "snort")
    assert wrong.returncode == 1 and "unknown export format" in wrong.stderr
