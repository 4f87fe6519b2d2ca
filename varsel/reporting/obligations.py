"""Which reports an incident owes, to whom, by when: the obligations engine.

Input is plain data (the entity profile, the impact facts, what was already submitted and the
time now); output is one :class:`JurisdictionResult` per country the entity is established in
or serves, each either with its obligations or with the reason none are owed. Every deadline
says which rule produced it and whether that rule is verified.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from varsel.reporting import calendar
from varsel.reporting import facts as factreg
from varsel.reporting.facts import Profile
from varsel.reporting.rules import Jurisdiction, Rules, Stage, load
from varsel.reporting.significance import Outcome, Significance, combine, criterion

_ANCHORS = {
    "detected": "detected_at",
    "aware": "aware_at",
    "classified_major": "classified_major_at",
    "resolved": "resolved_at",
}
_ANCHOR_WORDS = {
    "detected": "detection",
    "aware": "becoming aware",
    "classified_major": "classification as major",
    "resolved": "the end of handling",
}


@dataclass
class Obligation:
    """One report owed to one authority, with its deadline and status."""

    country: str
    instrument: str
    stage: str
    title: str
    recipient: str
    timezone: str
    deadline: datetime | None
    rule: str
    content: list[dict[str, str]]
    status: str  # due, overdue, submitted, on-request, unknown
    conditional: bool  # owed only if the undetermined significance turns out yes
    submitted_at: datetime | None
    sources: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        """Return whether every rule behind this obligation is verified."""
        return all(s["verified"] for s in self.sources)

    def as_dict(self) -> dict[str, Any]:
        """Return the obligation as JSON-ready data, deadline in UTC and local time."""
        local = self.deadline.astimezone(ZoneInfo(self.timezone)) if self.deadline else None
        return {
            "country": self.country,
            "instrument": self.instrument,
            "stage": self.stage,
            "title": self.title,
            "recipient": self.recipient,
            "timezone": self.timezone,
            "deadline_utc": iso(self.deadline),
            "deadline_local": local.isoformat() if local else None,
            "rule": self.rule,
            "status": self.status,
            "conditional": self.conditional,
            "submitted_at": iso(self.submitted_at),
            "required_content": self.content,
            "verified": self.verified,
            "sources": self.sources,
            "notes": self.notes,
        }


@dataclass
class JurisdictionResult:
    """What one country (or DORA in that country) requires of this incident."""

    country: str
    instrument: str
    title: str
    owed: bool | None
    reason: str
    significance: Significance | None
    obligations: list[Obligation]
    notes: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        """Return the result as JSON-ready data."""
        return {
            "country": self.country,
            "instrument": self.instrument,
            "title": self.title,
            "owed": self.owed,
            "reason": self.reason,
            "significance": self.significance.as_dict() if self.significance else None,
            "obligations": [o.as_dict() for o in self.obligations],
            "notes": self.notes,
        }


def iso(moment: datetime | None) -> str | None:
    """Return ``moment`` as ISO 8601 UTC with a Z, or None."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else None


def _source(what: str, node: Mapping[str, Any]) -> dict[str, Any]:
    return {"what": what, "source": node["source"], "verified": bool(node["verified"])}


# Significance ----------------------------------------------------------------------------


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


def _own_significance(j: Jurisdiction, facts: Mapping[str, Any]) -> Significance:
    assert j.significance is not None
    spec = {**j.significance, "id": j.id.lower()}
    return combine(j.significance["article"], [criterion(spec, facts)])


def dora_significance(rules: Rules, facts: Mapping[str, Any]) -> Significance:
    """Evaluate DORA's major-incident test; the entity's own classification time counts too."""
    result = _own_significance(rules.dora, facts)
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


# Deadlines -------------------------------------------------------------------------------


@dataclass
class _Clock:
    facts: Mapping[str, Any]
    tz: str
    deadlines: dict[str, datetime | None]
    submitted: Mapping[str, datetime]


