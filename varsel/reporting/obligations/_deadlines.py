"""Deadlines and obligations of one jurisdiction: each stage's deadline from its anchor time or
from an earlier stage, weekend and holiday relief, and the progress report that replaces a
final report while handling goes on (NIS2 Art. 23(4)(e)).

A deadline that cannot be computed yet says which fact or earlier stage it waits for.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from varsel.reporting import calendar
from varsel.reporting import facts as factreg
from varsel.reporting.facts import Profile
from varsel.reporting.obligations._results import Obligation, iso, source_of
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
    # Stage -> the unknown facts that make its deadline only the latest permissible one.
    bounded: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class _Computed:
    """One deadline spec worked out: when, the rule in words, and what is not known."""

    deadline: datetime | None
    words: str
    missing: list[str]
    # Unknown anchors replaced by a later known time: the deadline is the latest permissible.
    bounded: list[str] = field(default_factory=list)


_FACT_WORDS = {fact: _ANCHOR_WORDS[anchor] for anchor, fact in _ANCHORS.items()}


def _deadline(spec: Mapping[str, Any], clock: _Clock) -> _Computed:
    """Return the deadline, rule in words, missing anchors and bounds of one deadline spec."""
    if spec.get("on_request"):
        return _Computed(None, "on request of the CSIRT or authority", [])
    if "earliest_of" in spec:
        parts = [_deadline(s, clock) for s in spec["earliest_of"]]
        known = [p for p in parts if p.deadline is not None]
        missing = [m for p in parts if p.deadline is None for m in p.missing]
        words = " or ".join(p.words for p in parts) + ", whichever is earlier"
        if not known:
            return _Computed(None, words, missing)
        first = min(known, key=lambda p: p.deadline or datetime.max)
        return _Computed(first.deadline, words, missing, first.bounded)
    origin: str = spec["from"]
    bounded: list[str] = []
    if origin.startswith("stage:"):
        ref = origin.removeprefix("stage:")
        anchor = clock.submitted.get(ref) or clock.deadlines.get(ref)
        basis = "its submission" if ref in clock.submitted else "its deadline"
        words_from = f"the {ref.replace('-', ' ')} ({basis})"
        missing = [] if anchor else [f"deadline of {ref}"]
        if ref not in clock.submitted:
            bounded = list(clock.bounded.get(ref, []))
    else:
        name = _ANCHORS[origin]
        anchor = clock.facts.get(name)
        words_from = _ANCHOR_WORDS[origin]
        missing = [] if anchor else [name]
        later = None if anchor else factreg.upper_bound(name, clock.facts)
        if later is not None:
            # A missing fact never hides a deadline: count from the later known time instead,
            # which gives the latest deadline the law can allow, and name what is missing.
            anchor, missing, bounded = clock.facts[later], [], [name]
            words_from += f" ({name} unknown: at the latest after {_FACT_WORDS[later]})"
    if "hours" in spec:
        words = f"{spec['hours']} h after {words_from}"
        when = anchor + timedelta(hours=spec["hours"]) if anchor else None
        return _Computed(when, words, missing, bounded)
    months = spec["months"]
    words = f"{months} month{'s' if months > 1 else ''} after {words_from}"
    when = calendar.add_months(anchor, months, clock.tz) if anchor else None
    return _Computed(when, words, missing, bounded)


def _bound_notes(bounded: list[str], facts: Mapping[str, Any]) -> list[str]:
    notes = []
    for name in bounded:
        later = factreg.upper_bound(name, facts)
        if later is None:
            continue
        notes.append(
            f"latest permissible deadline: {factreg.label(name)} is unknown, and "
            f"{_FACT_WORDS[name]} is never later than {_FACT_WORDS[later]}; the exact deadline "
            f"may be earlier: give {name}"
        )
    return notes


def matches(when: Mapping[str, Any], profile: Profile) -> bool:
    """Return whether ``profile`` meets every condition in ``when``."""
    return all(getattr(profile, key, None) in values for key, values in when.items())


def _stage_spec(stage: Stage, profile: Profile) -> tuple[dict[str, Any], dict[str, Any]]:
    for variant in stage.variants:
        if matches(variant["when"], profile):
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


def obligations_in(
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
    """Return what jurisdiction ``j`` asks of this entity for this incident."""
    clock = _Clock(facts=facts, tz=tz, deadlines={}, submitted=submitted)
    weekend = j.raw.get("weekend_rule")
    out: list[Obligation] = []
    base_sources = [source_of("jurisdiction", j.raw), source_of("recipient", recipient)]
    for stage in j.stages:
        spec, origin = _stage_spec(stage, profile)
        nominal: datetime | None = None
        relief: str | None = None
        computed = _deadline(spec, clock)
        deadline, words, missing = computed.deadline, computed.words, computed.missing
        bounded = computed.bounded
        notes = [
            f"cannot be computed yet: {factreg.missing_text(m)}"
            if m in factreg.FACTS
            else f"waits for the {m}"
            for m in missing
        ]
        notes.extend(_bound_notes(bounded, facts))
        sources = [*base_sources, source_of(f"{stage.stage} deadline", origin)]
        if deadline is not None and stage.weekend_rule and weekend:
            if _weekend_exempt(weekend, stage.stage, profile):
                notes.append("weekend/holiday relief does not apply to this entity and stage")
                sources.append(source_of("weekend rule exemption", weekend))
            else:
                cats = tuple(weekend["holiday_categories"].get(country, ["public"]))
                noon = time.fromisoformat(weekend["noon"])
                spec_days = weekend.get("closing_days", {}).get(country)
                closing = calendar.ClosingDays(
                    fixed=tuple(spec_days["fixed"]) if spec_days else (),
                    easter_offsets=tuple(spec_days["easter_offsets"]) if spec_days else (),
                )
                moved = calendar.next_working_noon(deadline, tz, country, cats, noon, closing)
                if moved is not None:
                    notes.append(
                        "falls on a weekend or holiday: may be submitted by noon of "
                        "the next working day"
                    )
                    words += "; moved to noon of the next working day"
                    nominal, relief = deadline, "weekend or holiday: noon of the next working day"
                    notes.append(f"nominal deadline {iso(deadline)}, before the relief")
                    deadline = moved
                    sources.append(source_of("weekend rule", weekend))
                    if spec_days:
                        sources.append(source_of("bank closing days", spec_days))
        clock.deadlines[stage.stage] = deadline
        clock.bounded[stage.stage] = bounded
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
                    bounded,
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
                bounded=bounded,
                missing=[m for m in missing if m in factreg.FACTS],
                nominal_deadline=nominal,
                relief=relief,
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
    bounded: list[str],
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
        unknown: list[str],
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
            notes=[*notes, *_bound_notes(unknown, facts)],
            bounded=unknown,
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
        return [make(stage.stage, stage.title, deadline, words, content, note, [], bounded)]
    progress_fields = [
        {"id": c, "label": j.content_fields[c]["label"]} for c in spec.get("content", ())
    ]
    final = _deadline(spec["final_deadline"], clock)
    final_at, final_words = final.deadline, final.words
    notes = [] if final_at else ["due 1 month after handling ends; resolved_at is not known yet"]
    return [
        make(
            spec["stage"],
            spec["title"],
            deadline,
            f"{words}, because the incident is still being handled then",
            progress_fields,
            [],
            [source_of("progress report", spec)],
            bounded,
        ),
        make(
            stage.stage,
            stage.title,
            final_at,
            final_words,
            content,
            notes,
            [source_of("final report after a progress report", spec)],
            final.bounded,
        ),
    ]
