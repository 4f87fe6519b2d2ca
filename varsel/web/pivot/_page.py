"""The object page itself: what the object is called, what it relates to, what I may do."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import Response

from varsel.http.deps import DbSession
from varsel.incidents import flows as incident_flows
from varsel.matching import aggregates as aggregating
from varsel.matching.settings import sighting_k
from varsel.orgs.models import ClientRelation
from varsel.policy import Action, restrict
from varsel.policy.principal import Principal
from varsel.sharing import browse
from varsel.sharing import service as sharing
from varsel.sharing.browse import Hit
from varsel.sharing.models import Collection, StixObject
from varsel.sharing.tlp import TLP, level_of_marking
from varsel.sharing.validation import SCO_TYPES
from varsel.web import graph, names, pages, queries
from varsel.web.i18n import Translator, request_lang
from varsel.web.names import Named
from varsel.web.render import render
from varsel.web.sessions import SignedIn

router = APIRouter()
NOTICES = ("object_linked", "object_reshared", "object_revoked", "object_copied")
RELATED_LIMIT = 200


@dataclass(frozen=True)
class Ref:
    """A reference as the page shows it: a name and a link, or "an object you cannot see"."""

    label: str
    href: str | None
    kind: str | None = None


@dataclass(frozen=True)
class Property:
    """One property of an object as the page shows it."""

    name: str
    text: str | None = None
    refs: tuple[Ref, ...] = ()
    block: str | None = None
    markings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Link:
    """A relationship seen from this object: its type, direction and the object at the end."""

    relationship_id: str
    relationship_type: str
    other: Ref
    outgoing: bool


@dataclass(frozen=True)
class OwnSighting:
    """A sighting of this object my organisation shared."""

    stix_id: str
    count: int | None
    first_seen: str | None
    last_seen: str | None
    where: tuple[Ref, ...]


def _is_ref(value: object) -> bool:
    return isinstance(value, str) and names.STIX_ID.fullmatch(value) is not None


def _ref(ref: str, known: dict[str, Named], hidden: str) -> Ref:
    named = known.get(ref)
    if named is None:
        return Ref(hidden, None)
    href = f"/objects/{named.stix_id}" if named.stored else None
    return Ref(named.name, href, names.kind_of(named.type))


def properties(
    obj: dict[str, Any], known: dict[str, Named], readable: set[str], hidden: str
) -> list[Property]:
    """Return the properties of ``obj`` for display; references become names (or hidden)."""
    shown = []
    for name, value in obj.items():
        if (
            name == "object_marking_refs"
            and isinstance(value, list)
            and all(isinstance(ref, str) and level_of_marking(ref) for ref in value)
        ):
            # TLP markings are well known and not stored: show the label, not a dead link.
            levels = [level_of_marking(ref) for ref in value]
            shown.append(Property(name, markings=tuple(lv.value for lv in levels if lv)))
        elif name == "id":
            continue  # shown under the title
        elif name.endswith("_ref") and _is_ref(value):
            shown.append(Property(name, refs=(_ref(value, known, hidden),)))
        elif name.endswith("_refs") and isinstance(value, list) and all(map(_is_ref, value)):
            shown.append(Property(name, refs=tuple(_ref(r, known, hidden) for r in value)))
        elif isinstance(value, list) and all(isinstance(item, str) for item in value):
            shown.append(Property(name, text=names.redact(", ".join(value), readable, hidden)))
        elif isinstance(value, dict | list):
            text = json.dumps(value, indent=2, ensure_ascii=False)
            shown.append(Property(name, block=names.redact(text, readable, hidden)))
        else:
            text = str(value).lower() if isinstance(value, bool) else str(value)
            shown.append(Property(name, text=names.redact(text, readable, hidden)))
    return shown


def relationships(
    db: Session, principal: Principal, stix_id: str
) -> list[tuple[str, str, str, bool, dict[str, Any]]]:
    """Return (relationship id, type, other end, outgoing, relationship) for readable ones."""
    out = []
    for rel_id, raw in queries.relationships(
        session=db, principal=principal, stix_id=stix_id, limit=RELATED_LIMIT
    ):
        try:
            rel = json.loads(raw)
        except ValueError:
            continue
        source, target = rel.get("source_ref"), rel.get("target_ref")
        kind = str(rel.get("relationship_type", "related-to"))
        if source == stix_id and isinstance(target, str):
            out.append((rel_id, kind, target, True, rel))
        elif target == stix_id and isinstance(source, str):
            out.append((rel_id, kind, source, False, rel))
    return out


def _own_sightings(db: Session, principal: Principal, stix_id: str) -> list[dict[str, Any]]:
    """Return the latest sightings of ``stix_id`` that my organisation shared and I may read."""
    needle = "%" + stix_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    query = restrict(
        select(StixObject.raw).where(
            StixObject.type == "sighting",
            StixObject.is_latest.is_(True),
            StixObject.producer_org_id == principal.org_id,
            StixObject.raw.like(needle, escape="\\"),
        ),
        principal,
        Action.READ,
    ).order_by(StixObject.date_added_us.desc())
    found: dict[str, dict[str, Any]] = {}
    for (raw,) in db.execute(query.limit(RELATED_LIMIT)):
        try:
            obj = json.loads(raw)
        except ValueError:
            continue
        if obj.get("sighting_of_ref") == stix_id:
            found.setdefault(str(obj.get("id")), obj)
    return list(found.values())


def _clients(db: Session, principal: Principal) -> list[str]:
    """Return the names of my organisation's registered clients (for TLP:AMBER re-shares)."""
    ids = set(
        db.execute(
            select(ClientRelation.client_id).where(ClientRelation.provider_id == principal.org_id)
        ).scalars()
    )
    return [o.name for o in queries.organisations(session=db, principal=principal) if o.id in ids]


