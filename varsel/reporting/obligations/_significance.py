"""Which significance test applies: NIS2 Art. 23(3) (through 2024/2690's thresholds where the
entity type has them), DORA's major-incident test, or a national law's own test.

The criteria themselves are evaluated by :mod:`varsel.reporting.significance`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from varsel.reporting.facts import Profile
from varsel.reporting.obligations._results import iso
from varsel.reporting.rules import Jurisdiction, Rules
from varsel.reporting.significance import Outcome, Significance, combine, criterion


def nis2_significance(rules: Rules, profile: Profile, facts: Mapping[str, Any]) -> Significance:
    """Evaluate NIS2 Art. 23(3), through 2024/2690's thresholds where the entity type has them."""
    ir = rules.thresholds
    if profile.entity_type in ir["scope"]:
        excluded = criterion(
            {**ir["excluded"], "id": "scheduled-maintenance", "article": "2024/2690 Art. 3(2)"},
            facts,
        )
        if excluded.outcome == "met":
            return Significance(
                "2024/2690",
                Outcome.NOT_SIGNIFICANT,
                [excluded],
                ["caused by scheduled maintenance (Art. 3(2)): does not count"],
                [],
            )
        specs = [*ir["general"], *ir["types"][profile.entity_type]["criteria"]]
        return combine("2024/2690", [criterion(s, facts, ir["macros"]) for s in specs])
    spec = rules.nis2["significance"]
    return combine("NIS2 Art. 23(3)", [criterion({**spec, "id": "art-23-3"}, facts)])


def own_significance(j: Jurisdiction, facts: Mapping[str, Any]) -> Significance:
    """Return the significance under ``j``'s own criterion alone."""
    assert j.significance is not None
    spec = {**j.significance, "id": j.id.lower()}
    return combine(j.significance["article"], [criterion(spec, facts)])


def dora_significance(rules: Rules, facts: Mapping[str, Any]) -> Significance:
    """Evaluate DORA's major-incident test; the entity's own classification time counts too."""
    result = own_significance(rules.dora, facts)
    if facts.get("classified_major_at") and result.outcome is not Outcome.SIGNIFICANT:
        when = iso(facts["classified_major_at"])
        # The entity's classification settles the question: what the criteria lack (or deny)
        # no longer matters, so neither the "cannot be decided" line nor missing facts remain.
        return Significance(
            result.instrument,
            Outcome.SIGNIFICANT,
            result.criteria,
            [
                f"classified as major by the entity at {when}; that classification decides, "
                "so the criteria below are shown for reference only"
            ],
            [],
        )
    return result
