"""The impact facts the engine reasons over: their names, kinds and human labels.

One registry serves validation (service, REST, CLI), the significance explanations ("share of
users affected is unknown") and the report templates, so a fact is named the same everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from varsel.errors import InvalidInput

TIME, INT, NUMBER, BOOL = "time", "int", "number", "bool"

# name -> (kind, label). Times are the clock anchors; the rest feed the significance tests.
FACTS: dict[str, tuple[str, str]] = {
    "detected_at": (TIME, "time the incident was detected"),
    "aware_at": (TIME, "time the entity became aware of the significant incident"),
    "classified_major_at": (TIME, "time the incident was classified as major (DORA)"),
    "resolved_at": (TIME, "time the incident was resolved"),
    "users_total": (INT, "number of users in the Union"),
    "users_affected": (INT, "number of users affected"),
    "users_affected_share_pct": (NUMBER, "share of users affected"),
    "unavailable_minutes": (NUMBER, "duration of full unavailability (minutes)"),
    "weekly_unavailable_minutes": (NUMBER, "unavailability in the calendar week (minutes)"),
    "degraded_minutes": (NUMBER, "duration of limited availability (minutes)"),
    "avg_response_seconds": (NUMBER, "average response time (seconds)"),
    "financial_loss_eur": (NUMBER, "direct financial loss (EUR)"),
    "turnover_eur": (NUMBER, "previous year's turnover (EUR)"),
    "financial_loss_pct_of_turnover": (NUMBER, "financial loss as a share of turnover"),
    "clients_total": (INT, "number of clients of the affected service"),
    "clients_affected": (INT, "number of clients affected"),
    "clients_affected_share_pct": (NUMBER, "share of clients affected"),
    "domains_managed": (INT, "number of domain names managed"),
    "domains_affected": (INT, "number of domain names affected"),
    "domains_affected_share_pct": (NUMBER, "share of domain names affected"),
    "duration_hours": (NUMBER, "duration of the incident (hours)"),
    "data_compromised": (
        BOOL,
        "whether integrity, confidentiality or authenticity of data was compromised",
    ),
    "misconfiguration": (BOOL, "whether the cause was a misconfiguration"),
    "physical_access_compromised": (BOOL, "whether physical access was compromised"),
    "suspected_malicious": (BOOL, "whether a malicious or unlawful cause is suspected"),
    "cross_border": (BOOL, "whether the incident has a cross-border effect"),
    "trade_secrets_exfiltrated": (BOOL, "whether trade secrets were exfiltrated"),
    "death": (BOOL, "whether a natural person died"),
    "health_damage": (BOOL, "whether a person's health was considerably damaged"),
    "malicious_access_severe": (
        BOOL,
        "whether suspectedly malicious unauthorised access capable of severe disruption succeeded",
    ),
    "recurring": (BOOL, "whether recurring incidents meet Art. 4 of 2024/2690"),
    "scheduled_maintenance": (BOOL, "whether the incident was caused by scheduled maintenance"),
    "severe_operational_disruption": (
        BOOL,
        "whether the incident causes severe operational "
        "disruption or financial loss (entity's assessment)",
    ),
    "considerable_damage_to_others": (
        BOOL,
        "whether others suffer considerable damage (entity's assessment)",
    ),
    "nis1_significant_impact": (
        BOOL,
        "whether the incident significantly impacts the "
        "continuity of the service (entity's assessment)",
    ),
    "critical_services_affected": (BOOL, "whether critical services are affected (DORA)"),
    "dora_materiality_threshold_met": (
        BOOL,
        "whether DORA's materiality threshold (2024/1772 Art. 9(5)(b)) is met",
    ),
    "reputational_impact": (BOOL, "whether there is reputational impact (DORA)"),
}

# Derived shares: (result, numerator, denominator); a directly given share wins.
_SHARES = (
    ("users_affected_share_pct", "users_affected", "users_total"),
    ("clients_affected_share_pct", "clients_affected", "clients_total"),
    ("domains_affected_share_pct", "domains_affected", "domains_managed"),
    ("financial_loss_pct_of_turnover", "financial_loss_eur", "turnover_eur"),
)
_HINTS = {name: f"give {name}, or {den} with {num}" for name, num, den in _SHARES}
_HINTS["duration_hours"] = "give duration_hours, or detected_at with resolved_at"


def label(name: str) -> str:
    """Return the human label of fact ``name``."""
    return FACTS.get(name, ("", name.replace("_", " ")))[1]


def missing_text(name: str) -> str:
    """Return how a report names a missing fact, e.g. 'share of users affected is unknown'."""
    hint = _HINTS.get(name)
    return f"{label(name)} is unknown" + (f" ({hint})" if hint else "")


def parse_time(value: Any, name: str) -> datetime:
    """Return an aware UTC datetime from an ISO 8601 string or datetime; offsets are required."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput(f"{name} must be an ISO 8601 time, got {value!r}") from None
    else:
        raise InvalidInput(f"{name} must be an ISO 8601 time with a UTC offset")
    if moment.tzinfo is None:
        raise InvalidInput(f"{name} needs a UTC offset (e.g. 2026-03-27T14:00:00Z or +02:00)")
    # Deadlines add months to these times; far-off years would overflow the calendar.
    if not 1970 <= moment.year <= 2200:
        raise InvalidInput(f"{name} must be between the years 1970 and 2200")
    return moment.astimezone(UTC)


