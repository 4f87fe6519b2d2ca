"""Organisations and their client relations: create, look up, list, link and unlink.

A client relation lets the provider re-share TLP:AMBER to the client; removing it stops those
re-shares at once.
"""

from __future__ import annotations

import re

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from varsel.audit import service as audit
from varsel.clock import utcnow
from varsel.errors import Conflict, InvalidInput, NotFound
from varsel.orgs.models import ClientRelation, Organisation, OrgKind
from varsel.orgs.names import check_display_name, name_key

_COUNTRY = re.compile(r"^[A-Z]{2}$")


def add_org(
    *,
    session: Session,
    name: str,
    country: str,
    kind: str,
    sector: str | None = None,
    subsector: str | None = None,
    actor: str = "cli",
) -> Organisation:
    """Create an organisation; the country is an ISO 3166-1 alpha-2 code."""
    name = check_display_name(name, what="an organisation")
    country = country.strip().upper()
    if not _COUNTRY.match(country):
        raise InvalidInput(
            f"country must be an ISO 3166-1 alpha-2 code such as NO, got {country!r}"
        )
    try:
        kind = OrgKind(kind).value
    except ValueError:
        kinds = ", ".join(k.value for k in OrgKind)
        raise InvalidInput(f"unknown organisation kind {kind!r}; expected one of {kinds}") from None
    key = name_key(name)
    clash = session.execute(select(Organisation.name).where(Organisation.name_key == key)).scalar()
    if clash is not None:
        raise Conflict(
            f"organisation {name!r} already exists"
            if clash == name
            else f"organisation {name!r} can be taken for the existing {clash!r}"
        )
    org = Organisation(
        name=name,
        name_key=key,
        country=country,
        kind=kind,
        sector=sector,
        subsector=subsector,
        created_at=utcnow(),
    )
    session.add(org)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="org.create",
        target=name,
        details={"country": country, "kind": kind, "sector": sector},
    )
    return org


def get_org(*, session: Session, name: str) -> Organisation:
    """Return the organisation called ``name`` or raise NotFound.

    Looked up by its key, so "svea moln ab" finds "Svea Moln AB" — and only it, since no two
    organisations share a key.
    """
    org = session.execute(
        select(Organisation).where(Organisation.name_key == name_key(name))
    ).scalar_one_or_none()
    if org is None:
        raise NotFound(f"no organisation called {name!r}")
    return org


def list_orgs(*, session: Session) -> list[Organisation]:
    """Return every organisation, by name."""
    return list(session.execute(select(Organisation).order_by(Organisation.name)).scalars())


def add_client(*, session: Session, provider: str, client: str, actor: str = "cli") -> None:
    """Register ``client`` as a client of ``provider`` (who may re-share TLP:AMBER to it)."""
    p = get_org(session=session, name=provider)
    c = get_org(session=session, name=client)
    if p.id == c.id:
        raise InvalidInput("an organisation cannot be its own client")
    if session.get(ClientRelation, (p.id, c.id)) is None:
        session.add(ClientRelation(provider_id=p.id, client_id=c.id))
        audit.record(
            session=session, actor=actor, action="org.client.add", target=f"{provider}->{client}"
        )
    session.flush()


def remove_client(*, session: Session, provider: str, client: str, actor: str = "cli") -> None:
    """Remove the client relation; re-shares through it stop at once."""
    p = get_org(session=session, name=provider)
    c = get_org(session=session, name=client)
    session.execute(
        delete(ClientRelation).where(
            ClientRelation.provider_id == p.id, ClientRelation.client_id == c.id
        )
    )
    audit.record(
        session=session, actor=actor, action="org.client.remove", target=f"{provider}->{client}"
    )
