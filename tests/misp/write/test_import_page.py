"""The MISP import page: upload, choose a collection, read the per-event and per-item report."""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import zipfile
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi.testclient import TestClient

from tests.misp.write.conftest import Setup, rows
from tests.misp.write.events import addresses, attribute, event
from tests.web.conftest import csrf_of, sign_in
from varsel.web.sessions import COOKIE


def _alice(setup: Setup) -> TestClient:
    client = TestClient(setup.hub.app)
    sign_in(client, "alice")
    return client


def _upload(client: TestClient, setup: Setup, name: str, data: bytes) -> Any:
    token = csrf_of(client.get("/share/misp").text)
    return client.post(
        "/share/misp",
        data={"csrf": token, "collection": setup.collection_id},
        files={"file": (name, data, "application/octet-stream")},
    )


def test_upload_json_gz_and_zip_and_read_the_report(setup: Setup) -> None:
    client = _alice(setup)
    page = client.get("/share")
    assert 'href="/share/misp"' in page.text
    good = event(addresses(2))
    strange = attribute("odd", kind="no-such-misp-type")
    lossy = event([attribute("30.250.0.61"), strange])
    answer = _upload(client, setup, "events.json", json.dumps([good, lossy, 7]).encode())
    assert answer.status_code == 200, answer.text
    assert 'id="misp-report"' in answer.text
    assert "events.json[2]" in answer.text and "not a MISP event" in answer.text
    assert strange["uuid"] in answer.text

    again = _upload(client, setup, "again.json.gz", gzip.compress(json.dumps(good).encode()))
    assert "unchanged" in again.text
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("feed/manifest.json", json.dumps({good["Event"]["uuid"]: {}}))
        z.writestr(f"feed/{good['Event']['uuid']}.json", json.dumps(good))
    zipped = _upload(client, setup, "feed.zip", buffer.getvalue())
    assert zipped.status_code == 200 and "unchanged" in zipped.text


def test_bad_uploads_get_the_reason_beside_the_field(setup: Setup) -> None:
    client = _alice(setup)
    before = rows(setup.hub)
    answer = _upload(client, setup, "notes.txt", b"hello")
    assert answer.status_code == 400 and 'id="mi-file-error"' in answer.text
    token = csrf_of(client.get("/share/misp").text)
    answer = client.post(
        "/share/misp",
        data={"csrf": token, "collection": "no-such-collection"},
        files={"file": ("e.json", json.dumps(event(addresses(1))).encode(), "x/y")},
    )
    assert answer.status_code == 400 and 'id="mi-collection-error"' in answer.text
    broken = _upload(client, setup, "broken.json", b'{"Event": ')
    assert "malformed JSON" in broken.text
    assert rows(setup.hub) == before


def test_an_upload_declared_too_large_is_refused_before_reading(setup: Setup) -> None:
    client = _alice(setup)
    cookie = client.cookies.get(COOKIE)
    assert cookie
    limit = setup.hub.settings.max_content_length
    calls = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal calls
        calls += 1
        return {"type": "http.request", "body": b"x" * 65536, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/share/misp",
        "raw_path": b"/share/misp",
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"multipart/form-data; boundary=xyz"),
            (b"content-length", str(10 * limit).encode()),
            (b"cookie", f"{COOKIE}={cookie}".encode()),
        ],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
        "app": setup.hub.app,
    }
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, setup.hub.app(scope, receive, send)).result()  # type: ignore[arg-type]
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert start["status"] == 413 and calls == 0
    assert b'id="mi-file-error"' in body
