"""Peers, pinned origin keys and links: add, trust, link, list, remove and report their health.

Each change is made by a hub administrator (the local operator on the command line) and audited
under that principal: ``peer.add``, ``peer.remove``, ``peer.trust`` and ``peer.link``. A peer's
token is copied to ``<data dir>/peers/NAME.token`` (mode 0600, in a directory of mode 0700) and
never enters the database, the audit log or a message; the ``peers`` row keeps the file's path.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from varsel.audit import service as audit
from varsel.clock import utcnow
from varsel.errors import Conflict, Forbidden, InvalidInput, NotFound
from varsel.federation import client as peers_http
from varsel.federation._status import pending_tombstones, status
from varsel.federation.models import Direction, Peer, PeerLink, TrustedHub
from varsel.orgs import flows as org_flows
from varsel.orgs.models import Organisation, OrgKind, Role
from varsel.policy.principal import Principal
from varsel.provenance.keys import parse_public, public_text
from varsel.sharing.models import (
    Collection,
)
from varsel.sharing.service import get_collection

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def _require_admin(principal: Principal) -> None:
    if not (principal.operator or (principal.role is Role.HUB_ADMIN and not principal.hub)):
        raise Forbidden("only the hub's administrators manage peers")


def _check_name(name: str, own: str) -> str:
    if not _NAME.fullmatch(name):
        raise InvalidInput(
            f"a hub name is 1-100 letters, digits, '.', '_' or '-' starting with a letter or "
            f"digit, got {name!r}"
        )
    if name == own:
        raise InvalidInput(f"{name!r} is this hub's own name")
    return name


def token_path(data_dir: Path, name: str) -> Path:
    """Return where the token for peer ``name`` is kept."""
    return data_dir / "peers" / f"{name}.token"


def _store_token(data_dir: Path, name: str, token: str) -> Path:
    folder = data_dir / "peers"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    path = token_path(data_dir, name)
    temp = path.with_suffix(".token.tmp")
    temp.unlink(missing_ok=True)
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(token + "\n")
    os.replace(temp, path)
    return path


def _hub_org(
    session: Session, principal: Principal, name: str, country: str | None
) -> Organisation:
    """Return the organisation of kind hub named ``name``, creating it with ``country``."""
    found = session.execute(
        select(Organisation).where(Organisation.name == name)
    ).scalar_one_or_none()
    if found is not None:
        if found.kind != OrgKind.HUB.value:
            raise Conflict(
                f"organisation {name!r} exists and is of kind {found.kind!r}, not 'hub'; "
                "a peer hub needs an organisation of kind hub with its name"
            )
        return found
    if not country:
        raise InvalidInput(
            f"there is no organisation {name!r} yet: give its --country to create it"
        )
    return org_flows.create_org(
        session=session, principal=principal, name=name, country=country, kind=OrgKind.HUB.value
    )


def _pin(
    session: Session, principal: Principal, name: str, key: str, org: Organisation
) -> tuple[TrustedHub, str | None]:
    """Pin ``key`` for ``name``; return the pin and the key it replaced (None if none)."""
    key = public_text(parse_public(key))
    pin = session.get(TrustedHub, name)
    if pin is None:
        pin = TrustedHub(
            name=name, public_key=key, org_id=org.id, pinned_at=utcnow(), pinned_by=principal.label
        )
        session.add(pin)
        session.flush()
        return pin, None
    before = pin.public_key
    pin.public_key, pin.pinned_at, pin.pinned_by = key, utcnow(), principal.label
    return pin, (before if before != key else None)


def add_peer(
    *,
    session: Session,
    principal: Principal,
    own_name: str,
    data_dir: Path,
    name: str,
    url: str,
    token_file: Path,
    public_key: str,
    country: str | None = None,
    ca_bundle: Path | None = None,
) -> Peer:
    """Register the peer hub ``name``: pin its key, make its organisation, keep its token."""
    _require_admin(principal)
    name = _check_name(name, own_name)
    url = peers_http.check_url(url)
    try:
        token = peers_http.check_token(token_file.read_text(encoding="ascii"))
    except (OSError, UnicodeDecodeError):
        raise InvalidInput(f"cannot read the token file {token_file}") from None
    bundle = peers_http.check_ca_bundle(ca_bundle) if ca_bundle else None
    if session.execute(select(Peer.id).where(Peer.name == name)).first() is not None:
        raise Conflict(f"peer {name!r} exists already (remove it first to change it)")
    pinned = session.get(TrustedHub, name)
    if pinned is not None and pinned.public_key != public_text(parse_public(public_key)):
        raise Conflict(
            f"{name!r} is pinned to another key; re-pin it first with `varsel peer trust`"
        )
    org = _hub_org(session, principal, name, country)
    _pin(session, principal, name, public_key, org)
    path = token_path(data_dir, name)
    peer = Peer(
        name=name,
        url=url,
        token_file=str(path),
        country=org.country,
        ca_bundle=str(bundle) if bundle else None,
        created_at=utcnow(),
    )
    session.add(peer)
    session.flush()
    audit.record(
        session=session,
        actor=principal.label,
        action="peer.add",
        target=name,
        details={
            "url": url,
            "public_key": public_text(parse_public(public_key)),
            "org": org.name,
            "ca_bundle": peer.ca_bundle,
        },
    )
    # Last: nothing is written to disk unless the rows above were accepted.
    _store_token(data_dir, name, token)
    return peer


def trust(
    *,
    session: Session,
    principal: Principal,
    own_name: str,
    name: str,
    public_key: str,
    country: str | None = None,
) -> TrustedHub:
    """Pin the key of origin ``name`` (a hub whose objects arrive through relays)."""
    _require_admin(principal)
    name = _check_name(name, own_name)
    parse_public(public_key)
    org = _hub_org(session, principal, name, country)
    pin, replaced = _pin(session, principal, name, public_key, org)
    audit.record(
        session=session,
        actor=principal.label,
        action="peer.trust",
        target=name,
        details={"public_key": pin.public_key, "replaced": replaced, "org": org.name},
    )
    return pin


def get_peer(*, session: Session, name: str) -> Peer:
    """Return the peer called ``name`` or raise NotFound."""
    peer = session.execute(select(Peer).where(Peer.name == name)).scalar_one_or_none()
    if peer is None:
        raise NotFound(f"no peer called {name!r} (see `varsel peer list`)")
    return peer


def remove_peer(*, session: Session, principal: Principal, data_dir: Path, name: str) -> None:
    """Remove peer ``name`` and its links; its pinned key and organisation stay (their objects
    are kept under them, and relays may still bring more)."""
    _require_admin(principal)
    peer = get_peer(session=session, name=name)
    links = session.execute(
        select(func.count()).select_from(PeerLink).where(PeerLink.peer_id == peer.id)
    ).scalar_one()
    session.execute(delete(PeerLink).where(PeerLink.peer_id == peer.id))
    session.delete(peer)
    session.flush()
    audit.record(
        session=session,
        actor=principal.label,
        action="peer.remove",
        target=name,
        details={"links": links},
    )
    token_path(data_dir, name).unlink(missing_ok=True)


def _local_collection(session: Session, ref: str) -> Collection:
    try:
        return get_collection(session=session, collection_id=ref)
    except NotFound:
        found = session.execute(
            select(Collection).where(Collection.title == ref)
        ).scalar_one_or_none()
        if found is None:
            raise NotFound(f"no local collection {ref!r} (id, alias or title)") from None
        return found


def _remote_collection(
    collections: list[dict[str, Any]], ref: str, direction: Direction, peer: str
) -> dict[str, Any]:
    by_id = [c for c in collections if c.get("id") == ref]
    found = by_id or [c for c in collections if c.get("title") == ref]
    if not found:
        raise NotFound(f"peer {peer!r} lists no collection {ref!r} to this hub's user")
    if len(found) > 1:
        raise InvalidInput(f"peer {peer!r} has several collections titled {ref!r}: give its id")
    chosen = found[0]
    if not isinstance(chosen.get("id"), str) or len(chosen["id"]) > 36:
        raise InvalidInput(f"peer {peer!r} describes collection {ref!r} without a usable id")
    if direction in (Direction.PULL, Direction.BOTH) and chosen.get("can_read") is False:
        raise InvalidInput(f"this hub's user may not read {ref!r} at peer {peer!r}")
    if direction in (Direction.PUSH, Direction.BOTH) and chosen.get("can_write") is not True:
        raise InvalidInput(f"this hub's user may not write to {ref!r} at peer {peer!r}")
    return chosen


@dataclass(frozen=True)
class Endpoint:
    """Where a peer is and how to reach it (its token read from its file)."""

    url: str
    token: str = field(repr=False)
    ca_bundle: str | None


def endpoint(*, session: Session, name: str) -> Endpoint:
    """Return how to reach peer ``name``."""
    peer = get_peer(session=session, name=name)
    token = peers_http.read_token(Path(peer.token_file))
    return Endpoint(url=peer.url, token=token, ca_bundle=peer.ca_bundle)


def link(
    *,
    session: Session,
    principal: Principal,
    name: str,
    remote: str,
    local: str,
    direction: str,
    remote_collections: list[dict[str, Any]],
) -> PeerLink:
    """Map the peer's collection ``remote`` (id or title) onto ``local``; or change the way an
    existing link moves objects.

    ``remote_collections`` is what the peer lists to this hub's user (TAXII 2.1 §5.1), asked
    for before the caller's transaction: no write lock is held while a peer answers.
    """
    _require_admin(principal)
    try:
        way = Direction(direction)
    except ValueError:
        raise InvalidInput(f"--direction must be pull, push or both, got {direction!r}") from None
    peer = get_peer(session=session, name=name)
    target = _local_collection(session, local)
    chosen = _remote_collection(remote_collections, remote, way, name)
    remote_id = str(chosen["id"])
    row = session.execute(
        select(PeerLink).where(
            PeerLink.peer_id == peer.id,
            PeerLink.remote_collection_id == remote_id,
            PeerLink.local_collection_id == target.id,
        )
    ).scalar_one_or_none()
    now = utcnow()
    before = None
    if row is None:
        row = PeerLink(
            peer_id=peer.id,
            remote_collection=remote,
            remote_collection_id=remote_id,
            local_collection_id=target.id,
            direction=way.value,
            push_position=0,
            state="new",
            received=0,
            duplicates=0,
            refused=0,
            sent=0,
            tombstones_applied=0,
            created_at=now,
            updated_at=now,
        )
        session.add(row)
    else:
        if row.direction == way.value:
            raise Conflict(f"that link exists already ({way.value})")
        before, row.direction, row.updated_at = row.direction, way.value, now
    session.flush()
    audit.record(
        session=session,
        actor=principal.label,
        action="peer.link",
        target=name,
        details={
            "link": row.id,
            "remote": remote_id,
            "remote_title": chosen.get("title"),
            "local": target.id,
            "direction": way.value,
            "was": before,
        },
    )
    return row


@dataclass(frozen=True)
class PeerView:
    """A peer as ``peer list`` shows it."""

    name: str
    url: str
    country: str | None
    public_key: str
    ca_bundle: str | None
    links: list[tuple[str, str, str]]  # (remote title or id, local title, direction)


def list_peers(*, session: Session) -> list[PeerView]:
    """Return every peer with its pinned key and links, by name."""
    views = []
    for peer, pin in session.execute(
        select(Peer, TrustedHub).join(TrustedHub, TrustedHub.name == Peer.name).order_by(Peer.name)
    ).all():
        links = session.execute(
            select(PeerLink, Collection.title)
            .join(Collection, Collection.id == PeerLink.local_collection_id)
            .where(PeerLink.peer_id == peer.id)
            .order_by(PeerLink.id)
        ).all()
        views.append(
            PeerView(
                name=peer.name,
                url=peer.url,
                country=peer.country,
                public_key=pin.public_key,
                ca_bundle=peer.ca_bundle,
                links=[(lk.remote_collection, title, lk.direction) for lk, title in links],
            )
        )
    return views


__all__ = [
    "Endpoint",
    "PeerView",
    "add_peer",
    "get_peer",
    "link",
    "list_peers",
    "endpoint",
    "pending_tombstones",
    "remove_peer",
    "status",
    "token_path",
    "trust",
]
