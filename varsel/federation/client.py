"""Talk to a peer hub: its TAXII collections, its stream and its push endpoint, within limits.

A peer is registered by the URL of its TAXII 2.1 API root (``https://hub-b.example/taxii2/hub/``).
Its other endpoints (``/api/v1/stream``, ``/api/v1/federation/…``) hang off the *hub base*: the
API root's URL up to where ``/taxii2/`` starts, so a hub served under a path prefix behind a
proxy (``https://x.example/varsel/taxii2/hub/`` → ``https://x.example/varsel/``) works too; an
API root without ``/taxii2/`` in its path has the server's root as its base.

TLS is verified by default, against the system's CA store or the peer's ``--ca-bundle``. The
token travels in the ``Authorization`` header only; it never appears in a URL, a message or a
log line. Every answer is read within a size limit, every wait within a timeout.
"""

from __future__ import annotations

import json
import ssl
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from varsel.errors import InvalidInput, Misconfigured, UpstreamFailed

if TYPE_CHECKING:
    import httpx

TAXII = "application/taxii+json;version=2.1"


class PeerFailed(UpstreamFailed):
    """A peer could not be reached or answered wrongly; ``permanent`` if retrying cannot help.

    ``status`` is the HTTP status of the answer, if there was one.
    """

    def __init__(self, message: str, *, permanent: bool = False, status: int | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.status = status


@dataclass(frozen=True)
class Limits:
    """How long to wait and how much to take from a peer."""

    connect_s: float = 5.0
    # The stream's heartbeat interval (docs/federation.md: every 10 s while idle); a read waits
    # three of them before the connection counts as dead.
    heartbeat_s: float = 10.0
    max_line_bytes: int = 32 * 1024 * 1024
    max_event_bytes: int = 32 * 1024 * 1024
    max_event_seconds: float = 120.0
    max_batch_objects: int = 1000
    max_answer_bytes: int = 8 * 1024 * 1024
    # One push body at most (the receiving hub's VARSEL_MAX_CONTENT_LENGTH is 10 MB by default);
    # a single larger version travels alone.
    max_push_bytes: int = 4 * 1024 * 1024

    @property
    def read_s(self) -> float:
        """Return how long one read may wait."""
        return self.heartbeat_s * 3


def check_url(url: str) -> str:
    """Return the API root URL normalised to end with '/'; InvalidInput if it cannot be one."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise InvalidInput(f"{url!r} is not a URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"the peer's URL must be http(s)://HOST/…, got {url!r}")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise InvalidInput(
            "the peer's URL takes no user, password, query or fragment (the token goes in "
            "--token-file)"
        )
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def hub_base(api_root_url: str) -> str:
    """Return the peer's hub base URL (ending in '/') for the URL of its TAXII API root."""
    parts = urlsplit(api_root_url)
    cut = parts.path.find("/taxii2/")
    prefix = parts.path[:cut] if cut >= 0 else ""
    return urlunsplit((parts.scheme, parts.netloc, prefix + "/", "", ""))


def check_token(text: str) -> str:
    """Return the token in a token file's text; InvalidInput (never echoing it) otherwise."""
    token = text.strip()
    if not token:
        raise InvalidInput("the token file is empty")
    if len(token) > 4096 or any(not (33 <= ord(c) <= 126) for c in token):
        raise InvalidInput("the token file must hold one token: printable ASCII, no spaces")
    return token


def read_token(path: Path) -> str:
    """Return the token kept in ``path``; Misconfigured if the file is missing or too open."""
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii")
    except OSError as exc:
        raise Misconfigured(f"cannot read the peer's token file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise Misconfigured(f"the peer's token file {path} is not ASCII") from None
    if stat.S_IMODE(mode) & 0o077:
        raise Misconfigured(f"{path} must be readable by the hub's user only (chmod 600)")
    return check_token(text)


def check_ca_bundle(path: Path) -> Path:
    """Return ``path`` made absolute if it holds certificates TLS can use; InvalidInput if not."""
    path = path.expanduser().resolve()
    try:
        ssl.create_default_context(cafile=str(path))
    except (OSError, ssl.SSLError) as exc:
        raise InvalidInput(f"cannot use {path} as a CA bundle: {exc}") from None
    return path


def open_client(
    *, url: str, token: str, ca_bundle: str | None, limits: Limits | None = None
) -> httpx.Client:
    """Return an HTTP client for the peer at ``url`` (its API root), with its token and limits."""
    import httpx

    limits = limits or Limits()
    verify: ssl.SSLContext | bool = (
        ssl.create_default_context(cafile=ca_bundle) if ca_bundle else True
    )
    return httpx.Client(
        base_url=hub_base(url),
        timeout=httpx.Timeout(
            connect=limits.connect_s, read=limits.read_s, write=limits.read_s, pool=limits.connect_s
        ),
        verify=verify,
        headers={"Authorization": f"Bearer {token}", "User-Agent": "varsel-federation/1"},
        follow_redirects=False,
    )


def read_json(response: httpx.Response, limit: int) -> Any:
    """Return the JSON body of a streamed ``response``, read up to ``limit`` bytes."""
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > limit:
            raise PeerFailed(f"the peer's answer is larger than {limit} bytes", permanent=True)
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise PeerFailed("the peer's answer is not JSON", permanent=True) from None


def status_failure(response: httpx.Response, what: str) -> PeerFailed:
    """Return the failure for a non-2xx answer; only its status is shown (bodies may be huge)."""
    code = response.status_code
    hint = {
        401: " (is the token right and not revoked?)",
        403: " (may the peer's user do this there?)",
        404: " (does the collection exist there, readable by the peer's user?)",
    }.get(code, "")
    # Client errors will not go away by retrying the same request; server errors may.
    permanent = 400 <= code < 500 and code not in (408, 425, 429)
    return PeerFailed(
        f"{what}: the peer answered HTTP {code}{hint}", permanent=permanent, status=code
    )


def list_collections(
    *, url: str, token: str, ca_bundle: str | None, limits: Limits | None = None
) -> list[dict[str, Any]]:
    """Return the collections the peer lists to this hub's user (TAXII 2.1 §5.1)."""
    import httpx

    limits = limits or Limits()
    try:
        with (
            open_client(url=url, token=token, ca_bundle=ca_bundle, limits=limits) as client,
            client.stream(
                "GET", check_url(url) + "collections/", headers={"Accept": TAXII}
            ) as response,
        ):
            if response.status_code != 200:
                raise status_failure(response, "listing the peer's collections")
            body = read_json(response, limits.max_answer_bytes)
    except httpx.HTTPError as exc:
        raise PeerFailed(f"cannot reach the peer: {describe(exc)}") from None
    found = body.get("collections", []) if isinstance(body, dict) else None
    if not isinstance(found, list) or not all(isinstance(c, dict) for c in found):
        raise PeerFailed("the peer's collection list is not TAXII 2.1", permanent=True)
    return found


def describe(exc: BaseException) -> str:
    """Return a short account of a transport error: its kind and message, never a header."""
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:300]