def writable(db: Session, principal: Principal) -> dict[str, Collection]:
    """Return the collections I may write to, by id."""
    return {c.id: c for c, w in sharing.visible_collections(session=db, principal=principal) if w}


def _own(db: Session, principal: Principal, latest: Hit) -> bool:
    """Return whether my organisation produced ``latest`` (only it may add versions)."""
    row = db.get(StixObject, latest.pk)
    return row is not None and row.producer_org_id == principal.org_id


def copy_targets(db: Session, principal: Principal, versions: list[Hit]) -> list[Collection]:
    """Return the writable collections the producer could share this object into as well."""
    if not _own(db, principal, versions[-1]):
        return []
    held = {v.collection_id for v in versions}
    return [c for cid, c in writable(db, principal).items() if cid not in held]


def may_revoke(db: Session, principal: Principal, latest: Hit, obj: dict[str, Any]) -> bool:
    """Return whether a revoked version would be accepted: the producer's, writable, an SDO."""
    if latest.type in SCO_TYPES or obj.get("revoked") is True:
        return False  # cyber-observables have no ``revoked`` property (STIX 2.1 §6)
    return _own(db, principal, latest) and latest.collection_id in writable(db, principal)


def _name(obj: dict[str, Any], known: dict[str, Named], hidden: str) -> str:
    """Return the object's name; a relationship or sighting by the names of what it joins."""

    def end(ref: object) -> str:
        named = known.get(ref) if isinstance(ref, str) else None
        return named.name if named else hidden

    if obj.get("type") == "relationship":
        kind = str(obj.get("relationship_type") or "related-to")
        return f"{end(obj.get('source_ref'))} {kind} {end(obj.get('target_ref'))}"
    if obj.get("type") == "sighting":
        return end(obj.get("sighting_of_ref"))
    return names.display_name(obj)


def _versions(db: Session, principal: Principal, stix_id: str) -> list[Hit]:
    versions = browse.versions_of(session=db, principal=principal, stix_id=stix_id)
    db.commit()  # reading TLP:RED objects is audited
    return versions


