"""The DORA major-incident test when the entity classified the incident as major itself."""

from __future__ import annotations

from datetime import UTC, datetime

from varsel.reporting.obligations import dora_significance
from varsel.reporting.rules import load
from varsel.reporting.significance import Outcome


def test_a_classification_as_major_leaves_no_undecided_explanation() -> None:
    rules = load()
    # No impact figures: on the criteria alone the question cannot be decided.
    alone = dora_significance(rules, {})
    assert alone.outcome is Outcome.UNDETERMINED and alone.missing
    classified = dora_significance(
        rules, {"classified_major_at": datetime(2026, 6, 6, 0, 0, tzinfo=UTC)}
    )
    assert classified.outcome is Outcome.SIGNIFICANT
    shown = classified.as_dict()
    assert shown["missing"] == []
    assert not any("cannot be decided" in line for line in shown["explanation"])
    assert shown["explanation"][0].startswith(
        "classified as major by the entity at 2026-06-06T00:00:00Z"
    )
    # The criteria are still there, for reference, as they came out.
    assert [c["outcome"] for c in shown["criteria"]] == [c.outcome for c in alone.criteria]


def test_facts_showing_no_criterion_met_do_not_contradict_the_classification() -> None:
    rules = load()
    facts = {
        "classified_major_at": datetime(2026, 6, 6, 0, 0, tzinfo=UTC),
        "critical_services_affected": False,
    }
    result = dora_significance(rules, facts)
    assert result.outcome is Outcome.SIGNIFICANT
    assert not any("none is met" in line for line in result.explanation)
    assert result.missing == []
