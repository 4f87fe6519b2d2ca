"""The checks an object passes before it is stored: warning lists, markings and recipients.

A TLP:RED object must name its recipients (organisations or users) in ``x_varsel_recipients``
or inherit them from the envelope; a TLP:AMBER+STRICT object may (then only they read it).
Names are resolved once per envelope. ``NAME@HUB`` names a recipient at a hub: this one (the
local ``NAME``), or a peer hub known here as an organisation of kind ``hub`` (docs/federation.md,
"TLP across hubs").
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from varsel import config
from varsel.orgs import service as orgs
from varsel.orgs.models import Organisation, OrgKind, User
from varsel.orgs.names import name_key, username_key
from varsel.policy import Action, restrict
from varsel.policy.principal import Principal
from varsel.sharing.ingest import warninglists
from varsel.sharing.ingest._results import Addressee, Candidate
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
_THROTTLED = Addressee(-1, -1)
# The longest whom-at-a-peer-hub a recipient row holds (Recipient.remote).
_REMOTE_MAX = 200


class RecipientResolver:
    """Resolve recipient names ('ORG NAME', 'org:ORG NAME', 'user:USERNAME', each optionally
    followed by '@HUB') to addressees, cached.

    ``NAME@HUB`` (split at the last '@') is the local ``NAME`` when HUB is this hub's name; when
    HUB is an organisation of kind ``hub`` here, it is a recipient row for that organisation
    that remembers ``NAME`` (``remote``), so the version goes to that hub and is read there by
    ``NAME`` only. When HUB is neither, the whole text is taken as a local name (organisation
    names and usernames may hold '@': ``user:alice@cert.no``); a local name that would read as
    a hub's is written ``NAME@THIS-HUB``.

    Organisation names are public, so an unknown one is simply unknown. Whether a *username*
    exists is not: for an account the sender may not see (``restrict`` on users), each unknown
    name counts against the sender (``orgs.service`` throttle), and once the free guesses are
    spent every such name — known or not — gets the same "wait" answer, so sharing cannot be
    used to enumerate accounts faster than a few an hour. Names at a peer hub are not looked up
    at all: that hub resolves them.
    """

    def __init__(self, session: Session, principal: Principal) -> None:
        self._session = session
        self._principal = principal
        self._cache: dict[str, Addressee | None] = {}
        self._hubs: dict[str, int | None] = {}
        self._here = name_key(config.current().hub_name)

    def resolve(self, name: str) -> Addressee | None:
        """Return whom ``name`` addresses; None if nobody (or :data:`_THROTTLED`)."""
        if name not in self._cache:
            self._cache[name] = None if "\x00" in name else self._qualified(name)
        return self._cache[name]

    def _qualified(self, name: str) -> Addressee | None:
        local, at, hub = name.rpartition("@")
        if at and local:
            key = name_key(hub)
            if key == self._here:
                return self._lookup(local)
            hub_org = self._hub_org(key)
            if hub_org is not None:
                return self._remote(hub_org, local)
        return self._lookup(name)

    def hub_kind(self, name: str) -> str | None:
        """Return "here" if ``name`` is this hub's, "peer" if a peer hub's known here, else None."""
        key = name_key(name)
        if key == self._here:
            return "here"
        return "peer" if self._hub_org(key) is not None else None

    def _hub_org(self, key: str) -> int | None:
        """Return the id of the organisation of kind ``hub`` whose name has ``key``, if any."""
        if key not in self._hubs:
            self._hubs[key] = self._session.execute(
                select(Organisation.id).where(
                    Organisation.name_key == key, Organisation.kind == OrgKind.HUB.value
                )
            ).scalar_one_or_none()
        return self._hubs[key]

    @staticmethod
    def _remote(hub_org: int, local: str) -> Addressee | None:
        # Kept as written (but for an "org:" prefix): the peer resolves it by its own keys.
        whom = local[4:] if local.startswith("org:") else local
        if not whom.strip() or whom == "user:" or len(whom) > _REMOTE_MAX:
            return None
        return Addressee(hub_org, None, whom)

    def _lookup(self, name: str) -> Addressee | None:
        # By their uniqueness keys (varsel.orgs.names): "user:Analyst.no" is analyst.no, and a
        # look-alike of an organisation's name cannot exist, so a name reaches one party only.
        if name.startswith("user:"):
            return self._user(username_key(name[5:]))
        org_name = name[4:] if name.startswith("org:") else name
        oid = self._session.execute(
            select(Organisation.id).where(Organisation.name_key == name_key(org_name))
        ).scalar_one_or_none()
        return None if oid is None else Addressee(oid, None)

    def _user(self, key: str) -> Addressee | None:
        by_key = select(User.id).where(User.username_key == key)
        seen = self._session.execute(
            restrict(by_key, self._principal, Action.READ)
        ).scalar_one_or_none()
        if seen is not None:
            return Addressee(None, seen)
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
        return Addressee(None, uid)


def _hint(name: str, resolver: RecipientResolver) -> str:
    """Return why a name with '@' reached nobody: its hub is unknown, or whom there is not
    written as a name."""
    local, at, hub = name.rpartition("@")
    kind = resolver.hub_kind(hub) if at and local else "here"
    if kind == "here":
        return ""
    if kind == "peer":
        return (
            f" (at hub {hub!r}, name an organisation 'ORG' or a user 'user:NAME', "
            f"at most {_REMOTE_MAX} characters)"
        )
    return (
        f" (no hub {hub!r} is known here: a hub is this one, "
        f"{config.current().hub_name!r}, or an organisation of kind 'hub')"
    )


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


def attach_recipients(
    cand: Candidate, names: Any, resolver: RecipientResolver, *, required: bool = True
) -> str | None:
    """Resolve an object's recipients onto ``cand``; return why not, if not.

    TLP:RED must name some (``required``); TLP:AMBER+STRICT may name none.
    """
    if names is None or names == []:
        if not required:
            return None
        return (
            f"{cand.facts.stix_id}: a TLP:RED object must name its recipients in "
            f"'{RECIPIENTS_PROPERTY}' (organisation names or 'user:USERNAME', "
            "'NAME@HUB' at a peer hub)"
        )
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        return f"{cand.facts.stix_id}: '{RECIPIENTS_PROPERTY}' must be a list of strings"
    resolved = []
    for name in names:
        target = resolver.resolve(name)
        if target is None:
            return f"{cand.facts.stix_id}: unknown recipient {name!r}{_hint(name, resolver)}"
        if target == _THROTTLED:
            return (
                f"{cand.facts.stix_id}: too many unknown user recipients from your account; "
                f"name {name!r} again later, or address their organisation"
            )
        resolved.append(target)
    cand.recipients = tuple(dict.fromkeys(resolved))
    return None
