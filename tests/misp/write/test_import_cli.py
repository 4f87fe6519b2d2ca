"""``varsel misp import`` as a script runs it: every input form, the report, the exit status."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from sqlalchemy import select

from tests.conftest import SECRET
from tests.misp.write.conftest import Setup, rows
from tests.misp.write.events import addresses, attribute, event
from varsel.sharing.models import StixObject


def _run(setup: Setup, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "VARSEL_DATABASE_URL": setup.hub.settings.database_url,
        "VARSEL_SECRET_KEY": SECRET,
        "VARSEL_DATA_DIR": str(tmp_path / "data"),
        "COLUMNS": "250",
    }
    return subprocess.run(
        [sys.executable, "-m", "varsel", "misp", "import", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _groupings(setup: Setup) -> set[str]:
    with setup.hub.session() as s:
        ids = s.execute(select(StixObject.stix_id).where(StixObject.type == "grouping"))
        return {i.removeprefix("grouping--") for i in ids.scalars()}


def test_every_input_form_is_imported(setup: Setup, tmp_path: Path) -> None:
    events = [event(addresses(3, start=10 * i)) for i in range(8)]
    one = tmp_path / "one.json"
    one.write_text(json.dumps(events[0]))
    listed = tmp_path / "list.json"
    listed.write_text(json.dumps(events[1:3]))
    feed = tmp_path / "feed"
    feed.mkdir()
    (feed / "manifest.json").write_text(json.dumps({e["Event"]["uuid"]: {} for e in events[3:5]}))
    (feed / "hashes.csv").write_text("")
    for e in events[3:5]:
        (feed / f"{e['Event']['uuid']}.json").write_text(json.dumps(e))
    gz = tmp_path / "one.json.gz"
    gz.write_bytes(gzip.compress(json.dumps({"response": events[5:6]}).encode()))
    archive = tmp_path / "feed.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("feed/manifest.json", json.dumps({e["Event"]["uuid"]: {} for e in events[6:]}))
        z.writestr("feed/hashes.csv", "")
        for e in events[6:]:
            z.writestr(f"feed/{e['Event']['uuid']}.json", json.dumps(e))

    done = _run(
        setup, tmp_path, str(one), str(listed), str(feed), str(gz), str(archive),
        "--collection", "misp", "--as", "alice", "--workers", "2",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "8 events: 8 new" in done.stderr
    assert "24 attributes" in done.stderr
    assert _groupings(setup) == {e["Event"]["uuid"] for e in events}

    # Again: every event unchanged, said so, nothing written.
    before = rows(setup.hub)
    again = _run(setup, tmp_path, str(one), str(archive), "--collection", "misp", "--as", "alice")
    assert again.returncode == 0, again.stderr
    assert "3 events: 0 new, 0 new versions, 3 unchanged" in again.stderr
    assert rows(setup.hub) == before


def test_bad_input_is_reported_item_by_item(setup: Setup, tmp_path: Path) -> None:
    newer = event(addresses(2), timestamp=1_700_000_900)
    older = json.loads(json.dumps(newer))
    older["Event"]["timestamp"] = "1700000100"
    first = tmp_path / "newer.json"
    first.write_text(json.dumps(newer))
    done = _run(setup, tmp_path, str(first), "--collection", "misp", "--as", "alice")
    assert done.returncode == 0, done.stderr
    before = rows(setup.hub)

    # Only bad items: each named with its reason, exit 1, and nothing written.
    broken = tmp_path / "broken.json"
    broken.write_text('{"Event": {"uuid": "x", ')
    huge = tmp_path / "huge.json"
    huge.write_text(json.dumps(event(addresses(2000))))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([older, "nonsense", {"Event": {"info": "no uuid"}}]))
    done = _run(
        setup, tmp_path, str(broken), str(huge), str(bad),
        "--collection", "misp", "--as", "alice", "--max-file-size", "100000",
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    report = done.stderr
    assert f"refused: {broken}: event ?: malformed JSON" in report
    assert f"refused: {huge}: event ?: larger than 100,000 bytes" in report
    assert (
        f"refused: {bad}[0]: event {newer['Event']['uuid']} (write test): a newer version of "
        "this event, timestamp 1700000900, is already here"
    ) in report
    assert f"refused: {bad}[1]: event ?: not a MISP event" in report
    assert f"refused: {bad}[2]: " in report
    assert "5 events: 0 new, 0 new versions, 0 unchanged, 5 refused" in report
    assert rows(setup.hub) == before

    # Good and bad together: the good event whole, its unknown attribute type named; in one
    # file, a duplicate uuid with an older timestamp after the newer one is refused.
    strange = attribute("odd", kind="no-such-misp-type")
    good = event([attribute("30.250.0.50"), strange])
    twice_new = event(addresses(1, start=900), timestamp=1_700_000_500)
    twice_old = json.loads(json.dumps(twice_new))
    twice_old["Event"]["timestamp"] = "1700000400"
    mixed = tmp_path / "mixed.json"
    mixed.write_text(json.dumps([good, twice_new, twice_old]))
    done = _run(setup, tmp_path, str(mixed), "--collection", "misp", "--as", "alice")
    assert done.returncode == 1, done.stderr
    report = done.stderr
    assert "3 events: 2 new, 0 new versions, 0 unchanged, 1 refused" in report
    assert f"item {strange['uuid']}" in report
    assert f"refused: {mixed}[2]: event {twice_new['Event']['uuid']}" in report
    assert _groupings(setup) == {
        newer["Event"]["uuid"],
        good["Event"]["uuid"],
        twice_new["Event"]["uuid"],
    }


def test_import_over_http_with_a_token(setup: Setup, live: str, tmp_path: Path) -> None:
    events = [event(addresses(2, start=5 * i)) for i in range(3)]
    listed = tmp_path / "list.json"
    listed.write_text(json.dumps(events))
    done = _run(
        setup, tmp_path, str(listed), "--collection", setup.collection_id,
        "--url", live, "--token", setup.bob_token,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "3 events: 3 new" in done.stderr
    assert _groupings(setup) == {e["Event"]["uuid"] for e in events}
    # The same, again (the collection named by its title): unchanged over HTTP too.
    again = _run(
        setup, tmp_path, str(listed), "--collection", "misp",
        "--url", live, "--token", setup.bob_token,
    )  # fmt: skip
    assert "3 unchanged" in again.stderr, again.stderr


def test_help_has_examples(setup: Setup, tmp_path: Path) -> None:
    done = _run(setup, tmp_path, "--help")
    assert done.returncode == 0
    assert "varsel misp import feed/" in done.stdout
    assert "--url" in done.stdout and "--as" in done.stdout
