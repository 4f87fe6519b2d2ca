"""The access policy: the one place that decides who may read or change what.

``_reads`` narrows every read (and the writes of objects) in SQL with :func:`restrict`;
``_changes`` decides every administrative change — who a principal is and who reads what — with
:func:`authorize`. Both are documented in ``docs/access-policy.md``; keep them in step.
"""

from __future__ import annotations

from varsel.policy._changes import Change, Target, authorize, refusal
from varsel.policy._reads import Action, object_read_condition, restrict

__all__ = [
    "Action",
    "Change",
    "Target",
    "authorize",
    "object_read_condition",
    "refusal",
    "restrict",
]
