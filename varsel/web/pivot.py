"""One object's page, to pivot from: what it is, what it relates to, where it is used, and acts.

The page shows the object by name (:mod:`varsel.web.names`), its relationships as a graph
(:mod:`varsel.web.graph`) and a list, the incidents that link it, sightings (the reader's own
and the community's k-anonymous aggregate), its versions, and the actions the policy would let
the reader take — link it to an incident, re-share it to a client, revoke it, export it. An
action the policy would refuse is not offered; the POST handlers still go through the same
services, which decide again.

Every id on the page is either of an object the reader may read (shown by its name) or is
replaced by "an object you cannot see": the raw JSON too, which says so when it was redacted.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import Response

from varsel.audit import service as audit
from varsel.error_map import status_of
from varsel.errors import Forbidden, InvalidInput, VarselError
from varsel.http.deps import DbSession
from varsel.incidents import flows as incident_flows
from varsel.matching import aggregates as aggregating
from varsel.matching.settings import sighting_k
from varsel.orgs.models import ClientRelation
from varsel.policy import Action, restrict
from varsel.policy.principal import Principal
from varsel.sharing import browse
from varsel.sharing import ingest as ingesting
from varsel.sharing import service as sharing
from varsel.sharing.browse import Hit
from varsel.sharing.models import Collection, StixObject
from varsel.sharing.tlp import TLP, level_of_marking
from varsel.sharing.validation import SCO_TYPES
from varsel.web import graph, names, pages, queries
from varsel.web.i18n import Translator, negotiate
from varsel.web.names import Named
from varsel.web.render import SECURITY_HEADERS, render
from varsel.web.sessions import CheckedForm, SignedIn

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


def _relationships(
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


def _writable(db: Session, principal: Principal) -> dict[str, Collection]:
    return {c.id: c for c, w in sharing.visible_collections(session=db, principal=principal) if w}


def _own(db: Session, principal: Principal, latest: Hit) -> bool:
    """Return whether my organisation produced ``latest`` (only it may add versions)."""
    row = db.get(StixObject, latest.pk)
    return row is not None and row.producer_org_id == principal.org_id


def _copy_targets(db: Session, principal: Principal, versions: list[Hit]) -> list[Collection]:
    """Return the writable collections the producer could share this object into as well."""
    if not _own(db, principal, versions[-1]):
        return []
    held = {v.collection_id for v in versions}
    return [c for cid, c in _writable(db, principal).items() if cid not in held]


def _may_revoke(db: Session, principal: Principal, latest: Hit, obj: dict[str, Any]) -> bool:
    """Return whether a revoked version would be accepted: the producer's, writable, an SDO."""
    if latest.type in SCO_TYPES or obj.get("revoked") is True:
        return False  # cyber-observables have no ``revoked`` property (STIX 2.1 §6)
    return _own(db, principal, latest) and latest.collection_id in _writable(db, principal)


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


def _page(
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
    tr = Translator(negotiate(request.headers.get("accept-language")))
    hidden = tr.gettext("an object you cannot see")
    versions = _versions(db, principal, stix_id)
    index = len(versions) - 1 if v is None or not 0 <= v < len(versions) else v
    shown, latest = versions[index], versions[-1]
    obj = json.loads(shown.raw)
    latest_obj = obj if index == len(versions) - 1 else json.loads(latest.raw)
    rels = _relationships(db, principal, stix_id)
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
        may_revoke=_may_revoke(db, principal, latest, latest_obj),
        copy_targets=_copy_targets(db, principal, versions),
        error=error,
        error_at=error_at,
        notice=pages.notice(request, NOTICES),
    )


@router.get("/objects/{stix_id}")
def object_page(
    request: Request, db: DbSession, principal: SignedIn, stix_id: str, v: int | None = None
) -> Response:
    """Show one object by name: relationships, incidents, sightings, versions and actions."""
    return _page(request, db, principal, stix_id, v)


def _act(
    request: Request,
    db: Session,
    principal: Principal,
    stix_id: str,
    at: str,
    notice: str,
    work: Any,
) -> Response:
    """Run ``work`` as one unit of work; redirect with a notice, or show the error at ``at``."""
    try:
        work()
    except VarselError as exc:
        db.rollback()
        return _page(
            request,
            db,
            principal,
            stix_id,
            status_code=status_of(exc),
            error=exc.message,
            error_at=at,
        )
    db.commit()
    return pages.done(f"/objects/{stix_id}", notice, f"#{at}")


def _latest(db: Session, principal: Principal, stix_id: str) -> Hit:
    return browse.versions_of(session=db, principal=principal, stix_id=stix_id)[-1]


@router.post("/objects/{stix_id}/link")
def link(
    request: Request, db: DbSession, principal: SignedIn, form: CheckedForm, stix_id: str
) -> Response:
    """Link this object to an incident picked from those I may change."""

    def work() -> None:
        raw = pages.field(form, "incident")
        if not raw.isdigit() or not 0 < int(raw) < 2**31:
            raise InvalidInput("choose an incident from the list")
        latest = _latest(db, principal, stix_id)
        incident_flows.link_object(
            session=db,
            principal=principal,
            incident_id=int(raw),
            stix_id=stix_id,
            collection_id=latest.collection_id,
            note=pages.field(form, "note")[:1000],
        )

    return _act(request, db, principal, stix_id, "incidents", "object_linked", work)


