"""The checks an object passes before it is stored: warning lists, markings and recipients.

A TLP:RED object must name its recipients (organisations or users) in ``x_varsel_recipients``
or inherit them from the envelope; names are resolved once per envelope.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from varsel.orgs import service as orgs
from varsel.orgs.models import Organisation, User
from varsel.orgs.names import name_key, username_key
from varsel.policy import Action, restrict
from varsel.policy.principal import Principal
from varsel.sharing.ingest import warninglists
from varsel.sharing.ingest._results import Candidate
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


def recipient_names(obj: dict[str, Any], envelope_default: Any) -> Any:
    """Return the recipients an object names, or the envelope's default."""
    return obj.get(RECIPIENTS_PROPERTY, envelope_default)


# Unknown 'user:' recipients a sender may name before each further one costs a growing wait.
_FREE_UNKNOWN_USERS = 5
_MAX_WAIT_SECONDS = 900
_THROTTLED = (-1, -1)


class RecipientResolver:
    """Resolve recipient names ('ORG NAME', 'org:ORG NAME', 'user:USERNAME') to ids, cached.

    Organisation names are public, so an unknown one is simply unknown. Whether a *username*
    exists is not: for an account the sender may not see (``restrict`` on users), each unknown
    name counts against the sender (``orgs.service`` throttle), and once the free guesses are
    spent every such name — known or not — gets the same "wait" answer, so sharing cannot be
    used to enumerate accounts faster than a few an hour.
    """

    def __init__(self, session: Session, principal: Principal) -> None:
        self._session = session
        self._principal = principal
        self._cache: dict[str, tuple[int | None, int | None] | None] = {}

    def resolve(self, name: str) -> tuple[int | None, int | None] | None:
        if name not in self._cache:
            self._cache[name] = None if "\x00" in name else self._lookup(name)
        return self._cache[name]

    def _lookup(self, name: str) -> tuple[int | None, int | None] | None:
        # By their uniqueness keys (varsel.orgs.names): "user:Analyst.no" is analyst.no, and a
        # look-alike of an organisation's name cannot exist, so a name reaches one party only.
        if name.startswith("user:"):
            return self._user(username_key(name[5:]))
        org_name = name[4:] if name.startswith("org:") else name
        oid = self._session.execute(
            select(Organisation.id).where(Organisation.name_key == name_key(org_name))
        ).scalar_one_or_none()
        return None if oid is None else (oid, None)

    def _user(self, key: str) -> tuple[int | None, int | None] | None:
        by_key = select(User.id).where(User.username_key == key)
        seen = self._session.execute(
            restrict(by_key, self._principal, Action.READ)
        ).scalar_one_or_none()
        if seen is not None:
            return (None, seen)
        guesses = orgs.throttle_key("recipient", str(self._principal.user_id))
        if orgs.current_wait(session=self._session, key=guesses):
            return _THROTTLED
        uid = self._session.execute(by_key).scalar_one_or_none()
        if uid is None:
            orgs.count_failure(
                session=self._session,
                key=guesses,
                free=_FREE_UNKNOWN_USERS,
                ceiling=_MAX_WAIT_SECONDS,
            )
            return None
        return (None, uid)


def all_marking_refs(obj: dict[str, Any], facts: ValidatedObject) -> list[str]:
    """Return every marking an object references, object-level and granular."""
    refs = list(facts.marking_refs)
    granular = obj.get("granular_markings")
    if isinstance(granular, list):
        refs.extend(
            g["marking_ref"]
            for g in granular
            if isinstance(g, dict) and isinstance(g.get("marking_ref"), str)
        )
    return refs


def warninglist_refusal(stix_id: str, warnings: list[str]) -> str:
    """Return why an object on a warning list was refused."""
    return (
        f"{stix_id}: refused by this hub's warning-list policy (known-benign values are not "
        "shared): " + "; ".join(warnings)
    )


def attach_recipients(cand: Candidate, names: Any, resolver: RecipientResolver) -> str | None:
    """Resolve a TLP:RED object's recipients onto ``cand``; return why not, if not."""
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
        if target == _THROTTLED:
            return (
                f"{cand.facts.stix_id}: too many unknown user recipients from your account; "
                f"name {name!r} again later, or address their organisation"
            )
        resolved.append(target)
    cand.recipients = tuple(dict.fromkeys(resolved))
    return None
