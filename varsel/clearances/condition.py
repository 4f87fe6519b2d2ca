"""The decision's rules in SQL, for ``restrict()``: which classified rows a principal may read.

``restrict()`` receives no session, so the per-request part of the decision — the reader's
clearances and recognitions — is a subquery per scheme, generated from the same data and rule
functions as :func:`varsel.clearances.decision.decide`. Nothing is cached across requests.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import and_, case, exists, func, literal, or_, select

from varsel.clearances import rules
from varsel.clearances.decision import GOOD_STATES, local_day, restricted_clause
from varsel.clearances.models import (
    Clearance,
    Person,
    RecognitionRequest,
    RecognitionStatus,
    Scope,
)
from varsel.policy.principal import Principal
from varsel.sharing.models import StixObject

log = logging.getLogger("varsel.clearances")


def _grade_case() -> Any:
    whens = [
        (and_(Clearance.scheme == lvl.scheme, Clearance.level_name == lvl.name), lvl.grade)
        for sch in rules.schemes()
        for lvl in sch.levels
    ]
    return case(*whens, else_=0)


def _valid_on(at: datetime) -> Any:
    return or_(
        *[
            and_(
                Clearance.country == code,
                Clearance.valid_from <= local_day(code, at),
                Clearance.valid_until >= local_day(code, at),
            )
            for code in rules.issuing_countries()
        ]
    )


def _route_sql(material: rules.Scheme, on: date) -> Any:
    if material.kind == "international":
        parties = [
            c
            for c in rules.issuing_countries()
            if rules.agreement_between(c, c, on, covers=material.code)
        ]
        return and_(Clearance.scope == material.code.lower(), Clearance.country.in_(parties))
    partners = [
        c
        for c in rules.issuing_countries()
        if c != material.code and rules.agreement_between(c, material.code, on)
    ]
    recognised = exists(
        select(RecognitionRequest.id).where(
            RecognitionRequest.clearance_id == Clearance.id,
            RecognitionRequest.country == material.code,
            RecognitionRequest.status == RecognitionStatus.APPROVED.value,
        )
    )
    return and_(
        Clearance.scope == Scope.NATIONAL.value,
        or_(Clearance.country == material.code, and_(Clearance.country.in_(partners), recognised)),
    )


def read_condition(principal: Principal, at: datetime | None = None) -> Any:
    """Return the SQL condition under which ``principal`` may see a StixObject's classification.

    Unclassified rows pass. A classified row passes when its grade is within the ceiling and
    the principal's person holds, now, a clearance that reaches the row's (country, grade) —
    or the RESTRICTED clause covers it. Everything is read at query time: nothing is cached.
    """
    at = at or datetime.now(UTC)
    on = at.astimezone(UTC).date()
    ceiling = rules.ceiling().grade
    if ceiling < 1:
        # A hub accredited for nothing holds nothing classified (ingest refuses it), and every
        # term below would demand class_grade <= 0: say so without nine subqueries per request.
        return StixObject.class_grade.is_(None)
    try:
        return _classified_condition(principal, at, on, ceiling)
    except rules.AgreementsFileError as exc:
        # Start-up refuses a broken file; one broken while the hub runs must not turn every read
        # into a 500. Agreements only ever widen access, so hiding everything classified until
        # the file is fixed is the closed side.
        log.error("%s; classified objects are hidden until it is fixed", exc.message)
        return StixObject.class_grade.is_(None)


def _classified_condition(principal: Principal, at: datetime, on: date, ceiling: int) -> Any:
    persons = select(Person.id).where(Person.user_id == principal.user_id)
    grade = _grade_case()
    valid = _valid_on(at)
    terms = []
    for material in rules.schemes():
        best = (
            select(func.coalesce(func.max(grade), 0))
            .where(
                Clearance.person_id.in_(persons),
                Clearance.revoked_at.is_(None),
                Clearance.state.in_(GOOD_STATES),
                valid,
                _route_sql(material, on),
            )
            .scalar_subquery()
        )
        floor = 1 if restricted_clause(principal.country, material.code, on) else 0
        terms.append(
            and_(
                StixObject.class_country == material.stored_as,
                StixObject.class_grade <= literal(ceiling),
                or_(StixObject.class_grade <= literal(floor), StixObject.class_grade <= best),
            )
        )
    return or_(StixObject.class_grade.is_(None), *terms)
