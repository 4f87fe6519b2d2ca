"""Build a stage's report pre-filled from the incident, show what changed, render it as HTML.

A report is JSON-ready data: a header (who reports what to whom by when), the stage's required
content filled from the incident's context, and the changes since the previous stage's
submitted snapshot. The HTML is the same data through a Jinja2 template with print CSS.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from varsel.reporting.obligations import Obligation, iso
from varsel.reporting.rules import Jurisdiction


def _lookup(context: Mapping[str, Any], path: str) -> Any:
    node: Any = context
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def plain(value: Any) -> Any:
    """Return ``value`` with datetimes turned into ISO 8601 UTC strings, recursively."""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def build(
    *,
    obligation: Obligation,
    jurisdiction: Jurisdiction,
    context: Mapping[str, Any],
    previous: Mapping[str, Any] | None,
    previous_stage: str | None,
    generated_at: datetime,
) -> dict[str, Any]:
    """Return the report for ``obligation`` filled from ``context``.

    ``context`` holds ``incident``, ``entity``, ``facts``, ``assessment``, ``indicators``,
    ``timeline`` (lines), ``timeline_entries`` ({at, text}), ``mitigation`` and ``times``;
    ``previous`` is the snapshot submitted for
    the previous stage, if any.
    """
    content = []
    for item in obligation.content:
        spec = jurisdiction.content_fields[item["id"]]
        value = plain(_lookup(context, spec["fill"]))
        empty = value is None or value == [] or value == ""
        content.append(
            {"id": item["id"], "label": item["label"], "value": value, "to_complete": empty}
        )
    snapshot = {
        "facts": plain(context.get("facts", {})),
        "timeline": plain(context.get("timeline_entries", [])),
        "content": {c["id"]: c["value"] for c in content},
    }
    return {
        "report": {
            **obligation.as_dict(),
            "incident": plain(context.get("incident")),
            "jurisdiction": jurisdiction.title,
            "generated_at": iso(generated_at),
        },
        "entity": plain(context.get("entity")),
        "content": content,
        "changes": changes(previous, snapshot, previous_stage),
        "snapshot": snapshot,
    }


def changes(
    previous: Mapping[str, Any] | None, current: Mapping[str, Any], previous_stage: str | None
) -> dict[str, Any]:
    """Return what differs between the previous stage's submitted snapshot and now."""
    if previous_stage is None:
        return {"previous_stage": None, "note": "this is the first stage"}
    if previous is None:
        return {
            "previous_stage": previous_stage,
            "note": f"the {previous_stage} has not been submitted; nothing to compare",
        }
    before, after = previous.get("facts", {}), current.get("facts", {})
    facts = [
        {"fact": k, "before": before.get(k), "after": after.get(k)}
        for k in sorted(set(before) | set(after))
        if before.get(k) != after.get(k)
    ]
    seen = {(e.get("at"), e.get("text")) for e in previous.get("timeline", [])}
    timeline = [e for e in current.get("timeline", []) if (e.get("at"), e.get("text")) not in seen]
    old, new = previous.get("content", {}), current.get("content", {})
    content = [
        {"field": k, "before": old[k], "after": new[k]}
        for k in sorted(set(old) & set(new))
        if old[k] != new[k]
    ]
    return {
        "previous_stage": previous_stage,
        "facts": facts,
        "new_timeline_entries": timeline,
        "content": content,
    }


def _env() -> Environment:
    env = Environment(
        loader=PackageLoader("varsel.reporting", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["show"] = _show
    return env


def _show(value: Any) -> str:
    if value is None or value == "" or value == []:
        return "— to be completed —"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return "; ".join(_show(v) for v in value)
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {_show(v)}" for k, v in value.items() if v not in (None, ""))
    return str(value)


def render_html(report: Mapping[str, Any]) -> str:
    """Return the printable HTML document of ``report``."""
    return _env().get_template("report.html").render(r=report)
