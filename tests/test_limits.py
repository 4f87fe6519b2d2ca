"""Request bodies are limited and authenticated before the hub reads them (varsel.api.limits).

These tests run the hub as a real uvicorn process and talk to it over raw sockets, so they see
what an attacker sees: whether the answer comes before the body is sent, whether the server
closes the connection, and how much memory the server process holds afterwards.
"""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests import factories as f
from tests.conftest import SECRET
from varsel import migrate
from varsel.api.taxii._server import API_ROOT
from varsel.db import make_engine, make_sessionmaker

LIMIT = 2 * 1024 * 1024  # VARSEL_MAX_CONTENT_LENGTH of the server under test
FORM_LIMIT = 1024 * 1024  # varsel.api.limits.FORM_LIMIT
HUGE = 400 * 1024 * 1024
# What the kernel's socket buffers on loopback may absorb after the server stopped reading.
BUFFER_SLACK = 32 * 1024 * 1024


@dataclass
class Server:
    """A hub served by its own uvicorn process."""

    port: int
    pid: int
    token: str
    collection: str

    def rss(self) -> int:
        """Return the server process's resident memory in bytes."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    url = f"sqlite:///{tmp_path_factory.mktemp('limits') / 'hub.sqlite3'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    with make_sessionmaker(engine)() as session:
        f.org(session, "Nordbank ASA")
        f.user(session, "analyst", "Nordbank ASA", password=None)
        f.community(session, "Finance", ["Nordbank ASA"])
        collection = f.collection(session, "Finance feed", "Finance").id
        token = f.token(session, "analyst")
        session.commit()
    engine.dispose()
    port = _free_port()
    env = {
        **os.environ,
        "VARSEL_DATABASE_URL": url,
        "VARSEL_SECRET_KEY": SECRET,
        "VARSEL_MAX_CONTENT_LENGTH": str(LIMIT),
        "VARSEL_WARNINGLIST_HELPER": "0",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "varsel.api.app:create_app"]
        + ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/api/openapi.json", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("the hub did not start") from None
                time.sleep(0.1)
        yield Server(port=port, pid=proc.pid, token=token, collection=collection)
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _connect(server: Server, head: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.sendall(head.encode("latin-1"))
    return sock


def _head(path: str, *, length: int | None, auth: str | None = None) -> str:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    lines.append(
        f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    )
    if auth is not None:
        lines.append(f"Authorization: {auth}")
    return "\r\n".join(lines) + "\r\n\r\n"


def _response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Read one response (status, headers, body) within the socket's timeout."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"the server closed without answering: {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines)}
    while len(body) < int(headers.get("content-length", "0")):
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(status_line.split()[1]), headers, body


def _closed(sock: socket.socket) -> bool:
    """Return whether the server closes the connection (rather than wait for the body)."""
    try:
        while chunk := sock.recv(65536):
            del chunk
    except (ConnectionResetError, TimeoutError):
        return False
    return True


REST_ROUTES = ["/api/v1/match", "/api/v1/persons", "/api/v1/incidents", "/api/v1/tokens"]


def _every_route(server: Server) -> list[str]:
    return [*REST_ROUTES, _path(server, "share"), _path(server, "taxii"), "/login"]


@pytest.mark.parametrize("who", ["anonymous", "token"])
def test_a_declared_oversized_body_is_refused_before_it_is_sent(server: Server, who: str) -> None:
    auth = f"Bearer {server.token}" if who == "token" else None
    for path in _every_route(server):
        with _connect(server, _head(path, length=HUGE, auth=auth)) as sock:
            status, headers, body = _response(sock)
            assert status == 413, (path, body)
            assert headers.get("connection") == "close", path
            assert _closed(sock), path
    assert server.rss() < 400 * 1024 * 1024


@pytest.mark.parametrize("route", [*REST_ROUTES, "share", "taxii"])
@pytest.mark.parametrize("auth", [None, "Bearer not-a-token", "Basic YW5hbHlzdDp3cm9uZw=="])
def test_an_unauthenticated_body_is_refused_before_it_is_read(
    server: Server, route: str, auth: str | None
) -> None:
    path = _path(server, route)
    # The body is declared but never sent: a server that read it first would wait for it.
    with _connect(server, _head(path, length=100_000, auth=auth)) as sock:
        status, headers, body = _response(sock)
    assert status == 401, body
    media = "application/taxii+json" if route == "taxii" else "application/problem+json"
    assert headers["content-type"].startswith(media)
    assert headers.get("connection") == "close"
    assert "www-authenticate" in headers


def _stream(sock: socket.socket, total: int) -> int:
    """Send a chunked body of up to ``total`` bytes; return how many went out before the
    server answered or stopped reading."""
    piece = b"[" * 65536
    chunk = b"%x\r\n%s\r\n" % (len(piece), piece)
    sent = 0
    sock.settimeout(5)
    while sent < total:
        readable, _, _ = select.select([sock], [], [], 0)
        if readable:
            break
        try:
            sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            break
        sent += len(piece)
    return sent


def _path(server: Server, route: str) -> str:
    return {
        "share": f"/api/v1/collections/{server.collection}/share",
        "taxii": f"/taxii2/{API_ROOT}/collections/{server.collection}/objects/",
    }.get(route, route)


@pytest.mark.parametrize("route", ["/api/v1/match", "/api/v1/persons", "share", "taxii"])
def test_a_chunked_body_is_cut_off_once_it_passes_the_limit(server: Server, route: str) -> None:
    path = _path(server, route)
    head = _head(path, length=None, auth=f"Bearer {server.token}")
    if route == "taxii":
        head = head.replace("application/json", "application/taxii+json;version=2.1")
    before = server.rss()
    with _connect(server, head) as sock:
        sent = _stream(sock, HUGE)
        try:
            status, _, body = _response(sock)
        except ConnectionResetError:
            status, body = 0, b""
    assert sent < LIMIT + BUFFER_SLACK, f"the server read {sent} bytes of {path}"
    assert status == 413, body
    assert server.rss() - before < 64 * 1024 * 1024


def test_bodies_within_their_route_limit_are_served(server: Server) -> None:
    bearer = {"Authorization": f"Bearer {server.token}"}
    base = f"http://127.0.0.1:{server.port}/api/v1"
    # /match takes up to 1,000 observables of 4 KiB: more than FORM_LIMIT, within LIMIT.
    batch = {"observables": [f"{i}.{'a' * 3990}.example" for i in range(400)]}
    assert FORM_LIMIT < len(json.dumps(batch)) < LIMIT
    answer = httpx.post(f"{base}/match", json=batch, headers=bearer, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"matches": []}
    # A person's registration is a small form: the same body is refused there.
    refused = httpx.post(f"{base}/persons", json=batch, headers=bearer, timeout=30)
    assert refused.status_code == 413
    assert refused.json()["title"] == "Payload too large"
    # A small authenticated body still goes through to the route.
    assert httpx.get(f"{base}/me", headers=bearer).json()["username"] == "analyst"
    small = httpx.post(f"{base}/tokens", json={"name": "ci"}, headers=bearer)
    assert small.status_code == 201, small.text
