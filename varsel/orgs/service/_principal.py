"""The principal: who is asking, with the organisation and role the access policy needs.

Both password and token authentication end in a :class:`Principal`, which the access policy
reads to decide and the audit log to name who acted.
"""

from __future__ import annotations

from dataclasses import dataclass

from varsel.orgs.models import Role, User


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: a signed-in user, with the organisation and role the policy needs."""

    user_id: int
    username: str
    org_id: int
    org_name: str
    country: str
    role: Role

    @property
    def label(self) -> str:
        """Return how the audit log names this principal."""
        return f"{self.username}@{self.org_name}"


def principal_of(user: User) -> Principal:
    """Return the principal for ``user``."""
    return Principal(
        user_id=user.id,
        username=user.username,
        org_id=user.org_id,
        org_name=user.org.name,
        country=user.org.country,
        role=Role(user.role),
    )
