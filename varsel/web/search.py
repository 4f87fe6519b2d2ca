"""Search (the box in the header) and the observable look-up, for pages and the REST API.

``/search?q=`` finds objects (by the words of their name and description, the observable
values they name, or their id), incidents (by title and summary) and, for organisation and hub
administrators, people and clearances of the register. ``/lookup`` takes pasted text, extracts
its observables (:mod:`varsel.observables.extract`) and shows per value the readable objects
that mention it. Every read is narrowed by :func:`varsel.policy.restrict`: through
:mod:`varsel.sharing.search`, the incident service and the clearance register. The REST API
answers with :func:`search_json` and :func:`lookup_json`, the same results for the same reader
(tests/web/test_parity.py). Docs: docs/web.md, "Search" and "Observable look-up".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from fastapi import APIRouter, Request
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import Response

from varsel.clearances import service as register
from varsel.clearances.models import Clearance, Person
from varsel.clock import us_to_rfc3339
from varsel.error_map import status_of
from varsel.errors import InvalidInput, TooLarge
from varsel.http.deps import DbSession
from varsel.incidents import service as incidents
from varsel.observables.extract import Found, extract
from varsel.orgs.models import Role
from varsel.policy import Action, restrict
from varsel.policy.principal import Principal
from varsel.sharing import search as finding
from varsel.sharing.search import Known, ObjectResults
from varsel.web.render import render
from varsel.web.sessions import CheckedForm, SignedIn

router = APIRouter()

MAX_QUERY: Final = 500
MAX_TEXT: Final = 1_000_000  # characters of pasted text
MAX_VALUES: Final = 5_000
SHOWN: Final = 20


@dataclass
class Group:
    """Matches of one kind: the first :data:`SHOWN` and how many there are."""

    items: list[Any] = field(default_factory=list)
    count: int = 0
    capped: bool = False


@dataclass
class PersonMatch:
    """A person of the register and the levels of their clearances, as a match shows them."""

    person: Person
    levels: list[str]


@dataclass
class SearchResults:
    """Everything one query found that the reader may see, by kind."""

    query: str
    objects: ObjectResults
    incidents: Group
    people: Group | None  # None: the reader has no register to search

    @property
    def total(self) -> int:
        """Return how many matches there are in all (counting capped groups at the cap)."""
        return self.objects.count + self.incidents.count + (self.people.count if self.people else 0)


def _words(text: str) -> list[str]:
    return text.casefold().split()


def _holds(words: list[str], *texts: str | None) -> bool:
    haystack = " ".join(t for t in texts if t).casefold()
    return all(w in haystack for w in words)


def _incidents(db: Session, principal: Principal, words: list[str]) -> Group:
    # Incidents are few beside objects (thousands, not millions): the readable ones are
    # matched here, in Python, so both databases answer alike (no collation in play).
    rows = [
        i
        for i in incidents.list_incidents(session=db, principal=principal)
        if _holds(words, i.title, i.summary, f"#{i.id}")
    ]
    return Group(rows[:SHOWN], len(rows))


def may_search_register(principal: Principal) -> bool:
    """Return whether ``principal`` has the clearance register to search (its officers)."""
    return principal.role in (Role.ORG_ADMIN, Role.HUB_ADMIN)


def _people(db: Session, principal: Principal, words: list[str]) -> Group | None:
    if not may_search_register(principal):
        return None
    levels: dict[int, list[str]] = {}
    readable = restrict(
        select(Clearance.person_id, Clearance.level, Clearance.authority), principal, Action.READ
    )
    for person_id, level, authority in db.execute(readable.order_by(Clearance.id)):
        levels.setdefault(person_id, []).append(f"{level} ({authority})")
    matches = [
        PersonMatch(p, levels.get(p.id, []))
        for p in register.list_persons(session=db, principal=principal)
        if _holds(words, p.name, *levels.get(p.id, []))
    ]
    return Group(matches[:SHOWN], len(matches))


def parse_query(raw: str | None) -> str:
    """Return the search text, or raise InvalidInput when it is too long or holds NUL."""
    text = (raw or "").strip()
    if len(text) > MAX_QUERY:
        raise InvalidInput(f"the search text has {len(text)} characters; at most {MAX_QUERY}")
    if "\x00" in text:
        raise InvalidInput("the search text holds a NUL character")
    return text


def find(*, session: Session, principal: Principal, query: str) -> SearchResults:
    """Return what ``query`` finds among what ``principal`` may read."""
    words = _words(query)
    if not words:
        return SearchResults(query, ObjectResults(), Group(), None)
    objects = finding.search_objects(
        session=session, principal=principal, query=query, found=extract(query), limit=SHOWN
    )
    return SearchResults(
        query, objects, _incidents(session, principal, words), _people(session, principal, words)
    )


def parse_text(text: str) -> list[Found]:
    """Return the observables of pasted text, or raise TooLarge/InvalidInput before work."""
    if len(text) > MAX_TEXT:
        raise TooLarge(f"the text has {len(text)} characters; at most {MAX_TEXT}")
    found = extract(text)
    if len(found) > MAX_VALUES:
        raise TooLarge(f"the text holds {len(found)} values; at most {MAX_VALUES} at once")
    return found


def look_up(*, session: Session, principal: Principal, text: str) -> list[Known]:
    """Return, per observable in ``text``, what ``principal`` may know about it."""
    return finding.lookup(session=session, principal=principal, found=parse_text(text))


def _object_json(hit: finding.ObjectHit) -> dict[str, Any]:
    return {
        "id": hit.stix_id,
        "type": hit.type,
        "name": hit.name,
        "tlp": hit.tlp,
        "producer": hit.producer,
        "date_added": us_to_rfc3339(hit.date_added_us),
    }


def search_json(results: SearchResults) -> dict[str, Any]:
    """Return search results as the REST API answers them."""
    body: dict[str, Any] = {
        "query": results.query,
        "objects": {
            "count": results.objects.count,
            "capped": results.objects.capped,
            "items": [_object_json(h) for h in results.objects.hits],
        },
        "incidents": {
            "count": results.incidents.count,
            "items": [
                {"id": i.id, "title": i.title, "tlp": i.tlp, "status": i.status}
                for i in results.incidents.items
            ],
        },
    }
    if results.people is not None:
        body["people"] = {
            "count": results.people.count,
            "items": [
                {"id": m.person.id, "name": m.person.name, "clearances": m.levels}
                for m in results.people.items
            ],
        }
    return body


def lookup_json(known: list[Known]) -> dict[str, Any]:
    """Return look-up results as the REST API answers them."""
    return {
        "values": [
            {
                "kind": k.found.kind,
                "value": k.found.value,
                "raw": k.found.raw,
                "known": [{**_object_json(m.hit), "via": m.via} for m in k.mentions],
                "more": k.more,
            }
            for k in known
        ]
    }


@router.get("/search")
def search_page(request: Request, db: DbSession, principal: SignedIn) -> Response:
    """Show what the query in the header's search box finds, grouped by kind."""
    raw = request.query_params.get("q", "")
    try:
        query = parse_query(raw)
    except InvalidInput as exc:
        return render(
            request,
            "search.html",
            status_code=status_of(exc),
            q=raw[:MAX_QUERY],
            results=None,
            error=exc.message,
        )
    results = find(session=db, principal=principal, query=query) if query else None
    db.commit()  # reading TLP:RED objects is audited
    return render(request, "search.html", q=query, results=results, error=None)


@router.get("/lookup")
def lookup_page(request: Request, principal: SignedIn) -> Response:
    """Show the form to paste text whose observables to look up."""
    return render(request, "lookup.html", text="", known=None, error=None)


@router.post("/lookup")
def lookup_submit(
    request: Request, db: DbSession, principal: SignedIn, form: CheckedForm
) -> Response:
    """Look up the observables of the pasted text and show what I may know of each."""
    text = str(form.get("text") or "")
    try:
        known = look_up(session=db, principal=principal, text=text)
    except (InvalidInput, TooLarge) as exc:
        return render(
            request,
            "lookup.html",
            status_code=status_of(exc),
            text=text[:MAX_TEXT],
            known=None,
            error=exc.message,
        )
    db.commit()  # reading TLP:RED objects is audited
    return render(request, "lookup.html", text=text, known=known, error=None)