def parse_value(name: str, value: Any) -> Any:
    """Return ``value`` checked and converted for fact ``name``; None clears the fact."""
    if name not in FACTS:
        raise InvalidInput(f"unknown fact {name!r}; known facts: {', '.join(sorted(FACTS))}")
    if value is None:
        return None
    kind = FACTS[name][0]
    if kind == TIME:
        return parse_time(value, name)
    if kind == BOOL:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {"true", "yes", "1", "false", "no", "0"}:
            return value.lower() in {"true", "yes", "1"}
        raise InvalidInput(f"{name} must be true or false, got {value!r}")
    try:
        number = int(value) if kind == INT else float(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{name} must be a number, got {value!r}") from None
    if isinstance(value, bool) or number < 0 or not math.isfinite(number):
        raise InvalidInput(f"{name} must be a non-negative number, got {value!r}")
    if kind == INT and isinstance(value, float) and not value.is_integer():
        raise InvalidInput(f"{name} must be a whole number, got {value!r}")
    if name.endswith("_pct") and number > 100:
        raise InvalidInput(f"{name} is a percentage and cannot exceed 100, got {value!r}")
    return number


# The clock anchors in the only order they can happen: detection, awareness, classification.
ORDER = ("detected_at", "aware_at", "classified_major_at")


def upper_bound(name: str, facts: Mapping[str, Any]) -> str | None:
    """Return the known fact that ``name`` (unknown) can be no later than, e.g. aware_at.

    Detection is never later than awareness, nor awareness than classification, so a clock that
    runs from an unknown detection ends no later than the same clock run from awareness.
    """
    if name not in ORDER:
        return None
    return next((n for n in ORDER[ORDER.index(name) + 1 :] if facts.get(n) is not None), None)


def check_order(facts: Mapping[str, Any]) -> None:
    """Refuse times in an impossible order: detection ≤ awareness ≤ classification."""
    order = ORDER
    known = [(n, facts[n]) for n in order if facts.get(n) is not None]
    for (first, a), (second, b) in zip(known, known[1:], strict=False):
        if b < a:
            raise InvalidInput(f"{second} ({b.isoformat()}) is before {first} ({a.isoformat()})")
    detected, resolved = facts.get("detected_at"), facts.get("resolved_at")
    if detected is not None and resolved is not None and resolved < detected:
        raise InvalidInput("resolved_at is before detected_at")


@dataclass(frozen=True)
class Profile:
    """The affected entity as the rules see it."""

    name: str
    established_in: tuple[str, ...] = ()
    main_establishment: str | None = None
    services_in: tuple[str, ...] = ()
    nis2_class: str | None = None  # "essential", "important" or None
    sector: str | None = None
    entity_type: str | None = None  # 2024/2690 type, or "electronic-communications"
    nis1_scope: bool = False  # in scope of Norway's or Iceland's NIS1-based law
    dora_financial: bool = False
    dora_entity_kind: str | None = None  # credit-institution, central-counterparty, ...
    extra: dict[str, Any] = field(default_factory=dict)


def with_derived(facts: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``facts`` plus the shares and durations that follow from them."""
    # Aware datetimes in a local zone add hours on the wall clock; UTC adds elapsed hours.
    out: dict[str, Any] = {
        k: (v.astimezone(UTC) if isinstance(v, datetime) else v)
        for k, v in facts.items()
        if v is not None
    }
    for name, num, den in _SHARES:
        if name not in out and out.get(num) is not None and out.get(den):
            out[name] = round(100.0 * out[num] / out[den], 4)
        elif name not in out and out.get(num) == 0:
            # A known zero is zero per cent of any total: the unknown total cannot matter.
            out[name] = 0.0
    if "duration_hours" not in out and out.get("detected_at") and out.get("resolved_at"):
        out["duration_hours"] = (out["resolved_at"] - out["detected_at"]).total_seconds() / 3600
    return out
