"""Deadlines and obligations of one jurisdiction: each stage's deadline from its anchor time or
from an earlier stage, weekend and holiday relief, and the progress report that replaces a
final report while handling goes on (NIS2 Art. 23(4)(e)).

A deadline that cannot be computed yet says which fact or earlier stage it waits for.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from varsel.reporting import calendar
from varsel.reporting import facts as factreg
from varsel.reporting.facts import Profile
from varsel.reporting.obligations._results import Obligation, _source
from varsel.reporting.rules import Jurisdiction, Stage

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
