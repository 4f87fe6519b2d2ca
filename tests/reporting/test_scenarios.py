"""Worked scenarios a compliance officer can check by hand: which reports, to whom, by when.

Every expected deadline is written out literally, in UTC and in the recipient's local time.
2026 calendar facts used below: 27 March is a Friday; summer time starts on Sunday 29 March
(EET→EEST, CET→CEST) and ends on Sunday 25 October; 6 June is a Saturday; 11 July a Saturday.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from varsel.reporting import Outcome, Profile, assess, flatten
from varsel.reporting.facts import parse_time


def t(text: str) -> datetime:
    return parse_time(text, "test")


NOW = t("2026-01-01T00:00:00Z")  # before every scenario: nothing is overdue


@dataclass
class Scenario:
    name: str
    profile: Profile
    facts: dict[str, Any]
    # (country, stage, recipient starts with, deadline UTC, deadline local, verified)
    expected: list[tuple[str, str, str, str | None, str | None, bool]]
    not_owed: list[str] = field(default_factory=list)
    outcome: Outcome = Outcome.SIGNIFICANT
    fired: str = ""
    now: datetime = NOW


CLOUD_FI = Profile(
    name="Pilvi Oy",
    established_in=("FI",),
    services_in=("FI", "SE"),
    nis2_class="essential",
    entity_type="cloud",
)

SCENARIOS = [
    Scenario(
        # Detected Friday 16:00 Helsinki (EET, +02:00); Finland counts from detection. The
        # 72 hours run across the switch to summer time: 72 elapsed hours end at 17:00 EEST.
        # SE is served but a cloud provider reports only where its main establishment is.
        "cloud provider in FI serving FI and SE, down 45 min for 2 million users",
        CLOUD_FI,
        {
            "detected_at": t("2026-03-27T16:00:00+02:00"),
            "aware_at": t("2026-03-27T17:00:00+02:00"),
            "unavailable_minutes": 45,
            "users_affected": 2_000_000,
        },
        [
            (
                "FI",
                "early-warning",
                "NCSC-FI",
                "2026-03-28T14:00:00Z",
                "2026-03-28T16:00:00+02:00",
                True,
            ),
            (
                "FI",
                "incident-notification",
                "NCSC-FI",
                "2026-03-30T14:00:00Z",
                "2026-03-30T17:00:00+03:00",
                True,
            ),
            (
                "FI",
                "final-report",
                "NCSC-FI",
                "2026-04-30T14:00:00Z",
                "2026-04-30T17:00:00+03:00",
                True,
            ),
            ("FI", "intermediate-report", "NCSC-FI", None, None, True),
        ],
        not_owed=["SE"],
        fired="full unavailability (minutes): 45 > 30",
    ),
    Scenario(
        # DORA: 4 h after classification (06:00 Saturday) beats 24 h after awareness. A credit
        # institution gets no weekend relief for the initial and intermediate reports. Not
        # verified: Finanstilsynet as the DORA authority is not in the collected facts.
        "bank in DK under DORA classified major 02:00 Saturday",
        Profile(
            name="Dansk Bank A/S",
            established_in=("DK",),
            services_in=("DK",),
            dora_financial=True,
            dora_entity_kind="credit-institution",
        ),
        {
            "detected_at": t("2026-06-05T22:00:00+02:00"),
            "aware_at": t("2026-06-05T23:00:00+02:00"),
            "classified_major_at": t("2026-06-06T02:00:00+02:00"),
        },
        [
            (
                "DK",
                "initial-notification",
                "Finanstilsynet",
                "2026-06-06T04:00:00Z",
                "2026-06-06T06:00:00+02:00",
                False,
            ),
            (
                "DK",
                "intermediate-report",
                "Finanstilsynet",
                "2026-06-09T04:00:00Z",
                "2026-06-09T06:00:00+02:00",
                False,
            ),
            (
                "DK",
                "final-report",
                "Finanstilsynet",
                "2026-07-09T04:00:00Z",
                "2026-07-09T06:00:00+02:00",
                False,
            ),
        ],
        fired="classified as major by the entity",
    ),
    Scenario(
        # Same incident at an insurer: Saturday 06:00 moves to Monday noon; the final report
        # (Saturday 11 July) to Monday 13 July noon. The weekend rule is not verified.
        "insurer in DK under DORA classified major 02:00 Saturday",
        Profile(
            name="Forsikring A/S",
            established_in=("DK",),
            services_in=("DK",),
            dora_financial=True,
            dora_entity_kind="insurance-undertaking",
        ),
        {
            "detected_at": t("2026-06-05T22:00:00+02:00"),
            "aware_at": t("2026-06-05T23:00:00+02:00"),
            "classified_major_at": t("2026-06-06T02:00:00+02:00"),
        },
        [
            (
                "DK",
                "initial-notification",
                "Finanstilsynet",
                "2026-06-08T10:00:00Z",
                "2026-06-08T12:00:00+02:00",
                False,
            ),
            (
                "DK",
                "intermediate-report",
                "Finanstilsynet",
                "2026-06-11T10:00:00Z",
                "2026-06-11T12:00:00+02:00",
                False,
            ),
            (
                "DK",
                "final-report",
                "Finanstilsynet",
                "2026-07-13T10:00:00Z",
                "2026-07-13T12:00:00+02:00",
                False,
            ),
        ],
    ),
    Scenario(
        # Norway's NIS1-based law: 24 h to NSM. Aware the evening before summer time ends, so
        # the local deadline reads 21:00 CET although 24 hours later it was 22:00 CEST.
        "DNS provider in NO",
        Profile(
            name="Fjordnett DNS AS",
            established_in=("NO",),
            services_in=("NO", "SE"),
            entity_type="dns",
            nis1_scope=True,
        ),
        {
            "detected_at": t("2026-10-24T21:00:00+02:00"),
            "aware_at": t("2026-10-24T22:00:00+02:00"),
            "nis1_significant_impact": True,
            "unavailable_minutes": 50,
        },
        [("NO", "notification", "NSM", "2026-10-25T20:00:00Z", "2026-10-25T21:00:00+01:00", False)],
        not_owed=["SE"],
        fired="significant impact on the continuity",
    ),
    Scenario(
        "Iceland: 6 h after identification",
        Profile(name="Norðurljós ehf", established_in=("IS",), nis1_scope=True),
        {"detected_at": t("2026-12-24T20:00:00Z"), "nis1_significant_impact": True},
        [
            (
                "IS",
                "notification",
                "CERT-IS",
                "2026-12-25T02:00:00Z",
                "2026-12-25T02:00:00+00:00",
                True,
            )
        ],
    ),
    Scenario(
        # Month end: notification due 31 January; one month later is 28 February (no 31st).
        "month end: final report of an incident notified on 31 January",
        Profile(
            name="Energi A/S", established_in=("DK",), nis2_class="essential", sector="transport"
        ),
        {"aware_at": t("2026-01-28T11:00:00+01:00"), "severe_operational_disruption": True},
        [
            (
                "DK",
                "early-warning",
                "virk.dk",
                "2026-01-29T10:00:00Z",
                "2026-01-29T11:00:00+01:00",
                True,
            ),
            (
                "DK",
                "incident-notification",
                "virk.dk",
                "2026-01-31T10:00:00Z",
                "2026-01-31T11:00:00+01:00",
                True,
            ),
            (
                "DK",
                "final-report",
                "virk.dk",
                "2026-02-28T10:00:00Z",
                "2026-02-28T11:00:00+01:00",
                True,
            ),
            ("DK", "intermediate-report", "virk.dk", None, None, True),
        ],
        fired="Art. 23(3)(a)",
    ),
    Scenario(
        # A month across the end of summer time: 12:00 CEST on 28 September → 12:00 CET on
        # 28 October, which is 11:00 UTC, not 10:00.
        "month across the October DST change",
        Profile(name="Vand A/S", established_in=("DK",), nis2_class="important"),
        {"aware_at": t("2026-09-25T12:00:00+02:00"), "considerable_damage_to_others": True},
        [
            (
                "DK",
                "early-warning",
                "virk.dk",
                "2026-09-26T10:00:00Z",
                "2026-09-26T12:00:00+02:00",
                True,
            ),
            (
                "DK",
                "incident-notification",
                "virk.dk",
                "2026-09-28T10:00:00Z",
                "2026-09-28T12:00:00+02:00",
                True,
            ),
            (
                "DK",
                "final-report",
                "virk.dk",
                "2026-10-28T11:00:00Z",
                "2026-10-28T12:00:00+01:00",
                True,
            ),
            ("DK", "intermediate-report", "virk.dk", None, None, True),
        ],
    ),
    Scenario(
        # Danish energy sector: early warning counted from detection (unverified rule).
        "energy company in DK: early warning from detection",
        Profile(name="Vind A/S", established_in=("DK",), nis2_class="essential", sector="energy"),
        {
            "detected_at": t("2026-05-04T08:00:00Z"),
            "aware_at": t("2026-05-04T20:00:00Z"),
            "severe_operational_disruption": True,
        },
        [
            (
                "DK",
                "early-warning",
                "virk.dk",
                "2026-05-05T08:00:00Z",
                "2026-05-05T10:00:00+02:00",
                False,
            ),
            (
                "DK",
                "incident-notification",
                "virk.dk",
                "2026-05-07T20:00:00Z",
                "2026-05-07T22:00:00+02:00",
                True,
            ),
            (
                "DK",
                "final-report",
                "virk.dk",
                "2026-06-07T20:00:00Z",
                "2026-06-07T22:00:00+02:00",
                True,
            ),
            ("DK", "intermediate-report", "virk.dk", None, None, True),
        ],
    ),
    Scenario(
        # Finnish trust service provider: follow-up 24 h after detection, same as the notice.
        "trust service provider in FI",
        Profile(
            name="Luottamus Oy",
            established_in=("FI",),
            nis2_class="essential",
            entity_type="trust-service",
        ),
        {
            "detected_at": t("2026-02-02T09:00:00+02:00"),
            "aware_at": t("2026-02-02T10:00:00+02:00"),
            "unavailable_minutes": 25,
        },
        [
            (
                "FI",
                "early-warning",
                "NCSC-FI",
                "2026-02-03T07:00:00Z",
                "2026-02-03T09:00:00+02:00",
                True,
            ),
            (
                "FI",
                "incident-notification",
                "NCSC-FI",
                "2026-02-03T07:00:00Z",
                "2026-02-03T09:00:00+02:00",
                True,
            ),
            (
                "FI",
                "final-report",
                "NCSC-FI",
                "2026-03-03T07:00:00Z",
                "2026-03-03T09:00:00+02:00",
                True,
            ),
            ("FI", "intermediate-report", "NCSC-FI", None, None, True),
        ],
        fired="full unavailability (minutes): 25 > 20",
    ),
    Scenario(
        # A telecom operator reports in every Member State where it provides the service.
        "telecom established in SE serving SE, FI and DK",
        Profile(
            name="Nordtel AB",
            established_in=("SE",),
            services_in=("SE", "FI", "DK"),
            nis2_class="essential",
            entity_type="electronic-communications",
        ),
        {
            "detected_at": t("2026-04-10T08:00:00Z"),
            "aware_at": t("2026-04-10T09:00:00Z"),
            "severe_operational_disruption": True,
        },
        [
            (
                "SE",
                "early-warning",
                "CERT-SE",
                "2026-04-11T09:00:00Z",
                "2026-04-11T11:00:00+02:00",
                False,
            ),
            (
                "FI",
                "early-warning",
                "NCSC-FI",
                "2026-04-11T08:00:00Z",
                "2026-04-11T11:00:00+03:00",
                True,
            ),
            (
                "DK",
                "early-warning",
                "virk.dk",
                "2026-04-11T09:00:00Z",
                "2026-04-11T11:00:00+02:00",
                True,
            ),
            (
                "SE",
                "incident-notification",
                "CERT-SE",
                "2026-04-13T09:00:00Z",
                "2026-04-13T11:00:00+02:00",
                False,
            ),
            (
                "FI",
                "incident-notification",
                "NCSC-FI",
                "2026-04-13T08:00:00Z",
                "2026-04-13T11:00:00+03:00",
                True,
            ),
            (
                "DK",
                "incident-notification",
                "virk.dk",
                "2026-04-13T09:00:00Z",
                "2026-04-13T11:00:00+02:00",
                True,
            ),
        ],
    ),
    Scenario(
        # Still being handled at the final-report deadline: a progress report then, and the
        # final report one month after handling ended (resolved 20 May). Notified by 5 March
        # 11:00 CET; a month later the wall clock reads 11:00 CEST, which is 09:00 UTC.
        "incident still ongoing at the final-report deadline",
        Profile(name="Moln AB", established_in=("SE",), nis2_class="important"),
        {
            "aware_at": t("2026-03-02T10:00:00Z"),
            "resolved_at": t("2026-05-20T10:00:00Z"),
            "severe_operational_disruption": True,
        },
        [
            (
                "SE",
                "progress-report",
                "CERT-SE",
                "2026-04-05T09:00:00Z",
                "2026-04-05T11:00:00+02:00",
                False,
            ),
            (
                "SE",
                "final-report",
                "CERT-SE",
                "2026-06-20T10:00:00Z",
                "2026-06-20T12:00:00+02:00",
                False,
            ),
        ],
    ),
]


@pytest.mark.parametrize("case", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_worked_scenario(case: Scenario) -> None:
    results = assess(profile=case.profile, facts=case.facts, now=case.now)
    got = {(o.country, o.stage): o.as_dict() for o in flatten(results)}
    for country, stage, recipient, utc, local, verified in case.expected:
        row = got[(country, stage)]
        assert row["recipient"].startswith(recipient), row["recipient"]
        assert (row["deadline_utc"], row["deadline_local"]) == (utc, local), (country, stage)
        assert row["verified"] is verified, (country, stage, row["sources"])
        assert row["status"] == ("on-request" if utc is None else "due")
    by_country = {r.country: r for r in results}
    for country in case.not_owed:
        assert by_country[country].owed is False
        assert not by_country[country].obligations
    owed = [r for r in results if r.obligations]
    assert owed and all(r.significance and r.significance.outcome is case.outcome for r in owed)
    if case.fired:
        text = " ".join(line for r in owed for line in r.significance.explanation)  # type: ignore[union-attr]
        assert case.fired in text


def test_unknown_share_of_users_is_named_never_not_significant() -> None:
    # An online marketplace, limited for 3 hours for 400,000 users, total users unknown:
    # 400,000 is below 1 million, and the 5 % share cannot be computed.
    profile = Profile(
        name="Torget AB", established_in=("SE",), nis2_class="important", entity_type="marketplace"
    )
    facts = {
        "aware_at": t("2026-05-04T08:00:00Z"),
        "degraded_minutes": 180,
        "users_affected": 400_000,
    }
    (result,) = assess(profile=profile, facts=facts, now=NOW)
    assert result.significance is not None
    assert result.significance.outcome is Outcome.UNDETERMINED
    missing = result.significance.as_dict()["missing"]
    assert any(m.startswith("share of users affected is unknown") for m in missing), missing
    assert result.owed is None and "share of users affected is unknown" in result.reason
    # The clock still runs: the reports are listed, marked as owed if significant.
    ew = next(o for o in result.obligations if o.stage == "early-warning")
    assert ew.conditional and ew.as_dict()["deadline_utc"] == "2026-05-05T08:00:00Z"
    # With the total known (10 million, so 4 %) every criterion is decided.
    known = {
        **facts,
        "users_total": 10_000_000,
        "financial_loss_eur": 0,
        "turnover_eur": 1e9,
        "trade_secrets_exfiltrated": False,
        "death": False,
        "health_damage": False,
        "malicious_access_severe": False,
        "recurring": False,
        "unavailable_minutes": 0,
        "data_compromised": False,
        "scheduled_maintenance": False,
    }
    (decided,) = assess(profile=profile, facts=known, now=NOW)
    assert decided.significance is not None
    assert decided.significance.outcome is Outcome.NOT_SIGNIFICANT
    assert decided.owed is False and not decided.obligations
    # Above 5 % it fires, and the explanation gives the figure.
    (fires,) = assess(profile=profile, facts={**known, "users_total": 4_000_000}, now=NOW)
    assert fires.significance is not None and fires.significance.outcome is Outcome.SIGNIFICANT
    assert "share of users affected (%): 10 > 5" in " ".join(fires.significance.explanation)


def test_scheduled_maintenance_does_not_count() -> None:
    profile = CLOUD_FI
    facts = {
        "detected_at": t("2026-03-27T14:00:00Z"),
        "unavailable_minutes": 120,
        "scheduled_maintenance": True,
    }
    results = assess(profile=profile, facts=facts, now=NOW)
    fi = next(r for r in results if r.country == "FI")
    assert fi.significance is not None
    assert fi.significance.outcome is Outcome.NOT_SIGNIFICANT
    assert "scheduled maintenance" in fi.reason


def test_status_overdue_and_submitted() -> None:
    facts = SCENARIOS[0].facts
    now = t("2026-03-28T15:00:00Z")  # an hour after the early warning was due
    results = assess(profile=CLOUD_FI, facts=facts, now=now)
    status = {o.stage: o.status for o in flatten(results)}
    assert status["early-warning"] == "overdue"
    assert status["incident-notification"] == "due"
    submitted = {
        ("FI", "early-warning"): t("2026-03-28T10:00:00Z"),
        ("FI", "incident-notification"): t("2026-03-28T12:00:00Z"),
    }
    results = assess(profile=CLOUD_FI, facts=facts, now=now, submitted=submitted)
    rows = {o.stage: o.as_dict() for o in flatten(results)}
    assert rows["early-warning"]["status"] == "submitted"
    # The final report now counts from the notification's submission (28 March 14:00 EET),
    # not its deadline: 28 April 14:00 EEST, which is 11:00 UTC.
    assert rows["final-report"]["deadline_utc"] == "2026-04-28T11:00:00Z"
    assert "its submission" in rows["final-report"]["rule"]


def test_dora_without_classification_time_uses_the_24_hour_cap() -> None:
    profile = Profile(
        name="Pankki Oyj",
        established_in=("FI",),
        dora_financial=True,
        dora_entity_kind="credit-institution",
    )
    facts = {
        "aware_at": t("2026-02-03T09:00:00Z"),
        "critical_services_affected": True,
        "clients_affected": 150_000,
        "financial_loss_eur": 250_000,
    }
    (fi,) = assess(profile=profile, facts=facts, now=NOW)
    assert fi.significance is not None and fi.significance.outcome is Outcome.SIGNIFICANT
    assert "clients affected: 150,000 > 100,000" in " ".join(fi.significance.explanation)
    initial = fi.obligations[0].as_dict()
    assert initial["deadline_utc"] == "2026-02-04T09:00:00Z"
    assert any("classified as major" in n for n in initial["notes"])
    assert any("NIS2 does not apply" == n["what"] for n in fi.notes)


def test_now_default_is_utc_aware() -> None:
    results = assess(profile=CLOUD_FI, facts=SCENARIOS[0].facts, now=datetime.now(UTC))
    assert all(o.deadline is None or o.deadline.tzinfo is not None for o in flatten(results))
