"""May person P see material classified L by country C, at time T, in this context?

The rules (docs/classification.md states them for security officers; keep the two in step):

1. The material's level maps to a common grade 1-4 (``data/classification.json``).
2. Material above the hub's accreditation ceiling is never shown (nor accepted at ingest).
3. Need-to-know: when the question names a community or an incident, the person's employer
   must be a member of that community or a participant in that incident. Without one, the
   question is about the clearance alone (the TLP and community rules of ``varsel.policy``
   carry need-to-know for stored objects).
4. Grade 1 (RESTRICTED) material of country C needs no clearance when an agreement carrying
   the RESTRICTED clause binds C and the employer's country (clause marked [verify]); NATO
   RESTRICTED and RESTREINT UE need none when the employer's country is a party to the NATO
   or EU agreement on the day (2013/488/EU Art. 7(3)-(4); NATO practice; marked [verify]).
5. Otherwise some clearance of the person must grant it, as it stood at the moment asked
   about: not revoked by then; verified by then (a declared clearance counts for nothing);
   recognised by then where recognition is needed; valid on the day,
   counting both the first and the last valid day in full, in the *issuing* country's time
   zone (the certificate's dates are that country's calendar dates); at least the grade; and
     - for national material of C: of national scope, and issued by C itself, or issued by a
       country bound to C by an agreement in force and recognised by C's authority;
     - for NATO or EU material: of NATO or EU scope, issued by a party to that agreement (the
       issuing country acts as NATO's or the EU's security authority, so no recognition).

:func:`decide` answers one question with reasons; ``condition.read_condition`` expresses
the same rules in SQL for every stored object, because ``restrict()`` has no session to load the
person's clearances with. The tests hold the two against each other and against an oracle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from varsel.clearances import rules
from varsel.clearances.models import (
    Clearance,
    ClearanceState,
    Person,
    RecognitionRequest,
    RecognitionStatus,
    Scope,
)
from varsel.clock import naive
from varsel.orgs.models import CommunityMember, Organisation

GOOD_STATES = (ClearanceState.VERIFIED.value, ClearanceState.RECOGNISED.value)


@dataclass(frozen=True, slots=True)
class Context:
    """What the material belongs to, for need-to-know: a community, an incident, or neither."""

    community_id: int | None = None
    community_name: str | None = None
    incident_org_ids: frozenset[int] | None = None
    incident_label: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer and the reasons for it, in words a security officer would sign."""

    allowed: bool
    reasons: list[str] = field(default_factory=list)
    grade: int | None = None


