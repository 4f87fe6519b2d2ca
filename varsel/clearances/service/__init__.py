"""The clearance register: persons, clearances, verification, recognition; every act audited.

Who may do what (``principal`` None is the local operator on the command line):
register persons and clearances, verify and revoke — the security officers of the person's
employer (its org-admins) and hub-admins; a person may declare a clearance of their own but
never verify it. A verifier may also be an org-admin of a security authority of the issuing
country, and must be independent of the holder and the registrar (``_independence``).
Recognition is asked for by the employer's officers and decided by an org-admin of an
*authority* of the recognising country (or a hub-admin recording that authority's answer).

The private modules, by what they hold: ``_common`` (who acts, who is an officer),
``_persons``, ``_clearances`` (declare, verify, revoke, expiring), ``_independence`` (the
two-person rule of verification), ``_recognition`` and ``_decisions`` (the audited check).
"""

from __future__ import annotations

from varsel.clearances.service._clearances import (
    add_clearance,
    expiring,
    get_clearance,
    list_clearances,
    revoke_clearance,
    revoke_refusal,
    verify_clearance,
    verify_refusal,
)
from varsel.clearances.service._decisions import check
from varsel.clearances.service._persons import (
    add_person,
    find_person,
    list_persons,
    person_for_user,
)
from varsel.clearances.service._recognition import (
    decide_recognition,
    list_recognitions,
    request_recognition,
)

__all__ = [
    "add_clearance",
    "add_person",
    "check",
    "decide_recognition",
    "expiring",
    "find_person",
    "get_clearance",
    "list_clearances",
    "list_persons",
    "list_recognitions",
    "person_for_user",
    "request_recognition",
    "revoke_clearance",
    "revoke_refusal",
    "verify_clearance",
    "verify_refusal",
]