def _deadline(spec: Mapping[str, Any], clock: _Clock) -> tuple[datetime | None, str, list[str]]:
    """Return (deadline, rule in words, missing anchors) for one deadline spec."""
    if spec.get("on_request"):
        return None, "on request of the CSIRT or authority", []
    if "earliest_of" in spec:
        parts = [_deadline(s, clock) for s in spec["earliest_of"]]
        known = [p for p in parts if p[0] is not None]
        missing = [m for p in parts if p[0] is None for m in p[2]]
        words = " or ".join(p[1] for p in parts) + ", whichever is earlier"
        if not known:
            return None, words, missing
        return min(p[0] for p in known if p[0] is not None), words, missing
    origin: str = spec["from"]
    if origin.startswith("stage:"):
        ref = origin.removeprefix("stage:")
        anchor = clock.submitted.get(ref) or clock.deadlines.get(ref)
        basis = "its submission" if ref in clock.submitted else "its deadline"
        words_from = f"the {ref.replace('-', ' ')} ({basis})"
        missing = [] if anchor else [f"deadline of {ref}"]
    else:
        name = _ANCHORS[origin]
        anchor = clock.facts.get(name)
        words_from = _ANCHOR_WORDS[origin]
        missing = [] if anchor else [name]
    if "hours" in spec:
        words = f"{spec['hours']} h after {words_from}"
        return (anchor + timedelta(hours=spec["hours"]) if anchor else None), words, missing
    months = spec["months"]
    words = f"{months} month{'s' if months > 1 else ''} after {words_from}"
    return (calendar.add_months(anchor, months, clock.tz) if anchor else None), words, missing


def _matches(when: Mapping[str, Any], profile: Profile) -> bool:
    return all(getattr(profile, key, None) in values for key, values in when.items())


def _stage_spec(stage: Stage, profile: Profile) -> tuple[dict[str, Any], dict[str, Any]]:
    for variant in stage.variants:
        if _matches(variant["when"], profile):
            return variant["deadline"], variant
    return stage.deadline, {"source": stage.source, "verified": stage.verified}


def _weekend_exempt(rule: Mapping[str, Any], stage: str, profile: Profile) -> bool:
    if stage not in rule["exempt_stages"]:
        return False
    return profile.dora_entity_kind in rule["exempt_entity_kinds"] or bool(
        rule.get("exempt_if_nis2_class") and profile.nis2_class
    )


def _recipient(j: Jurisdiction, profile: Profile) -> dict[str, Any]:
    for r in j.recipients:
        if r.get("when") and _matches(r["when"], profile):
            return r
    return next(r for r in j.recipients if not r.get("when"))


def _status(
    deadline: datetime | None, submitted: datetime | None, on_request: bool, now: datetime
) -> str:
    if submitted is not None:
        return "submitted"
    if on_request:
        return "on-request"
    if deadline is None:
        return "unknown"
    return "overdue" if now > deadline else "due"


def _obligations(
    j: Jurisdiction,
    country: str,
    recipient: Mapping[str, Any],
    tz: str,
    profile: Profile,
    facts: Mapping[str, Any],
    submitted: Mapping[str, datetime],
    now: datetime,
    conditional: bool,
) -> list[Obligation]:
    clock = _Clock(facts=facts, tz=tz, deadlines={}, submitted=submitted)
    weekend = j.raw.get("weekend_rule")
    out: list[Obligation] = []
    base_sources = [_source("jurisdiction", j.raw), _source("recipient", recipient)]
    for stage in j.stages:
        spec, origin = _stage_spec(stage, profile)
        deadline, words, missing = _deadline(spec, clock)
        notes = [
            f"cannot be computed yet: {factreg.missing_text(m)}"
            if m in factreg.FACTS
            else f"waits for the {m}"
            for m in missing
        ]
        sources = [*base_sources, _source(f"{stage.stage} deadline", origin)]
        if deadline is not None and stage.weekend_rule and weekend:
            if _weekend_exempt(weekend, stage.stage, profile):
                notes.append("weekend/holiday relief does not apply to this entity and stage")
                sources.append(_source("weekend rule exemption", weekend))
            else:
                cats = tuple(weekend["holiday_categories"].get(country, ["public"]))
                noon = time.fromisoformat(weekend["noon"])
                moved = calendar.next_working_noon(deadline, tz, country, cats, noon)
                if moved is not None:
                    notes.append(
                        "falls on a weekend or holiday: may be submitted by noon of "
                        "the next working day"
                    )
                    words += "; moved to noon of the next working day"
                    deadline = moved
                    sources.append(_source("weekend rule", weekend))
        clock.deadlines[stage.stage] = deadline
        content = [{"id": c, "label": j.content_fields[c]["label"]} for c in stage.content]
        if stage.if_ongoing and deadline is not None:
            out.extend(
                _ongoing(
                    j,
                    country,
                    recipient,
                    tz,
                    stage,
                    deadline,
                    words,
                    content,
                    sources,
                    facts,
                    clock,
                    submitted,
                    now,
                    conditional,
                )
            )
            continue
        if deadline is None and missing and spec.get("from") == "resolved":
            notes.append("due after handling ends")
        out.append(
            Obligation(
                country=country,
                instrument=j.id,
                stage=stage.stage,
                title=stage.title,
                recipient=recipient["name"],
                timezone=tz,
                deadline=deadline,
                rule=words,
                content=content,
                status=_status(
                    deadline, submitted.get(stage.stage), bool(spec.get("on_request")), now
                ),
                conditional=conditional,
                submitted_at=submitted.get(stage.stage),
                sources=sources,
                notes=notes,
            )
        )
    return out


