"""Evaluate significance tests written as data, in three-valued logic, with explanations.

A test is a tree of ``{"fact", "op", "value"}`` leaves combined by ``any``, ``all``, ``not`` and
``at_least``. A leaf whose fact is unknown is *unknown*, never false, so a missing figure makes
the outcome "undetermined" and is named, instead of quietly making it "not significant".
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from varsel.reporting import facts as factreg

# How a leaf that is not met reads: "full unavailability (minutes): 50 ≤ 60".
_NOT = {">": "≤", ">=": "<", "<": "≥", "<=": ">", "==": "≠"}
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "is": operator.eq,
}


class Outcome(StrEnum):
    """Whether an incident is significant (major, for DORA) under one instrument."""

    SIGNIFICANT = "significant"
    NOT_SIGNIFICANT = "not-significant"
    UNDETERMINED = "undetermined"


@dataclass
class Value:
    """A three-valued result: True, False or None (unknown), with why and what is missing."""

    value: bool | None
    because: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.4g}" if value < 1e6 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _merge_missing(parts: list[Value]) -> list[str]:
    seen: list[str] = []
    for part in parts:
        seen.extend(m for m in part.missing if m not in seen)
    return seen


def evaluate(
    test: Mapping[str, Any], facts: Mapping[str, Any], macros: Mapping[str, Any] | None = None
) -> Value:
    """Return the three-valued result of ``test`` over ``facts``."""
    macros = macros or {}
    if "macro" in test:
        return evaluate(macros[test["macro"]], facts, macros)
    if "fact" in test:
        name = test["fact"]
        actual = facts.get(name)
        if actual is None:
            return Value(None, missing=[name])
        result = _OPS[test["op"]](actual, test["value"])
        what = test.get("label") or factreg.label(name)
        if result:
            shown = "" if test["op"] == "is" else f" {test['op']} {_fmt(test['value'])}"
        else:
            shown = "" if test["op"] == "is" else f" {_NOT[test['op']]} {_fmt(test['value'])}"
        # A leaf that is not met says why too, so "not significant" can be checked by hand.
        return Value(result, because=[f"{what}: {_fmt(actual)}{shown}"])
    if "not" in test:
        inner = evaluate(test["not"], facts, macros)
        if inner.value is None:
            return Value(None, missing=inner.missing)
        return Value(not inner.value, because=[] if inner.value is False else inner.because)
    if "any" in test or "all" in test:
        parts = [evaluate(t, facts, macros) for t in test.get("any", test.get("all", []))]
        wanted = "any" in test
        hits = [p for p in parts if p.value is wanted]
        if hits:
            return Value(wanted, because=[b for p in hits for b in p.because])
        if all(p.value is not None for p in parts):
            return Value(not wanted, because=[b for p in parts for b in p.because])
        return Value(None, missing=_merge_missing([p for p in parts if p.value is None]))
    if "at_least" in test:
        parts = [evaluate(t, facts, macros) for t in test["of"]]
        labels = [t.get("label", "") for t in test["of"]]
        true = [(lbl, p) for lbl, p in zip(labels, parts, strict=True) if p.value is True]
        unknown = [p for p in parts if p.value is None]
        if len(true) >= test["at_least"]:
            return Value(True, because=[f"{lbl} ({'; '.join(p.because)})" for lbl, p in true])
        if len(true) + len(unknown) < test["at_least"]:
            return Value(
                False,
                because=[
                    f"{test.get('label', 'thresholds')}: {len(true)} met, {test['at_least']} needed"
                ],
            )
        return Value(None, missing=_merge_missing(unknown))
    raise ValueError(f"unknown test node {sorted(test)}")


@dataclass
class Criterion:
    """One named criterion and how it came out."""

    id: str
    article: str
    text: str
    outcome: str  # "met", "not met", "unknown"
    because: list[str]
    missing: list[str]
    source: str
    verified: bool

    def as_dict(self) -> dict[str, Any]:
        """Return the criterion as JSON-ready data, missing facts named in words."""
        return {
            "id": self.id,
            "article": self.article,
            "text": self.text,
            "outcome": self.outcome,
            "because": self.because,
            "missing": [factreg.missing_text(m) for m in self.missing],
            "source": self.source,
            "verified": self.verified,
        }


@dataclass
class Significance:
    """The outcome under one instrument and every criterion behind it."""

    instrument: str
    outcome: Outcome
    criteria: list[Criterion]
    explanation: list[str]
    missing: list[str]

    def as_dict(self) -> dict[str, Any]:
        """Return the result as JSON-ready data."""
        return {
            "instrument": self.instrument,
            "outcome": self.outcome.value,
            "explanation": self.explanation,
            "missing": [factreg.missing_text(m) for m in self.missing],
            "criteria": [c.as_dict() for c in self.criteria],
        }


def criterion(
    spec: Mapping[str, Any], facts: Mapping[str, Any], macros: Mapping[str, Any] | None = None
) -> Criterion:
    """Evaluate one criterion spec from a data file."""
    result = evaluate(spec["test"], facts, macros)
    outcome = {True: "met", False: "not met", None: "unknown"}[result.value]
    return Criterion(
        id=spec.get("id", spec.get("article", "")),
        article=spec.get("article", ""),
        text=spec.get("text", ""),
        outcome=outcome,
        because=result.because,
        missing=result.missing,
        source=spec.get("source", ""),
        verified=bool(spec.get("verified", False)),
    )


def combine(instrument: str, criteria: list[Criterion]) -> Significance:
    """Return significant if any criterion is met, not significant only if all are not met."""
    met = [c for c in criteria if c.outcome == "met"]
    if met:
        lines = [f"{c.article} {c.text}: {'; '.join(c.because)}" for c in met]
        return Significance(instrument, Outcome.SIGNIFICANT, criteria, lines, [])
    unknown = [c for c in criteria if c.outcome == "unknown"]
    if unknown:
        missing: list[str] = []
        for c in unknown:
            missing.extend(m for m in c.missing if m not in missing)
        lines = [
            "no criterion is met with the facts known, but these cannot be decided: "
            + ", ".join(c.article for c in unknown)
        ]
        return Significance(instrument, Outcome.UNDETERMINED, criteria, lines, missing)
    return Significance(
        instrument,
        Outcome.NOT_SIGNIFICANT,
        criteria,
        [
            "every criterion was checked against known facts and none is met",
            *(f"{c.article}: {'; '.join(c.because)}" for c in criteria if c.because),
        ],
        [],
    )
