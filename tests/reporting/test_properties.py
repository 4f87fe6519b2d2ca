"""Properties over random incidents: a stage's deadline is never earlier than the one before."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from varsel.reporting import Profile, assess
from varsel.reporting.obligations import JurisdictionResult

PROFILES = [
    Profile(
        name="cloud",
        established_in=("FI",),
        services_in=("FI", "SE"),
        nis2_class="essential",
        entity_type="cloud",
    ),
    Profile(
        name="telecom",
        established_in=("SE",),
        services_in=("SE", "FI", "DK"),
        nis2_class="essential",
        entity_type="electronic-communications",
    ),
    Profile(
        name="tsp", established_in=("FI",), nis2_class="important", entity_type="trust-service"
    ),
    Profile(name="energy", established_in=("DK",), nis2_class="essential", sector="energy"),
    Profile(
        name="bank",
        established_in=("DK",),
        dora_financial=True,
        dora_entity_kind="credit-institution",
    ),
    Profile(
        name="insurer",
        established_in=("SE",),
        dora_financial=True,
        dora_entity_kind="insurance-undertaking",
    ),
    Profile(name="dns", established_in=("NO",), nis1_scope=True, entity_type="dns"),
    Profile(name="iceland", established_in=("IS",), nis1_scope=True),
]
FACTS = {
    "severe_operational_disruption": True,
    "nis1_significant_impact": True,
    "unavailable_minutes": 90,
    "critical_services_affected": True,
    "dora_materiality_threshold_met": True,
}

moments = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)
)
gaps = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3))


def _check(results: list[JurisdictionResult], submitted: dict[tuple[str, str], datetime]) -> None:
    for result in results:
        previous = None
        for o in result.obligations:
            if o.deadline is None:
                continue
            if previous is not None:
                sent = submitted.get((o.country, previous.stage))
                if sent is None:
                    assert o.deadline >= previous.deadline, (result.country, o.stage)
                else:
                    # Submitted early, the previous stage can move the next deadline before its
                    # own (e.g. DORA: intermediate 72 h after the initial notification was
                    # sent, while an unsent initial's deadline slides past a weekend), but
                    # never before both that deadline and the submission.
                    assert o.deadline >= min(sent, previous.deadline), (result.country, o.stage)
                    if "its submission" in o.rule:
                        assert o.deadline >= sent, (result.country, o.stage)
            previous = o


@settings(max_examples=150, deadline=None)
@given(
    profile=st.sampled_from(PROFILES),
    detected=moments,
    to_aware=gaps,
    to_major=gaps,
    resolved_after=st.none()
    | st.timedeltas(min_value=timedelta(hours=1), max_value=timedelta(days=90)),
    submit_after=st.lists(st.none() | gaps, min_size=4, max_size=4),
)
def test_stage_deadlines_are_monotone(
    profile: Profile,
    detected: datetime,
    to_aware: timedelta,
    to_major: timedelta,
    resolved_after: timedelta | None,
    submit_after: list[timedelta | None],
) -> None:
    aware = detected + to_aware
    facts = {
        **FACTS,
        "detected_at": detected,
        "aware_at": aware,
        "classified_major_at": aware + to_major,
    }
    if resolved_after is not None:
        facts["resolved_at"] = detected + resolved_after
    now = aware + timedelta(hours=1)
    # Without submissions the schedule itself must be ordered.
    results = assess(profile=profile, facts=facts, now=now)
    _check(results, {})
    # With some stages submitted (never before awareness) the order still holds.
    submitted: dict[tuple[str, str], datetime] = {}
    for result in results:
        for o, gap in zip(result.obligations, submit_after, strict=False):
            if gap is not None and o.deadline is not None:
                submitted[(o.country, o.stage)] = aware + gap
    _check(assess(profile=profile, facts=facts, now=now, submitted=submitted), submitted)
