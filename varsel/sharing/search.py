"""Find the objects a principal may read by the words and observable values they hold.

Both reads go through the search terms (:mod:`varsel.sharing.terms`, table ``object_terms``)
and then through :func:`varsel.policy.restrict` on ``stix_objects``: a term never reaches a
reader except as part of an object version that reader may read. Only latest versions are
found. Docs: docs/web.md, "Search" and "Observable look-up".
"""

from __future__ import annotations

import ipaddress
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import and_, exists, select
from sqlalchemy.orm import Session, aliased

from varsel.audit import service as audit
from varsel.observables.extract import Found
from varsel.observables.normalize import Kind
from varsel.orgs.models import Organisation
from varsel.policy import Action, restrict
from varsel.policy.principal import Principal
from varsel.sharing.models import ObjectTerm, StixObject
from varsel.sharing.terms import WORD, address_key, observable_term, words
from varsel.sharing.tlp import TLP

# Beyond this many readable matches a count says "more than": counting every readable match of
# a common word would walk the policy over all of them.
COUNT_CAP: Final = 100
_CHUNK: Final = 500
_TOP: Final = "\U0010ffff"  # sorts after every character, bytewise too (UTF-8 F4 8F BF BF)
MAX_QUERY: Final = 500
MAX_WORDS: Final = 8
MAX_CANDIDATES: Final = 20_000
# The most objects a look-up reports per value, and the most rows it reads in all.
PER_VALUE: Final = 20
MAX_ROWS: Final = 20_000


@dataclass(frozen=True, slots=True)
class ObjectHit:
    """A readable latest object version found by search or look-up."""

    pk: int
    stix_id: str
    type: str
    name: str | None
    tlp: str
    producer: str
    date_added_us: int
    version: str


@dataclass
class ObjectResults:
    """The first readable objects that match, newest first, and how many match (capped)."""

    hits: list[ObjectHit] = field(default_factory=list)
    count: int = 0
    capped: bool = False


_COLUMNS = (
    StixObject.id,
    StixObject.stix_id,
    StixObject.type,
    StixObject.name,
    StixObject.tlp,
    Organisation.name,
    StixObject.date_added_us,
    StixObject.version,
)


def _readable(principal: Principal):  # type: ignore[no-untyped-def]
    query = (
        select(*_COLUMNS)
        .join(Organisation, Organisation.id == StixObject.producer_org_id)
        .where(StixObject.is_latest.is_(True))
    )
    return restrict(query, principal, Action.READ)


def _word_terms(terms: type[ObjectTerm] | Any, word: str, prefix: bool) -> Any:
    if prefix:
        return and_(terms.kind == WORD, terms.value >= word, terms.value < word + _TOP)
    return and_(terms.kind == WORD, terms.value == word)


def _audit(session: Session, principal: Principal, hits: Sequence[ObjectHit]) -> None:
    # Reading a TLP:RED object is audited on every path (sharing.browse).
    red = sorted({f"{h.stix_id}@{h.version}" for h in hits if h.tlp == TLP.RED.value})
    if red:
        audit.record(
            session=session,
            actor=principal.label,
            action="objects.read.red",
            target="search",
            details={"objects": red},
        )


def _readable_matches(
    session: Session, principal: Principal, driver: Any, others: Sequence[Any], want: int
) -> tuple[set[int], bool]:
    """Return up to ``want`` readable latest object ids whose terms meet ``driver`` (and each of
    ``others``), newest first, and whether more candidates were left unexamined.

    Two steps, the same on both databases: candidates from the term index alone, newest first
    (``(kind, value, object_pk)`` hands them out in order), then the policy over each batch of
    candidates by primary key. A planner given both in one query may instead walk every object
    backwards and probe the terms (PostgreSQL did, for a rare word). At most
    :data:`MAX_CANDIDATES` candidates are examined: a common word and a reader who may read
    almost nothing stops there (the count is then of the readable ones found so far).
    """
    found: set[int] = set()
    below: int | None = None
    examined = 0
    batch = 200
    while len(found) < want and examined < MAX_CANDIDATES:
        candidates = select(ObjectTerm.object_pk).where(driver, *others)
        if below is not None:
            candidates = candidates.where(ObjectTerm.object_pk < below)
        pks = list(
            dict.fromkeys(
                session.execute(
                    candidates.order_by(ObjectTerm.object_pk.desc()).limit(batch)
                ).scalars()
            )
        )
        if not pks:
            return found, False
        examined += len(pks)
        below = pks[-1]
        readable = restrict(
            select(StixObject.id).where(StixObject.is_latest.is_(True), StixObject.id.in_(pks)),
            principal,
            Action.READ,
        )
        found.update(sorted(session.execute(readable).scalars(), reverse=True)[: want - len(found)])
        batch = min(batch * 4, _CHUNK * 2)
    return found, True


