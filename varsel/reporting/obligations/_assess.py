"""The engine's entry points: :func:`assess` decides, country by country, whether reports are
owed and to whom; :func:`flatten` lists every obligation by deadline.

DORA financial entities report to their home competent authority only (and NIS2 then does
not apply); otherwise each country's NIS2 transposition or NIS1-based law decides.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from varsel.reporting import facts as factreg
from varsel.reporting.facts import Profile
from varsel.reporting.obligations._deadlines import matches, obligations_in
from varsel.reporting.obligations._results import (
    JurisdictionResult,
    Obligation,
    duration_text,
    iso,
    source_of,
)
from varsel.reporting.obligations._significance import (
    dora_significance,
    nis2_significance,
    own_significance,
)
from varsel.reporting.rules import Jurisdiction, Rules, load
from varsel.reporting.significance import Outcome, Significance


def _recipient(j: Jurisdiction, profile: Profile) -> dict[str, Any]:
    for r in j.recipients:
        if r.get("when") and matches(r["when"], profile):
            return r
    return next(r for r in j.recipients if not r.get("when"))


def _nis2_owed(rules: Rules, profile: Profile, country: str) -> tuple[bool, str]:
    rule = rules.nis2["jurisdiction"]
    if profile.entity_type in rule["main_establishment_types"]:
        main = profile.main_establishment or (
            profile.established_in[0] if len(profile.established_in) == 1 else None
        )
        if main is None:
            return True, (
                "main establishment unknown: listed for every country of "
                "establishment until it is given"
            )
        if country == main:
            return True, f"main establishment is in {country} (Art. 26(1)(b))"
        return False, (
            f"{profile.entity_type} providers fall under the Member State of their "
            f"main establishment ({main}), not {country} (Art. 26(1)(b)); the "
            f"receiving CSIRT informs {country} of cross-border impact (Art. 23(6))"
        )
    if profile.entity_type in rule["service_provision_types"]:
        if country in profile.services_in or country in profile.established_in:
            return True, f"provides electronic communications services in {country} (Art. 26(1)(a))"
        return False, f"provides no services in {country}"
    if country in profile.established_in:
        return True, f"established in {country} (Art. 26(1))"
    return False, (
        f"not established in {country}; entities report where they are established "
        f"(Art. 26(1)); the CSIRT informs {country} of cross-border impact"
    )


def assess(
    *,
    profile: Profile,
    facts: Mapping[str, Any],
    now: datetime,
    submitted: Mapping[tuple[str, str], datetime] | None = None,
    rules: Rules | None = None,
) -> list[JurisdictionResult]:
    """Return, country by country, whether reports are owed and every obligation with status."""
    rules = rules or load()
    submitted = submitted or {}
    known = factreg.with_derived(facts)
    countries = list(dict.fromkeys([*profile.established_in, *profile.services_in]))
    results: list[JurisdictionResult] = []
    if profile.dora_financial:
        dora = rules.dora
        sig = dora_significance(rules, known)
        for country in profile.established_in:
            auth = dora.raw["competent_authorities"].get(country) or {
                **dora.raw["default_authority"],
                "timezone": (
                    rules.jurisdictions[country].timezone
                    if country in rules.jurisdictions
                    else "UTC"
                ),
            }
            results.append(
                _result(
                    dora,
                    country,
                    auth,
                    auth["timezone"],
                    sig,
                    profile,
                    known,
                    submitted,
                    now,
                    f"DORA financial entity established in {country}",
                )
            )
        for country in countries:
            if country not in profile.established_in:
                results.append(
                    JurisdictionResult(
                        country,
                        "dora",
                        dora.title,
                        False,
                        "DORA reports go to the home competent authority only",
                        None,
                        [],
                        [],
                    )
                )
        note = source_of("NIS2 does not apply", rules.nis2["dora_exclusion"])
        for r in results:
            r.notes.append({**note, "text": rules.nis2["dora_exclusion"]["text"]})
        return results
    for country in countries:
        j = rules.jurisdictions.get(country)
        if j is None:
            results.append(
                JurisdictionResult(
                    country,
                    "",
                    "",
                    None,
                    f"Varsel has no reporting rules for {country}",
                    None,
                    [],
                    [],
                )
            )
            continue
        needs = j.applies_if.get("profile")
        if needs == "nis2_class" and not profile.nis2_class:
            results.append(
                JurisdictionResult(
                    country,
                    j.id,
                    j.title,
                    False,
                    "the entity is not a NIS2 essential or important entity",
                    None,
                    [],
                    [],
                )
            )
            continue
        if needs == "nis1_scope" and not profile.nis1_scope:
            results.append(
                JurisdictionResult(
                    country,
                    j.id,
                    j.title,
                    False,
                    f"the entity is not in scope of {j.title}",
                    None,
                    [],
                    [],
                )
            )
            continue
        if j.regime == "nis2":
            owed, why = _nis2_owed(rules, profile, country)
            sig = nis2_significance(rules, profile, known)
            basis = rules.nis2["jurisdiction"]
            notes = [{**source_of("jurisdiction", basis), "text": basis["text"]}]
        else:
            notes = []
            owed = country in profile.established_in
            why = (
                f"established in {country}"
                if owed
                else f"NIS1-based law: only entities established in {country} report there"
            )
            sig = own_significance(j, known)
        if not owed:
            results.append(JurisdictionResult(country, j.id, j.title, False, why, sig, [], notes))
            continue
        recipient = _recipient(j, profile)
        results.append(
            _result(
                j, country, recipient, j.timezone or "UTC", sig, profile, known, submitted, now, why
            )
        )
        results[-1].notes.extend(notes)
        if j.regime == "nis2" and rules.nis2.get("cross_border_note") and known.get("cross_border"):
            cb = rules.nis2["cross_border_note"]
            results[-1].notes.append({**source_of("cross-border", cb), "text": cb["text"]})
    return results


def _result(
    j: Jurisdiction,
    country: str,
    recipient: Mapping[str, Any],
    tz: str,
    sig: Significance,
    profile: Profile,
    facts: Mapping[str, Any],
    submitted: Mapping[tuple[str, str], datetime],
    now: datetime,
    why: str,
) -> JurisdictionResult:
    if sig.outcome is Outcome.NOT_SIGNIFICANT:
        return JurisdictionResult(
            country,
            j.id,
            j.title,
            False,
            f"{why}; not significant: {'; '.join(sig.explanation)}",
            sig,
            [],
            [],
        )
    conditional = sig.outcome is Outcome.UNDETERMINED
    mine = {stage: at for (c, stage), at in submitted.items() if c == country}
    obligations = obligations_in(j, country, recipient, tz, profile, facts, mine, now, conditional)
    late_notice = j.raw.get("late_notice")
    for o in obligations:
        if o.late_by is not None:
            o.notes.append(
                f"LATE: submitted {duration_text(o.late_by)} after the deadline ({iso(o.deadline)})"
            )
        if late_notice and o.status in {"due", "overdue"}:
            o.prompts.append(
                {
                    **source_of("late notice", late_notice),
                    "text": f"{late_notice['text']} (to {recipient['name']})",
                }
            )
    # National transpositions inherit the Directive's duties from the file their stages come from.
    inherited = load().files.get(j.raw.get("stages_from", ""), {}).get("duties", ())
    duties = [{**source_of(d["id"], d), "text": d["text"]} for d in j.raw.get("duties", inherited)]
    if conditional:
        why += (
            "; significance undetermined, so these reports are owed if it is significant: "
            + "; ".join(factreg.missing_text(m) for m in sig.missing)
        )
    # Duties besides the reports (telling service recipients or clients) go with them.
    return JurisdictionResult(
        country, j.id, j.title, None if conditional else True, why, sig, obligations, duties
    )


def flatten(results: list[JurisdictionResult]) -> list[Obligation]:
    """Return every obligation of ``results``, by deadline (unknown deadlines last)."""
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(
        (o for r in results for o in r.obligations),
        key=lambda o: (o.deadline or far, o.country, o.stage),
    )
