"""The checks an object passes before it is stored: warning lists, markings and recipients.

A TLP:RED object must name its recipients (organisations or users) in ``x_varsel_recipients``
or inherit them from the envelope; names are resolved once per envelope.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from varsel.matching import warninglists
from varsel.orgs.models import Organisation, User
from varsel.orgs.names import name_key, username_key
from varsel.sharing.ingest._results import _Candidate
from varsel.sharing.validation import ValidatedObject

RECIPIENTS_PROPERTY = "x_varsel_recipients"

# Any indicator will do: checking one builds every kind's index of the lists.
_PROBE = {
    "type": "indicator",
    "pattern_type": "stix",
    "pattern": "[domain-name:value = 'example.org']",
}


def preload_warning_lists() -> None:
    """Load the MISP warning lists now, so that no share pays for it (about 3 s, once)."""
    warninglists.check_indicators([_PROBE])


def _recipient_names(obj: dict[str, Any], envelope_default: Any) -> Any:
    return obj.get(RECIPIENTS_PROPERTY, envelope_default)


class _RecipientResolver:
    """Resolve recipient names ('ORG NAME', 'org:ORG NAME', 'user:USERNAME') to ids, cached."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._cache: dict[str, tuple[int | None, int | None] | None] = {}

    def resolve(self, name: str) -> tuple[int | None, int | None] | None:
        if name not in self._cache:
            self._cache[name] = None if "\x00" in name else self._lookup(name)
        return self._cache[name]

    def _lookup(self, name: str) -> tuple[int | None, int | None] | None:
        # By their uniqueness keys (varsel.orgs.names): "user:Analyst.no" is analyst.no, and a
        # look-alike of an organisation's name cannot exist, so a name reaches one party only.
        if name.startswith("user:"):
            uid = self._session.execute(
                select(User.id).where(User.username_key == username_key(name[5:]))
            ).scalar_one_or_none()
            return None if uid is None else (None, uid)
        org_name = name[4:] if name.startswith("org:") else name
        oid = self._session.execute(
            select(Organisation.id).where(Organisation.name_key == name_key(org_name))
        ).scalar_one_or_none()
        return None if oid is None else (oid, None)


def _all_marking_refs(obj: dict[str, Any], facts: ValidatedObject) -> list[str]:
    refs = list(facts.marking_refs)
    granular = obj.get("granular_markings")
    if isinstance(granular, list):
        refs.extend(
            g["marking_ref"]
            for g in granular
            if isinstance(g, dict) and isinstance(g.get("marking_ref"), str)
        )
    return refs


def _refusal(stix_id: str, warnings: list[str]) -> str:
    return (
        f"{stix_id}: refused by this hub's warning-list policy (known-benign values are not "
        "shared): " + "; ".join(warnings)
    )


def _attach_recipients(cand: _Candidate, names: Any, resolver: _RecipientResolver) -> str | None:
    if names is None or names == []:
        return (
            f"{cand.facts.stix_id}: a TLP:RED object must name its recipients in "
            f"'{RECIPIENTS_PROPERTY}' (organisation names or 'user:USERNAME')"
        )
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        return f"{cand.facts.stix_id}: '{RECIPIENTS_PROPERTY}' must be a list of strings"
    resolved = []
    for name in names:
        target = resolver.resolve(name)
        if target is None:
            return f"{cand.facts.stix_id}: unknown recipient {name!r}"
        resolved.append(target)
    cand.recipients = tuple(dict.fromkeys(resolved))
    return None
