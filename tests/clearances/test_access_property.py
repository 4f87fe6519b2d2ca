"""Properties: endpoints return exactly what the documented clearance rules allow, and a decision
never grants more than the grade a person holds.

The oracle below restates docs/classification.md (plus the TLP/community rules needed for the
objects used here) without reading varsel.clearances.decision or the SQL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from tests import factories as f
from tests.conftest import Hub, _empty
from tests.factories import TAXII
from varsel import config
from varsel.clearances import rules
from varsel.clearances.decision import Held, Subject, decide, evaluate
from varsel.clearances.models import Clearance, Person, RecognitionRequest
from varsel.clock import utcnow
from varsel.config import Settings
from varsel.sharing import ingest as ingesting
from varsel.sharing.ingest.marking import marking_id
from varsel.sharing.models import Collection
from varsel.sharing.tlp import TLP

# The facts, restated for the oracle.
ZONES = {
    "NO": "Europe/Oslo",
    "SE": "Europe/Stockholm",
    "DK": "Europe/Copenhagen",
    "US": "America/New_York",
}
LEVELS = {
    "NO": {1: "BEGRENSET", 2: "KONFIDENSIELT", 3: "HEMMELIG", 4: "STRENGT HEMMELIG"},
    "SE": {1: "BEGRÄNSAT HEMLIG", 2: "KONFIDENTIELL", 3: "HEMLIG", 4: "KVALIFICERAT HEMLIG"},
    "DK": {1: "TIL TJENESTEBRUG", 2: "FORTROLIGT", 3: "HEMMELIGT", 4: "YDERST HEMMELIGT"},
    "US": {2: "CONFIDENTIAL", 3: "SECRET", 4: "TOP SECRET"},
    "NATO": {
        1: "NATO RESTRICTED",
        2: "NATO CONFIDENTIAL",
        3: "NATO SECRET",
        4: "COSMIC TOP SECRET",
    },
    "EU": {1: "RESTREINT UE", 2: "CONFIDENTIEL UE", 3: "SECRET UE", 4: "TRÈS SECRET UE"},
}
STORED = {"NO": "NO", "SE": "SE", "DK": "DK", "US": "US", "NATO": "XN", "EU": "EU"}
NORDIC = {"NO", "SE", "DK", "FI", "IS"}
NATO_PARTIES = {"NO", "DK", "US", "SE"}  # SE bound since 2024-04-06, long before "now"
EU_PARTIES = {"DK", "SE"}
ORG_COUNTRIES = ["NO", "SE", "DK", "US"]


@dataclass(frozen=True)
class Spec:
    """A clearance as the world plans it."""

    issuer: str
    scope: str
    grade: int
    state: str
    start: int  # valid_from = local today + start days
    end: int  # valid_until = local today + end days
    recognised_by: frozenset[str]
    revoked: bool


def _clearance_specs() -> st.SearchStrategy[Spec]:
    @st.composite
    def build(draw: st.DrawFn) -> Spec:
        scope = draw(st.sampled_from(["national", "national", "nato", "eu"]))
        issuer = draw(st.sampled_from(ORG_COUNTRIES))
        scheme = issuer if scope == "national" else scope.upper()
        grade = draw(st.sampled_from(sorted(LEVELS[scheme])))
        return Spec(
            issuer=issuer,
            scope=scope,
            grade=grade,
            state=draw(st.sampled_from(["declared", "verified", "recognised"])),
            start=draw(st.sampled_from([-400, 0, 1])),
            end=draw(st.sampled_from([-1, 0, 1, 300])),
            recognised_by=frozenset(draw(st.sets(st.sampled_from(ORG_COUNTRIES)))),
            revoked=draw(st.booleans()),
        )

    return build()


@st.composite
def worlds(draw: st.DrawFn) -> dict:  # type: ignore[type-arg]
    members = [draw(st.booleans()) for _ in ORG_COUNTRIES]
    persons = [
        draw(st.one_of(st.none(), st.lists(_clearance_specs(), max_size=3))) for _ in ORG_COUNTRIES
    ]
    materials = [(s, g) for s in LEVELS for g in LEVELS[s]]
    objects = draw(
        st.lists(
            st.tuples(
                st.one_of(st.none(), st.sampled_from(materials)),
                st.sampled_from(["clear", "green"]),
            ),
            min_size=1,
            max_size=8,
        )
    )
    return {
        "members": members,
        "persons": persons,
        "objects": objects,
        "ceiling": draw(st.integers(0, 4)),
    }


def local_today(country: str) -> date:
    return datetime.now(UTC).astimezone(ZoneInfo(ZONES[country])).date()


def oracle_may_see(
    org_country: str, specs: list[Spec] | None, material: tuple[str, int] | None, ceiling: int
) -> bool:
    """docs/classification.md, restated."""
    if material is None:
        return True
    scheme, grade = material
    if grade > ceiling:
        return False
    if grade == 1 and scheme in NORDIC and org_country in NORDIC:
        return True  # the RESTRICTED clause of the Nordic agreement
    if grade == 1 and scheme == "NATO" and org_country in NATO_PARTIES:
        return True  # NATO RESTRICTED needs no clearance for a party's people
    if grade == 1 and scheme == "EU" and org_country in EU_PARTIES:
        return True  # RESTREINT UE needs none for a member state's (2013/488/EU Art. 7(3)-(4))
    for c in specs or []:
        if c.revoked or c.state == "declared" or c.grade < grade:
            continue
        if not c.start <= 0 <= c.end:
            continue
        if scheme == "NATO":
            ok = c.scope == "nato" and c.issuer in NATO_PARTIES
        elif scheme == "EU":
            ok = c.scope == "eu" and c.issuer in EU_PARTIES
        else:
            ok = c.scope == "national" and (
                c.issuer == scheme
                or (c.issuer in NORDIC and scheme in NORDIC and scheme in c.recognised_by)
            )
        if ok:
            return True
    return False


def _build(hub: Hub, plan: dict) -> tuple[str, dict[str, str], dict[str, tuple[str, int] | None]]:  # type: ignore[type-arg]
    tokens: dict[str, str] = {}
    with hub.session() as s:
        f.org(s, "Producer", "NO")
        f.user(s, "producer", "Producer", password=None)
        member_names = ["Producer"]
        for i, country in enumerate(ORG_COUNTRIES):
            f.org(s, f"O{i}", country)
            f.user(s, f"u{i}", f"O{i}", password=None)
            tokens[f"u{i}"] = f.token(s, f"u{i}")
            if plan["members"][i]:
                member_names.append(f"O{i}")
        # Listed: outsiders read its TLP:CLEAR objects through TAXII here; what this test
        # checks is the clearance rule, not community visibility (tests/policy/test_visibility*).
        f.community(s, "C", member_names, visibility="listed")
        coll = f.collection(s, "K", "C", "green")
        now = utcnow()
        for i, specs in enumerate(plan["persons"]):
            if specs is None:
                continue
            user = f.principal(s, f"u{i}")
            person = Person(
                name=f"P{i}",
                nationality=ORG_COUNTRIES[i],
                employer_org_id=user.org_id,
                user_id=user.user_id,
                created_at=now,
            )
            s.add(person)
            s.flush()
            for spec in specs:
                scheme = spec.issuer if spec.scope == "national" else spec.scope.upper()
                today = local_today(spec.issuer)
                row = Clearance(
                    person_id=person.id,
                    country=spec.issuer,
                    scope=spec.scope,
                    level=LEVELS[scheme][spec.grade],
                    scheme=scheme,
                    level_name=rules.level(scheme, LEVELS[scheme][spec.grade]).name,
                    authority="NSA",
                    valid_from=today + timedelta(days=spec.start),
                    valid_until=today + timedelta(days=spec.end),
                    state=spec.state,
                    declared_by="t",
                    declared_at=now,
                    verified_by="t",
                    revoked_at=now if spec.revoked else None,
                )
                s.add(row)
                s.flush()
                for country in spec.recognised_by:
                    s.add(
                        RecognitionRequest(
                            clearance_id=row.id,
                            country=country,
                            status="approved",
                            requested_by="t",
                            requested_at=now,
                            decided_by="a",
                            decided_at=now,
                        )
                    )
        s.commit()
        envelope = []
        expected: dict[str, tuple[str, int] | None] = {}
        for n, (material, tlp) in enumerate(plan["objects"]):
            refs = [TLP(tlp).stix_id]
            if material is not None:
                refs.append(marking_id(rules.level(material[0], LEVELS[material[0]][material[1]])))
            oid = f"indicator--00000000-0000-4000-8000-{n:012d}"
            envelope.append(f.indicator(oid=oid, object_marking_refs=refs))
            expected[oid] = material
        result = ingesting.ingest(
            session=s,
            collection=s.get(Collection, coll.id),
            principal=f.principal(s, "producer"),
            body=f.envelope(*envelope),
        )
        assert not result.failures, result.failures
        s.commit()
        return coll.id, tokens, expected


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=worlds())
def test_endpoints_return_exactly_what_the_clearance_rules_allow(
    hub: Hub, plan: dict, configure: Callable[..., Settings]
) -> None:  # type: ignore[type-arg]
    _empty(hub.engine)
    configure(accreditation_ceiling="4")
    coll, tokens, objects = _build(hub, plan)
    configure(accreditation_ceiling=str(plan["ceiling"]))  # the ceiling was lowered
    with TestClient(hub.app) as client:
        for i, country in enumerate(ORG_COUNTRIES):
            allowed = {
                oid
                for oid, material in objects.items()
                if (plan["objects"][int(oid[-12:])][1] == "clear" or plan["members"][i])
                and oracle_may_see(country, plan["persons"][i], material, plan["ceiling"])
            }
            auth = {"Authorization": f"Bearer {tokens[f'u{i}']}"}
            taxii = client.get(
                f"/taxii2/hub/collections/{coll}/objects/",
                params={"limit": 1000},
                headers={**auth, "Accept": TAXII},
            )
            assert taxii.status_code == 200, taxii.text
            assert {o["id"] for o in taxii.json().get("objects", [])} == allowed, f"TAXII u{i}"
            rest = client.get("/api/v1/objects", params={"limit": 1000}, headers=auth)
            assert {o["id"] for o in rest.json()["objects"]} == allowed, f"REST u{i}"
    # The explicit decision agrees with the oracle too.
    with hub.session() as s:
        for i, country in enumerate(ORG_COUNTRIES):
            person = s.execute(select(Person).where(Person.name == f"P{i}")).scalar_one_or_none()
            for scheme, grades in LEVELS.items():
                for grade, name in grades.items():
                    got = decide(
                        session=s,
                        person=person,
                        country=scheme,
                        level=name,
                        at=datetime.now(UTC),
                        employer_country=country,
                    )
                    assert got.allowed is oracle_may_see(
                        country, plan["persons"][i], (scheme, grade), plan["ceiling"]
                    ), got.reasons


HELD_SCHEMES = (
    [(c, "national") for c in ["NO", "SE", "DK", "FI", "IS", "US"]]
    + [(c, "nato") for c in ["NO", "DK", "SE", "US"]]
    + [(c, "eu") for c in ["DK", "SE", "FI"]]
)


@st.composite
def helds(draw: st.DrawFn) -> Held:
    country, scope = draw(st.sampled_from(HELD_SCHEMES))
    scheme = rules.scheme(country if scope == "national" else scope.upper())
    lvl = draw(st.sampled_from(list(scheme.levels)))
    return Held(
        id=draw(st.integers(1, 99)),
        country=country,
        scope=scope,
        scheme=lvl.scheme,
        level_name=lvl.name,
        level=lvl.name,
        authority="NSA",
        state=draw(st.sampled_from(["declared", "verified", "recognised"])),
        valid_from=date(2020, 1, 1),
        valid_until=date(2030, 1, 1),
        verified_by="o",
        revoked=None,
        recognitions={
            c: ("a", datetime(2025, 1, 1)) for c in draw(st.sets(st.sampled_from(sorted(NORDIC))))
        },
    )


@settings(max_examples=200, deadline=None)
@given(
    clearances=st.lists(helds(), max_size=4),
    material=st.sampled_from([lvl for s in rules.schemes() for lvl in s.levels]),
    employer=st.sampled_from(["NO", "SE", "DK", "FI", "IS", "US"]),
    ceiling=st.integers(0, 4),
)
def test_a_decision_never_grants_above_the_grade_held(
    clearances: list[Held], material: rules.Level, employer: str, ceiling: int
) -> None:
    before = config.use(replace(config.current(), accreditation_ceiling=str(ceiling)))
    try:
        got = evaluate(
            subject=Subject(
                name="P", employer_org_id=1, employer_country=employer, clearances=tuple(clearances)
            ),
            material=material,
            at=datetime(2026, 5, 1, 12, tzinfo=UTC),
        )
    finally:
        config.use(before)
    if not got.allowed:
        return
    assert material.grade <= ceiling
    held_grades = [
        rules.level(h.scheme, h.level_name).grade for h in clearances if h.state != "declared"
    ]
    restricted = material.grade == 1 and (
        (employer in NORDIC and material.scheme in NORDIC)
        or (material.scheme == "NATO" and employer in NATO_PARTIES | {"FI"})
        or (material.scheme == "EU" and employer in EU_PARTIES | {"FI"})
    )
    assert restricted or max(held_grades, default=0) >= material.grade
