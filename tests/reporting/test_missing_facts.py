"""Missing facts never hide a deadline: the latest permissible one is shown, the gap named."""

from __future__ import annotations

from datetime import datetime

from varsel.reporting import Profile, assess, flatten
from varsel.reporting.facts import parse_time


def t(text: str) -> datetime:
    return parse_time(text, "test")


CLOUD_FI = Profile(
    name="Pilvi Oy",
    established_in=("FI",),
    services_in=("FI",),
    nis2_class="essential",
    entity_type="cloud",
)
OPERATOR_IS = Profile(name="Orka hf", established_in=("IS",), nis1_scope=True)


def _rows(profile: Profile, facts: dict[str, object], now: str) -> dict[str, dict[str, object]]:
    results = assess(profile=profile, facts=facts, now=t(now))
    return {o.stage: o.as_dict() for o in flatten(results)}


def test_finland_counts_from_detection_so_awareness_bounds_the_deadline() -> None:
    # Only awareness known (Friday 17:00 Helsinki); detection cannot have been later.
    rows = _rows(
        CLOUD_FI,
        {"aware_at": t("2026-03-27T17:00:00+02:00"), "unavailable_minutes": 45},
        "2026-03-27T16:00:00Z",
    )
    early = rows["early-warning"]
    assert early["deadline_utc"] == "2026-03-28T15:00:00Z"
    assert early["deadline_kind"] == "latest" and early["status"] == "due"
    assert early["missing_facts"] == ["detected_at"]
    assert "detected_at unknown: at the latest after becoming aware" in str(early["rule"])
    assert any("give detected_at" in n for n in early["notes"])  # type: ignore[attr-defined]
    notification = rows["incident-notification"]
    assert notification["deadline_utc"] == "2026-03-30T15:00:00Z"  # 72 elapsed hours
    assert notification["deadline_kind"] == "latest"
    # A stage counting from a bounded deadline is bounded too, and says so.
    final = rows["final-report"]
    assert final["deadline_kind"] == "latest" and final["missing_facts"] == ["detected_at"]


def test_the_exact_deadline_replaces_the_bound_once_detection_is_known() -> None:
    rows = _rows(
        CLOUD_FI,
        {
            "detected_at": t("2026-03-27T16:00:00+02:00"),
            "aware_at": t("2026-03-27T17:00:00+02:00"),
            "unavailable_minutes": 45,
        },
        "2026-03-27T16:00:00Z",
    )
    assert rows["early-warning"]["deadline_utc"] == "2026-03-28T14:00:00Z"
    assert rows["early-warning"]["deadline_kind"] == "exact"
    assert rows["early-warning"]["missing_facts"] == []


def test_iceland_six_hours_from_identification_bounded_by_awareness() -> None:
    rows = _rows(
        OPERATOR_IS,
        {"aware_at": t("2026-05-04T09:00:00Z"), "nis1_significant_impact": True},
        "2026-05-04T16:00:00Z",
    )
    notification = rows["notification"]
    assert notification["deadline_utc"] == "2026-05-04T15:00:00Z"
    assert notification["status"] == "overdue" and notification["deadline_kind"] == "latest"


def test_with_no_time_at_all_the_deadline_stays_unknown_and_names_the_fact() -> None:
    rows = _rows(OPERATOR_IS, {"nis1_significant_impact": True}, "2026-05-04T16:00:00Z")
    notification = rows["notification"]
    assert notification["status"] == "unknown" and notification["deadline_kind"] is None
    assert notification["missing_facts"] == ["detected_at"]