def _ongoing(
    j: Jurisdiction,
    country: str,
    recipient: Mapping[str, Any],
    tz: str,
    stage: Stage,
    deadline: datetime,
    words: str,
    content: list[dict[str, str]],
    sources: list[dict[str, Any]],
    facts: Mapping[str, Any],
    clock: _Clock,
    submitted: Mapping[str, datetime],
    now: datetime,
    conditional: bool,
) -> list[Obligation]:
    """Return the final report, or a progress report plus a later final report (Art. 23(4)(e))."""
    spec = stage.if_ongoing or {}
    resolved = facts.get("resolved_at")
    ongoing_at_deadline = (resolved is None and now >= deadline) or (
        resolved is not None and resolved > deadline
    )

    def make(
        name: str,
        title: str,
        when: datetime | None,
        rule: str,
        fields: list[dict[str, str]],
        notes: list[str],
        extra: list[dict[str, Any]],
    ) -> Obligation:
        return Obligation(
            country=country,
            instrument=j.id,
            stage=name,
            title=title,
            recipient=recipient["name"],
            timezone=tz,
            deadline=when,
            rule=rule,
            content=fields,
            status=_status(when, submitted.get(name), False, now),
            conditional=conditional,
            submitted_at=submitted.get(name),
            sources=[*sources, *extra],
            notes=notes,
        )

    if not ongoing_at_deadline:
        note = (
            []
            if resolved is not None
            else [
                "if the incident is still being handled at this deadline, a progress report "
                "is due then instead, and the final report 1 month after handling ends"
            ]
        )
        return [make(stage.stage, stage.title, deadline, words, content, note, [])]
    progress_fields = [
        {"id": c, "label": j.content_fields[c]["label"]} for c in spec.get("content", ())
    ]
    final_at, final_words, missing = _deadline(spec["final_deadline"], clock)
    notes = [] if final_at else ["due 1 month after handling ends; resolved_at is not known yet"]
    return [
        make(
            spec["stage"],
            spec["title"],
            deadline,
            f"{words}, because the incident is still being handled then",
            progress_fields,
            [],
            [_source("progress report", spec)],
        ),
        make(
            stage.stage,
            stage.title,
            final_at,
            final_words,
            content,
            notes,
            [_source("final report after a progress report", spec)],
        ),
    ]


# Jurisdictions ---------------------------------------------------------------------------


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
        note = _source("NIS2 does not apply", rules.nis2["dora_exclusion"])
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
            notes = [{**_source("jurisdiction", basis), "text": basis["text"]}]
        else:
            notes = []
            owed = country in profile.established_in
            why = (
                f"established in {country}"
                if owed
                else f"NIS1-based law: only entities established in {country} report there"
            )
            sig = _own_significance(j, known)
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
            results[-1].notes.append({**_source("cross-border", cb), "text": cb["text"]})
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
    obligations = _obligations(j, country, recipient, tz, profile, facts, mine, now, conditional)
    if conditional:
        why += (
            "; significance undetermined, so these reports are owed if it is significant: "
            + "; ".join(factreg.missing_text(m) for m in sig.missing)
        )
    return JurisdictionResult(
        country, j.id, j.title, None if conditional else True, why, sig, obligations, []
    )


def flatten(results: list[JurisdictionResult]) -> list[Obligation]:
    """Return every obligation of ``results``, by deadline (unknown deadlines last)."""
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(
        (o for r in results for o in r.obligations),
        key=lambda o: (o.deadline or far, o.country, o.stage),
    )
