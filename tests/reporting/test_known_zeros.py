"""Known zeros decide: a zero cannot exceed any threshold, whatever total is still unknown."""

from __future__ import annotations

from typing import Any

from varsel.reporting.facts import Profile, with_derived
from varsel.reporting.obligations import dora_significance, nis2_significance
from varsel.reporting.rules import load
from varsel.reporting.significance import Outcome

CLOUD = Profile(
    name="Pilvi Oy", established_in=("FI",), nis2_class="essential", entity_type="cloud"
)
# Every 2024/2690 criterion for a cloud provider decided, except the totals behind two shares.
DECIDED: dict[str, Any] = {
    "trade_secrets_exfiltrated": False,
    "death": False,
    "health_damage": False,
    "malicious_access_severe": False,
    "recurring": False,
    "scheduled_maintenance": False,
    "unavailable_minutes": 20,
    "degraded_minutes": 0,
    "data_compromised": False,
}


def test_zero_loss_and_zero_users_decide_with_the_totals_unknown() -> None:
    facts = {**DECIDED, "financial_loss_eur": 0, "users_affected": 0}
    result = nis2_significance(load(), CLOUD, with_derived(facts))
    assert result.outcome is Outcome.NOT_SIGNIFICANT, result.as_dict()
    assert result.missing == []
    # "Not significant" explains every criterion with its figure and threshold.
    lines = result.explanation
    assert "Art. 7(a): full unavailability (minutes): 20 ≤ 30" in lines
    assert any(
        line.startswith("Art. 3(1)(a): direct financial loss (EUR): 0 ≤ 500,000") for line in lines
    )
    assert "Art. 3(1)(b): exfiltration of trade secrets: no" in lines


def test_a_loss_above_zero_with_turnover_unknown_stays_undetermined() -> None:
    facts = {**DECIDED, "financial_loss_eur": 1000, "users_affected": 0}
    result = nis2_significance(load(), CLOUD, with_derived(facts))
    assert result.outcome is Outcome.UNDETERMINED
    assert result.missing == ["financial_loss_pct_of_turnover"]


def test_dora_zero_clients_is_decided_without_the_client_total() -> None:
    facts = {
        "critical_services_affected": True,
        "dora_materiality_threshold_met": False,
        "clients_affected": 0,
        "reputational_impact": False,
        "duration_hours": 1,
        "unavailable_minutes": 10,
        "cross_border": False,
        "data_compromised": False,
        "financial_loss_eur": 0,
    }
    result = dora_significance(load(), with_derived(facts))
    assert result.outcome is Outcome.NOT_SIGNIFICANT, result.as_dict()
    assert any("0 met, 2 needed" in line for line in result.explanation), result.explanation
