"""Who may be alerted: active users of member organisations, as principals, and their choices."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from varsel.alerts.models import AlertPreference
from varsel.orgs.models import Organisation, User
from varsel.policy import Action, restrict
from varsel.policy.principal import Principal, principal_of
from varsel.sharing.models import StixObject


@dataclass
class People:
    """The users one evaluation may alert, loaded once; peer hubs and disabled users are not."""

    session: Session
    _principals: dict[int, Principal | None] = field(default_factory=dict)
    _by_org: dict[int, list[int]] = field(default_factory=dict)
    _prefs: dict[int, tuple[bool, bool]] | None = None

    def principal(self, user_id: int) -> Principal | None:
        """Return the principal of an active user of a member organisation, else None."""
        if user_id not in self._principals:
            user = self.session.get(User, user_id)
            ok = user is not None and user.disabled_at is None and user.org.kind != "hub"
            self._principals[user_id] = principal_of(user) if ok and user else None
        return self._principals[user_id]

    def of_org(self, org_id: int) -> list[int]:
        """Return the ids of the organisation's active users."""
        if org_id not in self._by_org:
            self._by_org[org_id] = list(
                self.session.execute(
                    select(User.id)
                    .join(Organisation, Organisation.id == User.org_id)
                    .where(
                        User.org_id == org_id,
                        User.disabled_at.is_(None),
                        Organisation.kind != "hub",
                    )
                    .order_by(User.id)
                ).scalars()
            )
        return self._by_org[org_id]

    def channels(self, user_id: int) -> tuple[bool, bool]:
        """Return whether the user wants an e-mail and a webhook copy of each alert."""
        if self._prefs is None:
            self._prefs = {
                uid: (bool(mail_to), bool(hook))
                for uid, mail_to, hook in self.session.execute(
                    select(
                        AlertPreference.user_id, AlertPreference.email, AlertPreference.webhook_url
                    )
                )
            }
        return self._prefs.get(user_id, (False, False))


def readable(session: Session, principal: Principal, pks: Iterable[int]) -> set[int]:
    """Return which of the object versions ``pks`` the principal may read now."""
    wanted = list(dict.fromkeys(pks))
    found: set[int] = set()
    for start in range(0, len(wanted), 500):
        found.update(
            session.execute(
                restrict(
                    select(StixObject.id).where(StixObject.id.in_(wanted[start : start + 500])),
                    principal,
                    Action.READ,
                )
            ).scalars()
        )
    return found