def search_objects(
    *,
    session: Session,
    principal: Principal,
    query: str,
    found: Sequence[Found],
    limit: int = 20,
) -> ObjectResults:
    """Return the readable objects whose name or description holds every word of ``query``
    (the last word as a prefix), that name one of the ``found`` values, or whose id it is;
    newest first, with how many there are (up to :data:`COUNT_CAP`)."""
    terms = words(query)[:MAX_WORDS]
    queries = []
    if terms:
        conditions = [(w, i == len(terms) - 1 and len(w) >= 3) for i, w in enumerate(terms)]
        # Drive by an exact word (a prefix ranges over many words and needs a sort).
        conditions.sort(key=lambda c: c[1])
        driver = _word_terms(ObjectTerm, *conditions[0])
        others = []
        for word, prefix in conditions[1:]:
            other = aliased(ObjectTerm)
            others.append(
                exists(
                    select(other.id).where(
                        other.object_pk == ObjectTerm.object_pk, _word_terms(other, word, prefix)
                    )
                )
            )
        queries.append((driver, others))
    for kind, values in _by_kind(found).items():
        queries.append((and_(ObjectTerm.kind == kind, ObjectTerm.value.in_(values)), []))
    ids: set[int] = set()
    for driver, others in queries:
        # Whether the walk was cut short is not shown: it would tell that many objects the
        # reader may not read hold the word. The count is then of what was found.
        matched, _ = _readable_matches(session, principal, driver, others, COUNT_CAP + 1)
        ids.update(matched)
    text = query.strip()
    if "--" in text and " " not in text:
        by_id = restrict(
            select(StixObject.id).where(StixObject.is_latest.is_(True), StixObject.stix_id == text),
            principal,
            Action.READ,
        )
        ids.update(session.execute(by_id).scalars())
    if not ids:
        return ObjectResults()
    newest = sorted(ids, reverse=True)[:limit]
    rows = session.execute(_readable(principal).where(StixObject.id.in_(newest))).all()
    hits = sorted((ObjectHit(*r) for r in rows), key=lambda h: -h.pk)
    _audit(session, principal, hits)
    return ObjectResults(hits, min(len(ids), COUNT_CAP), len(ids) > COUNT_CAP)


