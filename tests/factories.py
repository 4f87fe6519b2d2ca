"""Small factories for test data: organisations, users, communities, collections, STIX."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy.orm import Session

from varsel.orgs import service as orgs
from varsel.policy.principal import Principal, principal_of
from varsel.sharing import service as sharing
from varsel.sharing.models import Collection
from varsel.sharing.tlp import TLP

PASSWORD = "correct horse battery staple"
TAXII = "application/taxii+json;version=2.1"


def org(session: Session, name: str, country: str = "NO", kind: str = "company") -> int:
    """Create an organisation and return its id."""
    return orgs.add_org(session=session, name=name, country=country, kind=kind, actor="test").id


def user(
    session: Session,
    username: str,
    org_name: str,
    role: str = "analyst",
    password: str | None = PASSWORD,
) -> int:
    """Create a user and return its id (argon2 makes this ~50 ms; pass password=None to skip)."""
    return orgs.add_user(
        session=session, username=username, org=org_name, role=role, password=password, actor="test"
    ).id


def token(session: Session, username: str) -> str:
    """Create and return an API token for ``username``."""
    return orgs.create_token(session=session, username=username, actor="test")[1]


def community(session: Session, name: str, members: list[str], visibility: str = "unlisted") -> int:
    """Create a community of ``members`` (unlisted, like the hub's default) and return its id."""
    return orgs.add_community(
        session=session,
        name=name,
        members=members,
        visibility=orgs.parse_visibility(visibility),
        actor="test",
    ).id


def collection(
    session: Session, title: str, community_name: str, default_tlp: str = "amber", **kwargs: Any
) -> Collection:
    """Create a collection owned by ``community_name``."""
    return sharing.add_collection(
        session=session,
        title=title,
        community=community_name,
        default_tlp=default_tlp,
        actor="test",
        **kwargs,
    )


def principal(session: Session, username: str) -> Principal:
    """Return the principal of ``username``."""
    return principal_of(orgs.get_user(session=session, username=username))


def stix_id(kind: str = "indicator") -> str:
    """Return a fresh STIX id of ``kind``."""
    return f"{kind}--{uuid.uuid4()}"


def indicator(
    *,
    oid: str | None = None,
    tlp: TLP | None = None,
    modified: str | None = None,
    created: str = "2026-01-01T00:00:00.000Z",
    value: str = "198.51.100.7",
    recipients: list[str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Return a valid STIX 2.1 indicator."""
    obj: dict[str, Any] = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": oid or stix_id(),
        "created": created,
        "modified": modified or created,
        "name": f"Bad address {value}",
        "pattern": f"[ipv4-addr:value = '{value}']",
        "pattern_type": "stix",
        "valid_from": created,
    }
    if tlp is not None:
        obj["object_marking_refs"] = [tlp.stix_id]
    if recipients is not None:
        obj["x_varsel_recipients"] = recipients
    obj.update(extra)
    return obj


def envelope(*objects: dict[str, Any], **props: Any) -> str:
    """Return a TAXII envelope holding ``objects``."""
    return json.dumps({**props, "objects": list(objects)})
