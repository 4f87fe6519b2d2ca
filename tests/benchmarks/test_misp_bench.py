"""The MISP benchmark's data are real MISP events, and its tiny run measures every figure.

No timing thresholds here: timed assertions flake on shared machines. The figures themselves
are taken with ``python benchmarks/misp_bench.py`` (see docs/benchmarks.md).
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import warnings
from collections import Counter
from pathlib import Path

from benchmarks import misp_bench

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "misp_bench.py"


def _positive(section: dict, *keys: str) -> None:
    for key in keys:
        assert isinstance(section[key], int | float) and section[key] > 0, (key, section)


def _every(event: dict) -> list[dict]:
    body = event["Event"]
    return [*body["Attribute"], *(a for o in body["Object"] for a in o["Attribute"])]


def test_events_are_seeded_and_mixed() -> None:
    one = misp_bench.make_event(16, 3, 600)
    assert json.dumps(one) == json.dumps(misp_bench.make_event(16, 3, 600))
    assert misp_bench.make_event(17, 3, 600)["Event"]["uuid"] != one["Event"]["uuid"]
    attributes = _every(one)
    assert len(attributes) == misp_bench.count_attributes(one) == 600
    assert len({a["uuid"] for a in attributes}) == 600
    kinds = Counter(a["type"] for a in attributes)
    assert set(kinds) == {k for k, _, _ in misp_bench.KINDS}
    assert {a["to_ids"] for a in attributes} == {True, False}
    objects = one["Event"]["Object"]
    assert {o["name"] for o in objects} == {"file", "domain-ip"}
    referenced = {r["referenced_uuid"] for o in objects for r in o.get("ObjectReference", [])}
    assert referenced and referenced <= {o["uuid"] for o in objects}
    tlp = {misp_bench.make_event(16, n, 5)["Event"]["Tag"][0]["name"] for n in range(20)}
    assert tlp == {"tlp:clear", "tlp:green", "tlp:amber", "tlp:amber+strict", "tlp:red"}
    # The smoke test's six events hold a RED one, which only its producer reads.
    assert misp_bench.make_event(16, 3, 5)["Event"]["Tag"][0]["name"] == "tlp:red"


def test_pymisp_and_misp_stix_read_the_events_without_complaint() -> None:
    from misp_stix_converter import MISPtoSTIX21Parser
    from pymisp import MISPEvent

    event = misp_bench.make_event(16, 1, 200)
    loaded = MISPEvent()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded.load(json.dumps(event))
    assert len(loaded.attributes) + sum(len(o.attributes) for o in loaded.objects) == 200
    assert {t.name for t in loaded.tags} >= {"tlp:green"}
    parser = MISPtoSTIX21Parser()
    parser.parse_misp_event(event)
    assert not parser.errors, parser.errors
    types = Counter(o["type"] for o in parser.bundle.objects)
    assert types["indicator"] > 0 and types["observed-data"] > 0


def test_feed_directory_is_in_misp_feed_layout(tmp_path: Path) -> None:
    written = misp_bench.write_corpus(tmp_path, 16, 250, 100)
    assert (written.events, written.attributes) == (3, 250)
    manifest = json.loads((written.feed / "manifest.json").read_text(encoding="utf-8"))
    files = {p.stem for p in written.feed.glob("*.json")} - {"manifest"}
    assert set(manifest) == files == set(written.uuids)
    assert {p.stem for p in written.files.glob("*.json")} == files
    with (written.feed / "hashes.csv").open(encoding="ascii") as hashes:
        lines = list(csv.reader(hashes))
    assert len(lines) == 250
    assert all(len(digest) == 32 and uuid in files for digest, uuid in lines)
    for uuid, entry in manifest.items():
        event = json.loads((written.feed / f"{uuid}.json").read_text(encoding="utf-8"))
        assert entry["timestamp"] == event["Event"]["timestamp"]
        assert entry["Tag"] == event["Event"]["Tag"] and entry["Orgc"]["name"]


def test_tiny_run_measures_every_figure(tmp_path: Path) -> None:
    output = tmp_path / "misp.json"
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--quick",
            "--backend",
            "sqlite",
            "--no-table",
            "--output",
            str(output),
        ],  # fmt: skip
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(output.read_text(encoding="utf-8"))
    assert report["machine"]["cpu_model"] and report["load_after"]["at"]
    assert report["data"]["main"]["attributes"] == 300
    for name in ("main", "big"):
        alone = report["misp_stix_alone"][name]
        _positive(alone, "wall_s", "peak_rss_mib", "attributes_per_s", "stix_objects")
    hub = report["hubs"]["sqlite"]
    assert misp_bench.failures(report) == [], hub
    assert set(report["parameters"]["skipped"]) == {"import_warm", "import_unchanged", "big_warm"}
    for phase, events in (("import_cold", 6), ("big_cold", 1)):
        _positive(hub[phase], "wall_s", "cpu_s", "peak_rss_mib", "attributes_per_s")
        assert hub[phase]["stored"]["grouping"] == events, hub[phase]["stored"]
        assert hub[phase]["stored"]["indicator"] > 0, hub[phase]["stored"]
        assert hub[phase]["summary"].startswith(f"{events} events: {events} new"), hub[phase]
    # The producer reads every event it shared; the reader of another organisation does not
    # read the RED one (docs/access-policy.md), so fewer attributes.
    producer, consumer = hub["feed_producer"], hub["feed_consumer"]
    assert producer["cold"]["events"] == report["data"]["main"]["events"]
    assert producer["cold"]["attributes"] == report["data"]["main"]["attributes"]
    assert 0 < consumer["cold"]["attributes"] < producer["cold"]["attributes"]
    _positive(consumer["cold"], "seconds", "attributes_per_s")
    _positive(consumer["warm"], "seconds")
    added = hub["events_add"]
    assert added["events"] == 3 and added["stored"].get("grouping") == 3
    _positive(added["cold"], "attributes_per_s")
    _positive(added["warm"], "attributes_per_s")
    assert set(hub["targets_met"]) >= {
        "import_cold_attributes_per_s",
        "big_event_s",
        "big_event_peak_rss_mib",
        "feed_consumer_cold_s",
    }


def test_help_names_the_options() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    for option in ("--backend", "--attributes", "--big", "--quick", "--no-hub"):
        assert option in done.stdout