def _by_kind(found: Sequence[Found]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for item in found:
        kind, value, _, _ = observable_term(item.kind, item.value)
        grouped.setdefault(kind, []).append(value)
    return grouped


@dataclass(frozen=True, slots=True)
class Mention:
    """A readable object that names a looked-up value: exactly, or as a block holding it, or
    an address inside a looked-up block (``via`` is then the other value)."""

    hit: ObjectHit
    via: str | None = None


@dataclass
class Known:
    """What the reader may know about one looked-up value."""

    found: Found
    mentions: list[Mention] = field(default_factory=list)
    more: bool = False


def lookup(*, session: Session, principal: Principal, found: Sequence[Found]) -> list[Known]:
    """Return, per value (in order), the readable latest objects that mention it.

    An address is also found in the blocks that hold it, and a block finds the addresses
    inside it (at most :data:`PER_VALUE` of each).
    """
    results = [Known(item) for item in found]
    # (term kind, canonical value) -> indexes into results
    wanted: dict[tuple[str, str], list[int]] = {}
    for idx, item in enumerate(found):
        kind, value, _, _ = observable_term(item.kind, item.value)
        wanted.setdefault((kind, value), []).append(idx)
    # pk -> [(result index, via)]
    links: dict[int, list[tuple[int, str | None]]] = {}
    by_kind: dict[str, list[str]] = {}
    for kind, value in wanted:
        by_kind.setdefault(kind, []).append(value)
    for kind, values in by_kind.items():
        for start in range(0, len(values), _CHUNK):
            rows = session.execute(
                select(ObjectTerm.object_pk, ObjectTerm.value)
                .where(
                    ObjectTerm.kind == kind,
                    ObjectTerm.value.in_(values[start : start + _CHUNK]),
                )
                .limit(MAX_ROWS)
            )
            for pk, value in rows:
                for idx in wanted[(kind, value)]:
                    links.setdefault(pk, []).append((idx, None))
    _blocks_holding(session, found, links)
    _addresses_inside(session, found, links)
    if not links:
        return results
    pks = sorted(links)[:MAX_ROWS]
    readable: list[ObjectHit] = []
    for start in range(0, len(pks), _CHUNK):
        readable.extend(
            ObjectHit(*r)
            for r in session.execute(
                _readable(principal).where(StixObject.id.in_(pks[start : start + _CHUNK]))
            )
        )
    readable.sort(key=lambda h: (-h.date_added_us, -h.pk))
    for hit in readable:
        for idx, via in links[hit.pk]:
            known = results[idx]
            if len(known.mentions) >= PER_VALUE:
                known.more = True
            elif all(m.hit.pk != hit.pk for m in known.mentions):
                known.mentions.append(Mention(hit, via))
    _audit(session, principal, [m.hit for k in results for m in k.mentions])
    return results


def _blocks_holding(
    session: Session, found: Sequence[Found], links: dict[int, list[tuple[int, str | None]]]
) -> None:
    """Link each looked-up address to the stored blocks that hold it."""
    # (address key, result index), sorted: a block's addresses are one bisected slice.
    keyed = sorted(
        (observable_term(item.kind, item.value)[2] or "", idx)
        for idx, item in enumerate(found)
        if item.kind in ("ipv4", "ipv6") and "/" not in item.value
    )
    for version in ("4", "6"):
        family = [(key, idx) for key, idx in keyed if key.startswith(version)]
        if not family:
            continue
        # Blocks whose start is at or below the highest address and whose end reaches the
        # lowest: an index range on (kind, lo), then exact containment here.
        rows = session.execute(
            select(ObjectTerm.object_pk, ObjectTerm.value, ObjectTerm.lo, ObjectTerm.hi)
            .where(
                ObjectTerm.kind == Kind.CIDR.value,
                ObjectTerm.lo >= version,
                ObjectTerm.lo <= family[-1][0],
                ObjectTerm.hi >= family[0][0],
            )
            .limit(MAX_ROWS)
        )
        keys = [key for key, _ in family]
        for pk, block, lo, hi in rows:
            for _, idx in family[bisect_left(keys, lo or "") : bisect_right(keys, hi or "")]:
                links.setdefault(pk, []).append((idx, block))


def _addresses_inside(
    session: Session, found: Sequence[Found], links: dict[int, list[tuple[int, str | None]]]
) -> None:
    """Link each looked-up block to (some of) the stored addresses inside it."""
    blocks = [
        (idx, ipaddress.ip_network(item.value))
        for idx, item in enumerate(found)
        if item.kind in ("ipv4", "ipv6") and "/" in item.value
    ]
    for idx, network in blocks[:50]:
        rows = session.execute(
            select(ObjectTerm.object_pk, ObjectTerm.value)
            .where(
                ObjectTerm.kind == Kind.IP.value,
                ObjectTerm.lo >= address_key(network[0]),
                ObjectTerm.lo <= address_key(network[-1]),
            )
            .limit(PER_VALUE * 10)
        )
        for pk, address in rows:
            links.setdefault(pk, []).append((idx, address))
