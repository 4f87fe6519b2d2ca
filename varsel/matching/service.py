"""Matching as a service: a per-principal matcher cache and matching of a batch of observables."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import pyarrow as pa
from sqlalchemy.orm import Session

from varsel.errors import InvalidInput
from varsel.matching._compile import Compiled, compile_for, time_key
from varsel.matching.exports import fingerprint
from varsel.observables.normalize import Role
from varsel.policy.principal import Principal

MAX_OBSERVABLES: Final = 1000
_CACHE: OrderedDict[tuple[object, ...], Compiled] = OrderedDict()
_LOCK: Final = threading.Lock()
_SIZE: Final = 8


@dataclass(frozen=True, slots=True)
class Observable:
    """A value to look up, with what it is (``any`` tries every kind)."""

    value: str
    role: Role = Role.ANY


@dataclass(frozen=True, slots=True)
class ObservableMatch:
    """One observable that matched one indicator."""

    observable: str
    value: str
    role: Role
    indicator_id: str
    indicator_name: str | None


def matcher_for(*, session: Session, principal: Principal, subdomains: bool = False) -> Compiled:
    """Return the compiled indicators ``principal`` may read, reusing it while nothing changed."""
    now = datetime.now(UTC)
    key = (
        principal.user_id,
        principal.org_id,
        principal.role.value,
        subdomains,
        fingerprint(session=session, principal=principal),
    )
    with _LOCK:
        cached = _CACHE.get(key)
        boundary = cached.report.next_change if cached is not None else None
        if cached is not None and (boundary is None or time_key(now) < boundary):
            _CACHE.move_to_end(key)
            return cached
    compiled = compile_for(
        session=session, principal=principal, at=now, warn=False, include_subdomains=subdomains
    )
    with _LOCK:
        _CACHE[key] = compiled
        while len(_CACHE) > _SIZE:
            _CACHE.popitem(last=False)
    return compiled


def cache_clear() -> None:
    """Forget every cached matcher (tests use this)."""
    with _LOCK:
        _CACHE.clear()


def match_observables(
    *,
    session: Session,
    principal: Principal,
    observables: list[Observable],
    subdomains: bool = False,
) -> list[ObservableMatch]:
    """Return every match of a small batch of observables against what ``principal`` may read."""
    if len(observables) > MAX_OBSERVABLES:
        raise InvalidInput(
            f"at most {MAX_OBSERVABLES} observables per request; use 'varsel scan' for logs"
        )
    compiled = matcher_for(session=session, principal=principal, subdomains=subdomains)
    out: list[ObservableMatch] = []
    for role in Role:
        picked = [(i, o.value) for i, o in enumerate(observables) if o.role is role]
        if not picked:
            continue
        values = pa.array([v for _, v in picked], pa.string())
        for position, member, value in sorted(compiled.matcher.match(values, role)):
            out.append(
                ObservableMatch(
                    picked[position][1], value, role, compiled.ids[member], compiled.names[member]
                )
            )
    return sorted(out, key=lambda m: (m.observable, m.indicator_id, m.value))
