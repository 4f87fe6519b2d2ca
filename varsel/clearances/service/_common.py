"""What the register's changes share: the acting principal, officers and country codes.

The audit actor of a change, whether the principal counts as the security officer of a
person's employer, and the ISO 3166-1 alpha-2 check of country codes.

``principal`` None is the local operator on the command line, recorded as ``cli`` and
treated like a hub-admin; an org-admin is the security officer of their own organisation.
"""

from __future__ import annotations

import re

from varsel.errors import InvalidInput
from varsel.orgs.models import Role
from varsel.policy.principal import Principal

_COUNTRY = re.compile(r"^[A-Z]{2}$")


def actor_label(principal: Principal | None) -> str:
    """Return how the audit log names ``principal`` (``cli`` when there is none)."""
    return principal.label if principal else "cli"


def country_code(text: str, what: str) -> str:
    """Return ``text`` as an upper-case ISO 3166-1 alpha-2 code, or refuse it."""
    code = text.strip().upper()
    if not _COUNTRY.match(code):
        raise InvalidInput(f"{what} must be an ISO 3166-1 alpha-2 code such as NO, got {text!r}")
    return code


def is_officer(principal: Principal | None, employer_org_id: int) -> bool:
    """Return whether ``principal`` may act for the employer organisation's clearances."""
    if principal is None or principal.role is Role.HUB_ADMIN:
        return True
    return principal.role is Role.ORG_ADMIN and principal.org_id == employer_org_id
