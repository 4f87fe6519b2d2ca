"""The equivalence table, the decision's rules over the whole matrix, validity edges, ceiling."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from varsel import config
from varsel.clearances import rules
from varsel.clearances.decision import Held, Subject, evaluate
from varsel.config import Settings

# Straight from shared/domain/markings-and-clearances.md (grade 4 down to 1); None: unknown.
FACTS = {
    "NO": ["STRENGT HEMMELIG", "HEMMELIG", "KONFIDENSIELT", "BEGRENSET"],
    "DK": ["YDERST HEMMELIGT", "HEMMELIGT", "FORTROLIGT", "TIL TJENESTEBRUG"],
    "FI": [
        "ERITTÄIN SALAINEN (TL I)",
        "SALAINEN (TL II)",
        "LUOTTAMUKSELLINEN (TL III)",
        "KÄYTTÖ RAJOITETTU (TL IV)",
    ],
    "SE": ["KVALIFICERAT HEMLIG", "HEMLIG", "KONFIDENTIELL", "BEGRÄNSAT HEMLIG"],
    "IS": ["ALGJÖRT LEYNDARMÁL", "LEYNDARMÁL", "TRÚNAÐARMÁL", None],
    "NATO": ["COSMIC TOP SECRET", "NATO SECRET", "NATO CONFIDENTIAL", "NATO RESTRICTED"],
    "EU": [
        "TRÈS SECRET UE/EU TOP SECRET",
        "SECRET UE/EU SECRET",
        "CONFIDENTIEL UE/EU CONFIDENTIAL",
        "RESTREINT UE/EU RESTRICTED",
    ],
}
VERIFY = {"FI", "SE", "IS"}
NORDIC = ["NO", "DK", "FI", "SE", "IS"]
AT = datetime(2026, 5, 1, 12, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _top_ceiling(configure: Callable[..., Settings]) -> None:
    configure(accreditation_ceiling="4")
    configure(security_agreements=None)


@pytest.mark.parametrize("scheme", sorted(FACTS))
def test_every_level_of_the_facts_file_maps_to_its_grade(scheme: str) -> None:
    for grade, name in zip((4, 3, 2, 1), FACTS[scheme], strict=True):
        if name is None:
            assert rules.scheme(scheme).level_of_grade(grade) is None
            with pytest.raises(rules.UnknownLevel):
                rules.level(scheme, "RESTRICTED")
            continue
        found = rules.level(scheme, name.lower())
        assert found.grade == grade
        assert found.verified is (scheme not in VERIFY), name


def test_every_cell_of_the_data_file_has_a_source_and_flag() -> None:
    raw = json.loads(
        (Path(rules.__file__).parent.parent / "data" / "classification.json").read_text(
            encoding="utf-8"
        )
    )
    for sch in raw["schemes"]:
        assert sorted(c["grade"] for c in sch["levels"]) == [1, 2, 3, 4]
        for cell in sch["levels"]:
            assert cell["source"] and isinstance(cell["verified"], bool)


def test_nordic_agreement_is_data_with_its_dates() -> None:
    gsa = next(a for a in rules.agreements() if a.id == "nordic-gsa-2010")
    assert gsa.parties == frozenset(NORDIC)
    assert gsa.in_force == date(2013, 2, 9)
    assert gsa.restricted_without_clearance and not gsa.restricted_verified
    assert not gsa.binds("NO", "SE", date(2013, 2, 8))
    assert gsa.binds("NO", "SE", date(2013, 2, 9))
    assert rules.agreement_between("US", "NO", date(2026, 1, 1)) is None


def test_ceiling_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for text, grade in (
        ("NO:HEMMELIG", 3),
        ("se:konfidentiell", 2),
        ("", 0),
        ("NO:TOPPHEMMELIG", 0),
    ):
        monkeypatch.setenv(rules.CEILING_ENV, text)
        config.use(None)  # read the environment again, as a new process would
        assert rules.ceiling().grade == grade, text
    # Refused at start-up; a hub started without the check still holds nothing classified.
    assert "not understood" in rules.ceiling().describe()
    with pytest.raises(config.ConfigError, match="VARSEL_ACCREDITATION_CEILING='NO:TOPPHEMMELIG'"):
        rules.check_configuration()


def held(
    country: str,
    level: str,
    *,
    scope: str = "national",
    state: str = "verified",
    valid_from: date = date(2025, 1, 1),
    valid_until: date = date(2027, 12, 31),
    recognised: tuple[str, ...] = (),
    revoked: str | None = None,
    cid: int = 1,
) -> Held:
    scheme = country if scope == "national" else scope.upper()
    lvl = rules.level(scheme, level)
    return Held(
        id=cid,
        country=country,
        scope=scope,
        scheme=lvl.scheme,
        level_name=lvl.name,
        level=level,
        authority="NSA",
        state=state,
        valid_from=valid_from,
        valid_until=valid_until,
        verified_by="officer",
        revoked=revoked,
        recognitions={c: ("authority", datetime(2026, 1, 1)) for c in recognised},
    )


def subject(*clearances: Held, employer: str = "NO") -> Subject:
    return Subject(name="Kari", employer_org_id=1, employer_country=employer, clearances=clearances)


def _levels() -> list[rules.Level]:
    return [lvl for sch in rules.schemes() for lvl in sch.levels]


@pytest.mark.parametrize("material", _levels(), ids=lambda lvl: lvl.label)
def test_equivalence_matrix(material: rules.Level) -> None:
    """Every held level against every material level, recognised where it must be."""
    for mine in _levels():
        national = rules.scheme(mine.scheme).kind == "national"
        country = mine.scheme if national else "DK"  # DK is in NATO and the EU
        scope = "national" if national else mine.scheme.lower()
        clearance = held(country, mine.name, scope=scope, recognised=tuple(FACTS) + ("US",))
        # An employer outside the Nordics, NATO and the EU keeps the RESTRICTED clauses out of
        # the way (a US employer now reads NATO RESTRICTED without clearance).
        got = evaluate(subject=subject(clearance, employer="BR"), material=material, at=AT)
        mat_kind = rules.scheme(material.scheme).kind
        if mat_kind == "international":
            route = scope == material.scheme.lower()
        else:
            route = scope == "national" and (
                country == material.scheme or (country in NORDIC and material.scheme in NORDIC)
            )
        expected = route and mine.grade >= material.grade
        assert got.allowed is expected, (mine.label, material.label, got.reasons)


@pytest.mark.parametrize(("a", "b"), list(itertools.permutations(NORDIC, 2)))
def test_cross_border_needs_recognition_by_the_material_country(a: str, b: str) -> None:
    top = rules.scheme(a).level_of_grade(3)
    assert top is not None
    material = rules.scheme(b).level_of_grade(2)
    assert material is not None
    plain = evaluate(subject=subject(held(a, top.name), employer=a), material=material, at=AT)
    assert not plain.allowed
    assert any("has not recognised" in r for r in plain.reasons)
    wrong = evaluate(
        subject=subject(held(a, top.name, recognised=(a,)), employer=a), material=material, at=AT
    )
    assert not wrong.allowed
    ok = evaluate(
        subject=subject(held(a, top.name, recognised=(b,)), employer=a), material=material, at=AT
    )
    assert ok.allowed, ok.reasons


@pytest.mark.parametrize(
    ("state", "revoked", "allowed"),
    [
        ("declared", None, False),
        ("verified", None, True),
        ("recognised", None, True),
        ("verified", "revoked 2026-04-01 by officer", False),
    ],
)
def test_recognition_states(state: str, revoked: str | None, allowed: bool) -> None:
    material = rules.level("NO", "KONFIDENSIELT")
    got = evaluate(
        subject=subject(held("NO", "HEMMELIG", state=state, revoked=revoked)),
        material=material,
        at=AT,
    )
    assert got.allowed is allowed, got.reasons


@pytest.mark.parametrize(
    ("country", "level", "last_ok", "first_bad"),
    [
        # Oslo is UTC+2 in summer: the last valid day ends at 21:59:59 UTC.
        ("NO", "HEMMELIG", "2026-06-30T21:59:59+00:00", "2026-06-30T22:00:00+00:00"),
        ("FI", "SALAINEN", "2026-06-30T20:59:59+00:00", "2026-06-30T21:00:00+00:00"),
        ("IS", "LEYNDARMÁL", "2026-06-30T23:59:59+00:00", "2026-07-01T00:00:00+00:00"),
        # Winter: Stockholm is UTC+1.
        ("SE", "HEMLIG", "2026-12-31T22:59:59+00:00", "2026-12-31T23:00:00+00:00"),
        ("US", "SECRET", "2026-07-01T03:59:59+00:00", "2026-07-01T04:00:00+00:00"),
    ],
)
def test_last_valid_day_counts_in_full_in_the_issuing_countrys_time(
    country: str, level: str, last_ok: str, first_bad: str
) -> None:
    last = datetime.fromisoformat(last_ok)
    until = last.astimezone(rules.time_zone(country)).date()
    clearance = held(country, level, valid_until=until)
    material = rules.scheme(country).level_of_grade(3)
    assert material is not None
    assert evaluate(
        subject=subject(clearance, employer=country), material=material, at=last
    ).allowed
    late = evaluate(
        subject=subject(clearance, employer=country),
        material=material,
        at=datetime.fromisoformat(first_bad),
    )
    assert not late.allowed
    assert any("expired" in r for r in late.reasons)


def test_first_valid_day_counts_from_local_midnight() -> None:
    clearance = held("NO", "HEMMELIG", valid_from=date(2026, 3, 2))
    material = rules.level("NO", "HEMMELIG")
    before = datetime(2026, 3, 1, 22, 59, 59, tzinfo=UTC)  # 23:59:59 in Oslo (UTC+1)
    assert not evaluate(subject=subject(clearance), material=material, at=before).allowed
    assert evaluate(
        subject=subject(clearance), material=material, at=datetime(2026, 3, 1, 23, tzinfo=UTC)
    ).allowed


def test_restricted_needs_no_clearance_between_parties_only() -> None:
    begrenset = rules.level("NO", "BEGRENSET")
    nobody = subject(employer="SE")
    got = evaluate(subject=nobody, material=begrenset, at=AT)
    assert got.allowed
    assert any("[verify]" in r for r in got.reasons)
    assert not evaluate(subject=subject(employer="US"), material=begrenset, at=AT).allowed
    # NATO RESTRICTED needs no clearance either, for a party's people only (issue 12 item 21).
    assert evaluate(subject=nobody, material=rules.level("NATO", "NATO RESTRICTED"), at=AT).allowed
    assert not evaluate(
        subject=subject(employer="BR"), material=rules.level("NATO", "NATO RESTRICTED"), at=AT
    ).allowed
    assert not evaluate(subject=nobody, material=rules.level("NO", "KONFIDENSIELT"), at=AT).allowed


def test_ceiling_refuses_even_a_cleared_person(configure: Callable[..., Settings]) -> None:
    configure(accreditation_ceiling="NO:KONFIDENSIELT")
    got = evaluate(
        subject=subject(held("NO", "STRENGT HEMMELIG")),
        material=rules.level("NO", "HEMMELIG"),
        at=AT,
    )
    assert not got.allowed
    assert any("accredited up to grade 2" in r for r in got.reasons)


def test_nato_and_eu_material_need_a_clearance_of_that_scope_from_a_party() -> None:
    ns = rules.level("NATO", "NATO SECRET")
    assert evaluate(
        subject=subject(held("NO", "NATO SECRET", scope="nato")), material=ns, at=AT
    ).allowed
    assert not evaluate(subject=subject(held("NO", "STRENGT HEMMELIG")), material=ns, at=AT).allowed
    # Sweden joined NATO on 2024-03-07; the security agreement binds an acceding state 30 days
    # after it deposits its accession (Art. 7), so no earlier than 2024-04-06.
    swede = subject(
        held("SE", "NATO SECRET", scope="nato", valid_from=date(2020, 1, 1)), employer="SE"
    )
    assert not evaluate(subject=swede, material=ns, at=datetime(2024, 4, 5, tzinfo=UTC)).allowed
    assert evaluate(subject=swede, material=ns, at=datetime(2024, 4, 6, 12, tzinfo=UTC)).allowed
    eu = rules.level("EU", "SECRET UE")
    assert evaluate(
        subject=subject(held("DK", "SECRET UE", scope="eu"), employer="DK"), material=eu, at=AT
    ).allowed
    # Norway is not an EU member state: refused until an agreement is registered.
    assert not evaluate(
        subject=subject(held("NO", "SECRET UE", scope="eu")), material=eu, at=AT
    ).allowed
