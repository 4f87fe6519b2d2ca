"""Two persons in fact: is a clearance's verifier independent of its holder and registrar?

Whoever created an account, gave it its role or minted it a token may hold its credentials or
have chosen who uses it, so one person can stand behind several accounts. The audit log records
those acts (``user.*`` and ``token.create``, with the acting principal's label); it is hash-chained,
so it is the record read here rather than a column anyone with the role could rewrite. An
account's *makers* are the accounts that did so, and theirs, up the chain.

The verifier is refused when it is the holder or the registrar; when the holder or the
registrar is among its makers (the attack: an org-admin creates a second org-admin who
verifies the first one's clearance); when it is among theirs (a puppet holder); or when some
account below the hub-admins made both sides. Hub-admins are the hub's trust anchor — they
create organisations and their first officer — so a shared hub-admin maker alone does not
taint; a hub-admin who is itself holder, registrar or verifier is judged like anyone else.
Labels without ``@`` (``cli``, ``demo``, …) name the local operator, not an account. A maker
whose label no longer resolves to an account fails closed.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from varsel.audit.models import AuditEvent
from varsel.errors import Forbidden
from varsel.orgs.models import Organisation, Role, User

# Acts by which one account comes to control another: creating it, setting its role (and any
# later ``user.*`` act by another account, such as a password reset), minting it a token.
# Over-inclusive on purpose: an extra maker can only refuse a verification, never allow one.
MAKING_ACTIONS = ("user.create", "user.role", "token.create")
MAKING_PREFIX = "user."


@dataclass(frozen=True)
class _Accounts:
    ids: dict[str, int]  # principal label -> user id
    labels: dict[int, str]  # user id -> label
    usernames: dict[int, str]
    makers: dict[str, frozenset[str]]  # username -> labels of those who created/promoted it
    anchors: frozenset[int]  # hub-admins


def _load(session: Session) -> _Accounts:
    rows = session.execute(
        select(User.id, User.username, User.role, Organisation.name).join(
            Organisation, Organisation.id == User.org_id
        )
    ).all()
    labels = {uid: f"{username}@{org}" for uid, username, _, org in rows}
    makers: dict[str, set[str]] = {}
    for target, actor in session.execute(
        select(AuditEvent.target, AuditEvent.actor).where(
            or_(
                AuditEvent.action.in_(MAKING_ACTIONS),
                AuditEvent.action.startswith(MAKING_PREFIX, autoescape=True),
            )
        )
    ):
        makers.setdefault(target, set()).add(actor)
    return _Accounts(
        ids={label: uid for uid, label in labels.items()},
        labels=labels,
        usernames={uid: username for uid, username, _, _ in rows},
        makers={k: frozenset(v) for k, v in makers.items()},
        anchors=frozenset(uid for uid, _, role, _ in rows if role == Role.HUB_ADMIN.value),
    )


def _resolve(accounts: _Accounts, label: str) -> int | None:
    """Return the account a label names; None for the local operator; refuse the unknown."""
    if "@" not in label:
        return None
    found = accounts.ids.get(label)
    if found is None:
        raise Forbidden(
            f"who stands behind {label!r} cannot be established (the label names no account "
            f"today), so this verification cannot be shown to involve two persons; ask the "
            f"issuing country's security authority to verify it"
        )
    return found


def _lineage(accounts: _Accounts, user_id: int) -> set[int]:
    """Return the account and every account that made it, directly or through others."""
    seen = {user_id}
    todo = [user_id]
    while todo:
        current = todo.pop()
        for label in accounts.makers.get(accounts.usernames.get(current, ""), ()):
            maker = _resolve(accounts, label)
            if maker is not None and maker not in seen:
                seen.add(maker)
                todo.append(maker)
    return seen


def check_independent(
    *,
    session: Session,
    verifier_id: int,
    holder_id: int | None,
    registrar_label: str,
) -> None:
    """Refuse unless the verifier is independent of the holder and the registrar."""
    accounts = _load(session)
    name = accounts.labels.get(verifier_id, "the verifier")
    if verifier_id == holder_id:
        raise Forbidden("nobody verifies their own clearance")
    registrar_id = _resolve(accounts, registrar_label)
    if verifier_id == registrar_id:
        raise Forbidden(
            f"{name} registered this clearance, so another person must verify it "
            f"(two persons: one registers or declares, another checks the certificate)"
        )
    mine = _lineage(accounts, verifier_id)
    for role, other in (("holder", holder_id), ("registrar", registrar_id)):
        if other is None:
            continue
        who = accounts.labels[other]
        if other in mine:
            raise Forbidden(
                f"{name}'s account was created or given its role by the {role} {who} "
                f"(directly or through accounts they made), so the {role} could have arranged "
                f"this verification alone"
            )
        theirs = _lineage(accounts, other)
        if verifier_id in theirs:
            raise Forbidden(
                f"{name} created or gave its role to the {role}'s account {who} (directly or "
                f"through accounts it made), so it could have arranged this verification alone"
            )
        shared = (mine & theirs) - accounts.anchors
        if shared:
            common = ", ".join(sorted(accounts.labels[u] for u in shared))
            raise Forbidden(
                f"{common} made both {name}'s account and the {role}'s account {who}, so one "
                f"person could have arranged this verification alone; ask an officer "
                f"provisioned independently, or the issuing country's security authority"
            )
