"""What a MISP server asks of a hub: its pull (index, then each event) and a feed's files.

The requests are MISP's own (MISP/MISP ``app/Lib/Tools/ServerSyncTool.php`` and
``Server::getEventIndexFromServer``/``__pullEvent``): ``POST /events/index`` with
``{"minimal": 1, "published": 1}`` and ``If-None-Match``, then ``GET /events/view/<uuid>``
with CakePHP named parameters; a feed is ``manifest.json``, then ``<uuid>.json`` per event, and
``hashes.csv``. The manifest and hashes are compared with what PyMISP's own feed generator
(``MISPEvent.manifest``, ``attributes_hashes("md5")``) makes of the same events.
"""

from __future__ import annotations

import time

import httpx
from pymisp import MISPEvent

from tests import factories as f
from tests.misp.read.conftest import World

# What MISP's __pullEvent appends to events/view/<uuid> (ServerSyncTool::createParams).
PULL_PARAMS = (
    "/deleted[]:0/deleted[]:1/excludeGalaxy:1/includeEventCorrelations:0"
    "/includeFeedCorrelations:0/includeWarninglistHits:0/excludeLocalTags:1"
)


def misp_headers(token: str) -> dict[str, str]:
    """Return the headers MISP's sync sends: the bare key, JSON both ways."""
    return {
        "Authorization": token,
        "Accept": "application/json",
        "Content-Type": "application/json",
    }


def test_misp_server_pull(world: World, live: str) -> None:
    headers = misp_headers(world.tokens["bob"])
    with httpx.Client(base_url=live + "/misp", headers=headers) as http:
        # MISP sends an empty ETag first, so that the hub computes one.
        index = http.post(
            "/events/index", json={"minimal": 1, "published": 1}, headers={"If-None-Match": '""'}
        )
        assert index.status_code == 200, index.text
        rows = index.json()
        assert {r["uuid"] for r in rows} >= {world.green, world.amber}
        for row in rows:
            assert set(row) >= {"uuid", "timestamp", "published", "id"}
            assert row["published"] is True
        pulled = {}
        for row in rows:
            got = http.get(f"/events/view/{row['uuid']}{PULL_PARAMS}")
            assert got.status_code == 200, got.text
            event = got.json()["Event"]
            assert event["uuid"] == row["uuid"]
            assert event["timestamp"] == row["timestamp"]  # what MISP compares to re-pull
            pulled[row["uuid"]] = event
        values = {a["value"] for e in pulled.values() for a in e.get("Attribute", [])}
        assert values >= {*world.green_values, world.amber_value, world.red_value}
        # The next pull with the index's ETag costs nothing.
        again = http.post(
            "/events/index",
            json={"minimal": 1, "published": 1},
            headers={"If-None-Match": index.headers["ETag"]},
        )
        assert again.status_code == 304
        # HEAD, as MISP's push asks whether an event exists.
        assert http.head(f"/events/view/{world.green}").status_code == 200


def test_feed_fetch_as_misp_does(world: World, live: str) -> None:
    headers = {"Authorization": world.tokens["bob"]}
    feed = f"{live}/misp/feeds/{world.collection}"
    with httpx.Client(headers=headers) as http:
        manifest = http.get(f"{feed}/manifest.json")
        assert manifest.status_code == 200, manifest.text
        entries = manifest.json()
        assert {world.green, world.amber} <= set(entries)
        hashes = http.get(f"{feed}/hashes.csv")
        assert hashes.status_code == 200
        expected_hashes: set[str] = set()
        for event_uuid, entry in entries.items():
            got = http.get(f"{feed}/{event_uuid}.json")
            assert got.status_code == 200, got.text
            event = MISPEvent()
            event.load(got.json())
            # PyMISP's feed generator makes the same manifest entry of the same event.
            assert event.manifest[event_uuid]["info"] == entry["info"]
            assert event.manifest[event_uuid]["date"] == entry["date"]
            assert event.manifest[event_uuid]["timestamp"] == entry["timestamp"]
            assert event.manifest[event_uuid]["Orgc"] == entry["Orgc"]
            assert {t["name"] for t in entry["Tag"]} == {t.name for t in event.tags}
            expected_hashes |= {f"{h},{event_uuid}" for h in event.attributes_hashes("md5")}
        assert set(hashes.text.splitlines()) == expected_hashes
        assert len(expected_hashes) >= 5


def test_feed_etags(world: World, live: str) -> None:
    headers = {"Authorization": world.tokens["bob"]}
    feed = f"{live}/misp/feeds/{world.collection}"
    with httpx.Client(headers=headers) as http:
        for name in ("manifest.json", "hashes.csv", f"{world.green}.json"):
            first = http.get(f"{feed}/{name}")
            etag = first.headers["ETag"]
            assert etag.startswith('"') and not etag.startswith("W/")
            unchanged = http.get(f"{feed}/{name}", headers={"If-None-Match": etag})
            assert unchanged.status_code == 304 and unchanged.content == b""
        before = http.get(f"{feed}/manifest.json").headers["ETag"]
    # Something new in the collection is a new manifest, and a new ETag. MISP's timestamps are
    # whole seconds: an object added within the second of the last pull waits for the next one.
    time.sleep(1.1)
    world.share("alice", f.indicator(value="198.51.100.77"))
    with httpx.Client(headers=headers) as http:
        after = http.get(f"{feed}/manifest.json", headers={"If-None-Match": before})
        assert after.status_code == 200
        assert after.headers["ETag"] != before