@router.post("/objects/{stix_id}/reshare")
def reshare(
    request: Request, db: DbSession, principal: SignedIn, form: CheckedForm, stix_id: str
) -> Response:
    """Re-share this TLP:AMBER object with one of my organisation's registered clients."""

    def work() -> None:
        client = pages.field(form, "client")[:200]
        if not client:
            raise InvalidInput("choose a client to re-share with")
        latest = _latest(db, principal, stix_id)
        browse.reshare(
            session=db,
            principal=principal,
            collection_id=latest.collection_id,
            stix_id=stix_id,
            client=client,
        )

    return _act(request, db, principal, stix_id, "actions", "object_reshared", work)


@router.post("/objects/{stix_id}/copy")
def copy(
    request: Request, db: DbSession, principal: SignedIn, form: CheckedForm, stix_id: str
) -> Response:
    """Share my organisation's object into another collection it may write to as well."""

    def work() -> None:
        versions = browse.versions_of(session=db, principal=principal, stix_id=stix_id)
        wanted = pages.field(form, "collection")[:36]
        target = next((c for c in _copy_targets(db, principal, versions) if c.id == wanted), None)
        if target is None:
            raise Forbidden(
                "choose a collection you may write to that does not hold this object yet; "
                "only the organisation that produced an object may share it again"
            )
        result = ingesting.ingest(
            session=db,
            collection=target,
            principal=principal,
            body=json.dumps({"objects": [json.loads(versions[-1].raw)]}),
        )
        if result.failures:
            raise InvalidInput(result.failures[0].message or "the object was rejected")

    return _act(request, db, principal, stix_id, "actions", "object_copied", work)


def _stamp(previous: object) -> str:
    """Return a ``modified`` time after both now and ``previous`` (STIX 2.1 §3.2)."""
    now = datetime.now(UTC)
    text = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
    if isinstance(previous, str) and previous >= text:
        # The clock is behind the last version: one millisecond after it keeps the order.
        try:
            then = datetime.fromisoformat(previous.replace("Z", "+00:00"))
        except ValueError:
            return text
        later = then.timestamp() + 0.001
        when = datetime.fromtimestamp(later, UTC)
        return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
    return text


@router.post("/objects/{stix_id}/revoke")
def revoke(
    request: Request, db: DbSession, principal: SignedIn, form: CheckedForm, stix_id: str
) -> Response:
    """Share a new version of this object marked ``revoked`` (the producer's organisation)."""

    def work() -> None:
        latest = _latest(db, principal, stix_id)
        obj = json.loads(latest.raw)
        if not _may_revoke(db, principal, latest, obj):
            raise Forbidden(
                "only the organisation that produced an object may revoke it, in a "
                "collection it may write to, and only once"
            )
        obj["revoked"] = True
        obj["modified"] = _stamp(obj.get("modified"))
        coll = _writable(db, principal)[latest.collection_id]
        result = ingesting.ingest(
            session=db, collection=coll, principal=principal, body=json.dumps({"objects": [obj]})
        )
        if result.failures:
            raise InvalidInput(result.failures[0].message or "the revoked version was rejected")

    return _act(request, db, principal, stix_id, "actions", "object_revoked", work)


def _raws(db: Session, principal: Principal, ids: set[str]) -> list[tuple[str, str, str]]:
    """Return (id, TLP, raw) of the latest readable version of each of ``ids``."""
    wanted = sorted(i for i in ids if not names.is_marking(i))
    out: dict[str, tuple[str, str, str]] = {}
    for start in range(0, len(wanted), 500):
        query = restrict(
            select(StixObject.stix_id, StixObject.tlp, StixObject.raw).where(
                StixObject.stix_id.in_(wanted[start : start + 500]),
                StixObject.is_latest.is_(True),
            ),
            principal,
            Action.READ,
        ).order_by(StixObject.date_added_us.desc())
        for row in db.execute(query):
            out.setdefault(row[0], (row[0], row[1], row[2]))
    return list(out.values())


@router.get("/objects/{stix_id}/bundle")
def bundle(
    request: Request, db: DbSession, principal: SignedIn, stix_id: str, related: str = ""
) -> Response:
    """Download this object (with ``related=yes``, and its readable neighbours) as a bundle.

    The objects are as their producers shared them, as TAXII serves them: a reference to an
    object the reader may not read stays in the object, but that object is not in the bundle.
    """
    latest = browse.versions_of(session=db, principal=principal, stix_id=stix_id)[-1]
    rows = [(stix_id, latest.tlp, latest.raw)]
    if related == "yes":
        obj = json.loads(latest.raw)
        rels = _relationships(db, principal, stix_id)
        others = (names.ids_in(obj) | {r[2] for r in rels} | {r[0] for r in rels}) - {stix_id}
        rows += _raws(db, principal, others)
    red = [sid for sid, tlp, _ in rows if tlp == TLP.RED.value]
    audit.record(
        session=db,
        actor=principal.label,
        action="objects.export",
        target=stix_id,
        details={"objects": len(rows), "red": red},
    )
    db.commit()
    body = {
        "type": "bundle",
        "id": f"bundle--{uuid.uuid4()}",
        "objects": [json.loads(raw) for _, _, raw in rows],
    }
    filename = stix_id.replace(":", "_") + ("-related" if related == "yes" else "") + ".json"
    headers = {
        **SECURITY_HEADERS,
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "private, no-store",
    }
    return Response(
        content=json.dumps(body, indent=2, ensure_ascii=False),
        media_type="application/stix+json;version=2.1",
        headers=headers,
    )


__all__ = ["properties", "router"]
