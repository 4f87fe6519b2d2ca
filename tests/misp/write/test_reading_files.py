"""Reading MISP events from files, feed directories and archives (no database).

Every form ``varsel misp import`` takes yields the same events; everything that is not an event
(malformed JSON, a missing feed file, an oversized member) is an item with its reason, and the
reading goes on with the next.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import zipfile
from pathlib import Path

from tests.misp.write.events import addresses, event
from varsel.misp.flows.importing import read_events


def _uuids(items: list) -> list[str]:
    return [i.event["Event"]["uuid"] for i in items if i.event is not None]


def _feed(folder: Path, events: list[dict]) -> Path:
    folder.mkdir()
    manifest = {e["Event"]["uuid"]: {"info": e["Event"]["info"]} for e in events}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (folder / "hashes.csv").write_text("")
    for e in events:
        (folder / f"{e['Event']['uuid']}.json").write_text(json.dumps(e))
    return folder


def test_every_form_yields_the_same_events(tmp_path: Path) -> None:
    events = [event(addresses(2, start=i * 2)) for i in range(3)]
    expected = [e["Event"]["uuid"] for e in events]
    one = tmp_path / "one.json"
    one.write_text(json.dumps(events[0]))
    listed = tmp_path / "list.json"
    listed.write_text(json.dumps(events))
    response = tmp_path / "response.json"
    response.write_text(json.dumps({"response": events}))
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps(events[0]["Event"]))
    feed = _feed(tmp_path / "feed", events)
    gz = tmp_path / "list.json.gz"
    gz.write_bytes(gzip.compress(listed.read_bytes()))
    feed_zip = tmp_path / "feed.zip"
    with zipfile.ZipFile(feed_zip, "w") as archive:
        for f in sorted(feed.iterdir()):
            archive.write(f, f"feed/{f.name}")
    plain_zip = tmp_path / "plain.zip"
    with zipfile.ZipFile(plain_zip, "w") as archive:
        archive.write(listed, "all.json")
    tgz = tmp_path / "feed.tar.gz"
    with tarfile.open(tgz, "w:gz") as archive:
        for f in sorted(feed.iterdir()):
            archive.add(f, f"feed/{f.name}")

    assert _uuids(list(read_events([one]))) == expected[:1]
    assert _uuids(list(read_events([bare]))) == expected[:1]
    for path in (listed, response, feed, gz, feed_zip, plain_zip):
        items = list(read_events([path]))
        assert [i.error for i in items] == [None] * 3, path
        assert _uuids(items) == expected, path
    assert sorted(_uuids(list(read_events([tgz])))) == sorted(expected)
    # Several paths: in the order given.
    assert _uuids(list(read_events([one, listed]))) == expected[:1] + expected


def test_what_is_not_an_event_is_named_with_its_reason(tmp_path: Path) -> None:
    good = event(addresses(1))
    broken = tmp_path / "broken.json"
    broken.write_text('{"Event": {"uuid": ')
    listed = tmp_path / "list.json"
    listed.write_text(json.dumps([good, 42, {"something": "else"}]))
    feed = _feed(tmp_path / "feed", [good])
    manifest = json.loads((feed / "manifest.json").read_text())
    manifest["0b3e6e4e-97a7-4a11-9c5c-6a8e0f4c2d11"] = {"info": "gone"}
    (feed / "manifest.json").write_text(json.dumps(manifest))
    no_feed = tmp_path / "empty"
    no_feed.mkdir()

    items = list(read_events([broken, listed, feed, no_feed, tmp_path / "missing.json"]))
    errors = [(i.source, i.error) for i in items if i.error]
    assert errors[0][0] == str(broken) and "malformed JSON" in errors[0][1]
    assert errors[1][0] == f"{listed}[1]" and "not a MISP event" in errors[1][1]
    assert errors[2][0] == f"{listed}[2]" and "not a MISP event" in errors[2][1]
    assert "0b3e6e4e-97a7-4a11-9c5c-6a8e0f4c2d11.json" in errors[3][0]
    assert "listed in manifest.json" in errors[3][1]
    assert "no manifest.json" in errors[4][1]
    assert "no such file" in errors[5][1]
    assert len(errors) == 6
    # The good events on either side were still read.
    assert _uuids(items) == [good["Event"]["uuid"]] * 2


def test_oversized_files_and_members_are_refused_without_reading_them_whole(
    tmp_path: Path,
) -> None:
    big = event(addresses(400))
    small = event(addresses(1))
    limit = len(json.dumps(small)) + 100
    assert len(json.dumps(big)) > limit
    plain = tmp_path / "big.json"
    plain.write_text(json.dumps(big))
    gz = tmp_path / "big.json.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    assert gz.stat().st_size < plain.stat().st_size
    archive_path = tmp_path / "mixed.zip"
    with zipfile.ZipFile(archive_path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a.json", json.dumps(big))
        archive.writestr("b.json", json.dumps(small))

    for path in (plain, gz):
        (item,) = read_events([path], max_bytes=limit)
        assert item.event is None and "larger than" in (item.error or ""), path
    items = list(read_events([archive_path], max_bytes=limit))
    assert items[0].source.endswith(":a.json") and "larger than" in (items[0].error or "")
    assert _uuids(items) == [small["Event"]["uuid"]]


def test_a_zip_whose_sizes_lie_is_still_bounded(tmp_path: Path) -> None:
    """A member's declared size is not trusted: reading stops at the bound."""
    big = json.dumps(event(addresses(400))).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("a.json", big)
    data = bytearray(buffer.getvalue())
    # Patch the central directory's uncompressed size to claim 10 bytes.
    central = data.rfind(b"PK\x01\x02")
    data[central + 24 : central + 28] = (10).to_bytes(4, "little")
    path = tmp_path / "liar.zip"
    path.write_bytes(bytes(data))
    (item,) = read_events([path], max_bytes=1000)
    assert item.event is None
    assert item.error is not None