def show(
    request: Request,
    db: Session,
    principal: Principal,
    stix_id: str,
    v: int | None = None,
    *,
    status_code: int = 200,
    error: str | None = None,
    error_at: str | None = None,
) -> Response:
    """Render the object page (``status_code`` and ``error`` beside form ``error_at``)."""
    tr = Translator(request_lang(request))
    hidden = tr.gettext("an object you cannot see")
    versions = _versions(db, principal, stix_id)
    index = len(versions) - 1 if v is None or not 0 <= v < len(versions) else v
    shown, latest = versions[index], versions[-1]
    obj = json.loads(shown.raw)
    latest_obj = obj if index == len(versions) - 1 else json.loads(latest.raw)
    rels = relationships(db, principal, stix_id)
    sightings = _own_sightings(db, principal, stix_id)
    mentioned = names.ids_in(obj) | {other for _, _, other, _, _ in rels}
    for sighting in sightings:
        mentioned |= names.ids_in(sighting.get("where_sighted_refs") or [])
    known = names.resolve(session=db, principal=principal, ids=mentioned)
    readable = set(known) | {stix_id} | {r[0] for r in rels}
    links = [Link(rid, kind, _ref(other, known, hidden), out) for rid, kind, other, out, _ in rels]
    name = _name(obj, known, hidden)
    title = tr.gettext("%(kind)s: %(name)s", kind=names.kind_of(shown.type), name=name)
    picture = graph.neighbourhood(
        name,
        [graph.Node(k.other.label, k.other.href, k.relationship_type, k.outgoing) for k in links],
        title=tr.gettext("Relationships of %(name)s", name=name),
        description=tr.gettext(
            "%(n)s related objects; the list beside the graph names each of them.", n=len(links)
        ),
    )
    raw = json.dumps(obj, indent=2, ensure_ascii=False)
    shown_raw = names.redact(raw, readable, hidden)
    titles = {
        c.id: c.title for c, _ in sharing.visible_collections(session=db, principal=principal)
    }
    aggregate = (
        aggregating.aggregates(session=db, principal=principal, indicator_ids=[stix_id])
        if shown.type == "indicator"
        else []
    )
    linkable = incident_flows.linkable_incidents(session=db, principal=principal, stix_id=stix_id)
    clients = _clients(db, principal) if latest.tlp == TLP.AMBER.value else []
    return render(
        request,
        "object.html",
        status_code=status_code,
        stix_id=stix_id,
        heading=title,
        kind=names.kind_of(shown.type),
        name=name,
        versions=versions,
        index=index,
        shown=shown,
        obj=obj,
        props=properties(obj, known, readable, hidden),
        links=links,
        graph=picture if links else None,
        titles=titles,
        raw=shown_raw,
        redacted=shown_raw != raw,
        incidents=incident_flows.linked_incidents(session=db, principal=principal, stix_id=stix_id),
        linkable=linkable,
        own_sightings=[
            OwnSighting(
                stix_id=str(s.get("id")),
                count=s.get("count") if isinstance(s.get("count"), int) else None,
                first_seen=s.get("first_seen"),
                last_seen=s.get("last_seen"),
                where=tuple(
                    _ref(r, known, hidden) for r in s.get("where_sighted_refs") or [] if _is_ref(r)
                ),
            )
            for s in sightings
        ],
        sightings=aggregate[0] if aggregate else None,
        is_indicator=shown.type == "indicator",
        k=sighting_k(),
        clients=clients,
        may_revoke=may_revoke(db, principal, latest, latest_obj),
        copy_targets=copy_targets(db, principal, versions),
        error=error,
        error_at=error_at,
        notice=pages.notice(request, NOTICES),
    )


@router.get("/objects/{stix_id}")
def object_page(
    request: Request, db: DbSession, principal: SignedIn, stix_id: str, v: int | None = None
) -> Response:
    """Show one object by name: relationships, incidents, sightings, versions and actions."""
    return show(request, db, principal, stix_id, v)
