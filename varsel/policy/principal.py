"""The principal: who is asking, with the organisation and role the access policy needs.

Password, token and web-session authentication end in a :class:`Principal`, which the access
policy reads to decide and the audit log to name who acted. The hub's command line acts as the
*local operator* (:func:`local_operator`): whoever runs it holds the database and the secret key
already, so the policy lets it administer the hub — every such change is audited under the
operating-system account's name — but it reads no intelligence of its own (it belongs to no
organisation); commands that read do so ``--as`` a named user.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass

from varsel.orgs.models import Role, TokenScope, User

# No organisation or user has id 0: the operator matches no membership, recipient or producer.
_NOBODY = 0


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: a signed-in user, with the organisation and role the policy needs.

    ``token_id`` is the API token the request was authenticated with (None for a password or a
    web session), and ``scope`` what that token allows.
    """

    user_id: int
    username: str
    org_id: int
    org_name: str
    country: str
    role: Role
    token_id: int | None = None
    scope: TokenScope = TokenScope.READ_WRITE
    operator: bool = False
    # The user belongs to an organisation of kind ``hub``: a peer hub (docs/federation.md).
    hub: bool = False

    @property
    def label(self) -> str:
        """Return how the audit log names this principal."""
        if self.operator:
            return f"operator:{self.username}"
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
        hub=user.org.kind == "hub",
    )


def local_operator() -> Principal:
    """Return the principal of the person running the hub's command line on its host."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = "unknown"
    return Principal(
        user_id=_NOBODY,
        username=name,
        org_id=_NOBODY,
        org_name="local operator",
        country="",
        role=Role.HUB_ADMIN,
        operator=True,
    )