@dataclass(frozen=True, slots=True)
class Held:
    """A clearance as the decision sees it."""

    id: int
    country: str
    scope: str
    scheme: str
    level_name: str
    level: str
    authority: str
    state: str
    valid_from: date
    valid_until: date
    verified_by: str | None
    revoked: str | None
    recognitions: dict[str, tuple[str, datetime]]  # country -> (by, when), approved only
    # When it was verified and revoked (naive UTC, as stored): a decision as of an earlier
    # moment sees the clearance as it stood then. None means not known (counted as always).
    verified_at: datetime | None = None
    revoked_at: datetime | None = None
    # Every recognition request: (id, country, asked, decided, status), to name one pending.
    requests: tuple[tuple[int, str, datetime, datetime | None, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Subject:
    """The person asked about: name, employer and clearances (no register entry: none)."""

    name: str
    employer_org_id: int
    employer_country: str
    clearances: tuple[Held, ...] = ()
    registered: bool = True


def load_subject(*, session: Session, person: Person) -> Subject:
    """Return what the decision needs to know about ``person``, read now."""
    employer = session.get(Organisation, person.employer_org_id)
    rows = (
        session.execute(
            select(Clearance).where(Clearance.person_id == person.id).order_by(Clearance.id)
        )
        .scalars()
        .all()
    )
    approvals: dict[int, dict[str, tuple[str, datetime]]] = {}
    others: dict[int, list[tuple[int, str, datetime, datetime | None, str]]] = {}
    if rows:
        for rec in session.execute(
            select(RecognitionRequest)
            .where(RecognitionRequest.clearance_id.in_([c.id for c in rows]))
            .order_by(RecognitionRequest.id)
        ).scalars():
            if rec.status == RecognitionStatus.APPROVED.value:
                approvals.setdefault(rec.clearance_id, {})[rec.country] = (
                    rec.decided_by or "",
                    rec.decided_at or datetime.min,
                )
            others.setdefault(rec.clearance_id, []).append(
                (rec.id, rec.country, rec.requested_at, rec.decided_at, rec.status)
            )
    held = tuple(
        Held(
            id=c.id,
            country=c.country,
            scope=c.scope,
            scheme=c.scheme,
            level_name=c.level_name,
            level=c.level,
            authority=c.authority,
            state=c.state,
            valid_from=c.valid_from,
            valid_until=c.valid_until,
            verified_by=c.verified_by,
            revoked=(
                f"revoked {c.revoked_at:%Y-%m-%d} by {c.revoked_by}" if c.revoked_at else None
            ),
            recognitions=approvals.get(c.id, {}),
            verified_at=c.verified_at,
            revoked_at=c.revoked_at,
            requests=tuple(others.get(c.id, ())),
        )
        for c in rows
    )
    return Subject(
        name=person.name,
        employer_org_id=person.employer_org_id,
        employer_country=employer.country if employer else "",
        clearances=held,
    )


def _grade_of(held: Held) -> int:
    try:
        return rules.level(held.scheme, held.level_name).grade
    except rules.UnknownLevel:
        return 0


def local_day(country: str, at: datetime) -> date:
    """Return the calendar date of ``at`` in ``country``'s time zone."""
    return at.astimezone(rules.time_zone(country)).date()


def _fmt_grade(grade: int) -> str:
    return f"grade {grade} ({rules.GRADE_NAMES.get(grade, 'none')})"


def restricted_clause(employer_country: str, material: str, on: date) -> rules.Agreement | None:
    """Return the agreement whose RESTRICTED clause lets ``employer_country`` see ``material``.

    For a country's material: an agreement binding that country and the employer's. For NATO
    or EU material (NATO RESTRICTED, RESTREINT UE need no clearance): the NATO or EU agreement,
    when the employer's country is a party to it on the day.
    """
    if material in rules.SUPRANATIONAL:
        return next(
            (
                ag
                for ag in rules.agreements()
                if ag.covers == material
                and ag.restricted_without_clearance
                and ag.binds(employer_country, employer_country, on)
            ),
            None,
        )
    return next(
        (
            ag
            for ag in rules.agreements()
            if ag.covers == "national"
            and ag.restricted_without_clearance
            and ag.binds(employer_country, material, on)
        ),
        None,
    )


def _pending(held: Held, country: str, at: datetime) -> str:
    """Return words naming a recognition request pending at ``at``, or nothing."""
    moment = naive(at)
    for rid, asked_of, asked, decided, status in held.requests:
        if asked_of != country or asked > moment:
            continue
        if status == RecognitionStatus.PENDING.value or (decided is not None and decided > moment):
            return f" (request #{rid}, asked {asked:%Y-%m-%d}, was still pending)"
    return ""


def _route(
    held: Held, material: rules.Scheme, on: date, at: datetime | None = None
) -> tuple[bool, str]:
    """Return whether ``held`` reaches ``material``'s scheme by scope, agreement, recognition."""
    country_name = (
        rules.scheme(held.country).name
        if held.country in {s.code for s in rules.schemes()}
        else held.country
    )
    if material.kind == "international":
        if held.scope != material.code.lower():
            return False, (
                f"it is a {held.scope} clearance; {material.name} material needs a "
                f"{material.code} clearance"
            )
        ag = rules.agreement_between(held.country, held.country, on, covers=material.code)
        if ag is None:
            return False, f"{country_name} is not a party to a {material.code} security agreement"
        return True, (
            f"{country_name} issues {material.code} clearances as a party to "
            f"'{ag.name}'" + ("" if ag.verified else " [membership data marked verify]")
        )
    if held.scope != Scope.NATIONAL.value:
        return False, (
            f"it is a {held.scope.upper()} clearance; {material.name}'s national "
            f"material needs a national clearance"
        )
    if held.country == material.code:
        return True, f"it was issued by {material.name} itself"
    ag = rules.agreement_between(held.country, material.code, on)
    if ag is None:
        return False, (
            f"no security agreement in force binds {country_name} and "
            f"{material.name}, so {material.name} cannot recognise it"
        )
    recognised = held.recognitions.get(material.code)
    if recognised is not None and at is not None and recognised[1] > naive(at):
        recognised = None  # recognised only after the moment asked about
    if recognised is None:
        pending = _pending(held, material.code, at) if at is not None else ""
        return False, (
            f"'{ag.name}' binds {country_name} and {material.name}, but "
            f"{material.name}'s authority has not recognised this clearance{pending}"
        )
    by, when = recognised
    return True, (
        f"'{ag.name}' binds {country_name} and {material.name}, and "
        f"{material.name}'s authority recognised it ({by}, {when:%Y-%m-%d})"
    )


def _check(
    held: Held, material: rules.Scheme, grade: int, at: datetime, on: date
) -> tuple[bool, str]:
    label = (
        f"Clearance #{held.id} ({held.country} {held.level}, {held.scope}, issued by "
        f"{held.authority}, valid {held.valid_from} to {held.valid_until})"
    )
    moment = naive(at)
    if held.revoked and (held.revoked_at is None or held.revoked_at <= moment):
        return False, f"{label} does not count: it was {held.revoked}."
    if held.state not in GOOD_STATES:
        return False, (
            f"{label} does not count: it is only declared; the employer's security "
            f"officer has not verified it."
        )
    if held.verified_at is not None and held.verified_at > moment:
        return False, (
            f"{label} does not count: it was verified only on {held.verified_at:%Y-%m-%d}, "
            f"after the moment asked about."
        )
    day = local_day(held.country, at)
    zone = rules.time_zone(held.country).key
    if not held.valid_from <= day <= held.valid_until:
        when = "not yet valid" if day < held.valid_from else "expired"
        return False, f"{label} does not count: it is {when} on {day} ({zone} time)."
    held_grade = _grade_of(held)
    if held_grade < grade:
        return False, (
            f"{label} does not count: it is {_fmt_grade(held_grade)}, below {_fmt_grade(grade)}."
        )
    ok, why = _route(held, material, on, at)
    if not ok:
        return False, f"{label} does not count: {why}."
    return True, (
        f"{label} counts: it is {_fmt_grade(held_grade)}, verified by "
        f"{held.verified_by}, valid on {day} ({zone} time), and {why}."
    )


def _need_to_know(session: Session, subject: Subject, context: Context | None) -> tuple[bool, str]:
    if context is None or (context.community_id is None and context.incident_org_ids is None):
        return True, (
            "Need-to-know was not part of this question; for stored material it is "
            "decided by the TLP and community rules."
        )
    if context.incident_org_ids is not None and subject.employer_org_id in context.incident_org_ids:
        return True, (
            f"Need-to-know: the employer participates in incident "
            f"{context.incident_label or ''}".rstrip()
            + "."
        )
    if (
        context.community_id is not None
        and session.execute(
            select(CommunityMember.org_id).where(
                CommunityMember.community_id == context.community_id,
                CommunityMember.org_id == subject.employer_org_id,
            )
        ).first()
        is not None
    ):
        return True, (
            f"Need-to-know: the employer is a member of community "
            f"{context.community_name or context.community_id}, which owns the "
            f"material."
        )
    return False, (
        "Need-to-know is not established: the employer is neither a member of the "
        "community owning the material nor a participant in the incident."
    )


def evaluate(
    *,
    subject: Subject,
    material: rules.Level,
    at: datetime,
    need_to_know: tuple[bool, str] | None = None,
) -> Decision:
    """Decide for an already loaded ``subject``; see the module docstring for the rules."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    scheme = rules.scheme(material.scheme)
    grade = material.grade
    on = at.astimezone(UTC).date()
    reasons = [
        f"Material: {material.label} is {_fmt_grade(grade)} in the common table"
        + (
            "."
            if material.verified
            else f" (the equivalence is marked [verify]: {material.source})."
        )
    ]
    allowed = True
    ceiling = rules.ceiling()
    if grade > ceiling.grade:
        allowed = False
        reasons.append(
            f"Refused: {ceiling.describe()}; {_fmt_grade(grade)} material may not "
            f"be held or shown here."
        )
    else:
        reasons.append(f"Ceiling: {ceiling.describe()}.")
    if need_to_know is not None:
        allowed = allowed and need_to_know[0]
        reasons.append(need_to_know[1])
    granted = False
    clause = restricted_clause(subject.employer_country, scheme.code, on) if grade == 1 else None
    if clause is not None:
        granted = True
        bound = (
            f"{subject.employer_country} (the employer's country) is a party to it"
            if scheme.code in rules.SUPRANATIONAL
            else f"it binds {subject.employer_country} (the employer's country) and {scheme.code}"
        )
        reasons.append(
            f"RESTRICTED material needs no personnel clearance under '{clause.name}', and "
            f"{bound}"
            + (
                "."
                if clause.restricted_verified
                else " (this clause is marked [verify] in the agreements data)."
            )
        )
    elif not subject.registered:
        reasons.append(f"{subject.name} has no entry in the clearance register.")
    elif not subject.clearances:
        reasons.append(f"{subject.name} holds no registered clearance.")
    else:
        for held in subject.clearances:
            ok, why = _check(held, scheme, grade, at, on)
            reasons.append(why)
            if ok:
                granted = True
                break
    allowed = allowed and granted
    verdict = "ALLOWED" if allowed else "REFUSED"
    reasons.append(
        f"Decision: {verdict}: {subject.name} "
        f"{'may' if allowed else 'may not'} see material classified "
        f"{material.label} on {at.astimezone(UTC):%Y-%m-%d %H:%M} UTC."
    )
    return Decision(allowed=allowed, reasons=reasons, grade=grade)


def decide(
    *,
    session: Session,
    person: Person | None,
    country: str,
    level: str,
    at: datetime,
    context: Context | None = None,
    employer_country: str = "",
    name: str = "this user",
) -> Decision:
    """Decide whether ``person`` may see material classified ``level`` by ``country``.

    ``person`` None means someone without a register entry (then ``employer_country`` and
    ``name`` describe them). Raises ``rules.UnknownLevel`` for a level the table lacks and
    ``rules.AgreementsFileError`` when the hub's agreements file cannot be read.
    """
    material = rules.level(country, level)
    # Refuse to decide on a broken agreements file, even where no agreement would be consulted.
    rules.registered_agreements()
    if person is None:
        subject = Subject(
            name=name, employer_org_id=-1, employer_country=employer_country, registered=False
        )
    else:
        subject = load_subject(session=session, person=person)
    ntk = _need_to_know(session, subject, context)
    return evaluate(subject=subject, material=material, at=at, need_to_know=ntk)
