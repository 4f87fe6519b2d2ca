"""Community sighting aggregates, k-anonymous: who saw an indicator is never revealed.

For each indicator the caller may read (through the access policy), the hub counts the
organisations and countries that shared a sighting of it and the ISO weeks of the first and last
sighting — and shows the aggregate only when at least k organisations contributed
(``VARSEL_SIGHTING_K``, default 3). The statistics are computed over sightings the caller may
not read: that is the point of an aggregate, and k-anonymity is what makes it safe. So that k
means k real, independent organisations other than the one asking:

- only organisations a hub-admin vouched for count (``varsel org vouch``): made-up ones cannot
  supply the k-1 other contributors that would single out a real one;
- the caller's own organisation is left out: its own sighting never counts toward k, and an
  aggregate is always what *others* saw;
- TLP:RED sightings are left out (they are for their named recipients only), and so are
  classified sightings the caller may not read under the policy (docs/classification.md);
- times are coarsened to the ISO week. Whatever statistic is shown, k-1 colluding contributors
  who control their own dates can make it depend on the victim's date alone (the earliest of
  them, or the k-th earliest, alike); only coarsening bounds what they learn, to the week.

Differencing (subtracting one query from another to isolate a contributor) is prevented by
offering no filter over contributors (country, sector, time window): an aggregate is always the
whole population of an indicator's countable sightings.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from varsel.matching.settings import sighting_k
from varsel.orgs.models import Organisation
from varsel.policy import Action, object_read_condition, restrict
from varsel.policy.principal import Principal
from varsel.sharing.models import StixObject
from varsel.sharing.tlp import TLP

_CHUNK = 500


@dataclass(frozen=True)
class Aggregate:
    """How many organisations and countries sighted one indicator, and in which ISO weeks."""

    indicator_id: str
    organisations: int
    countries: int
    first_week: str  # ISO 8601 week, e.g. "2026-W09"; "" when no sighting carried a time
    last_week: str

    def as_dict(self) -> dict[str, object]:
        """Return the JSON form."""
        return {
            "indicator_id": self.indicator_id,
            "organisations": self.organisations,
            "countries": self.countries,
            "first_week": self.first_week,
            "last_week": self.last_week,
        }


@dataclass
class _Group:
    orgs: set[int] = field(default_factory=set)
    countries: set[str] = field(default_factory=set)
    first: str | None = None
    last: str | None = None


def _day(timestamp: object) -> str | None:
    if not isinstance(timestamp, str) or len(timestamp) < 10:
        return None
    return timestamp[:10]


def iso_week(day: str | None) -> str:
    """Return the ISO 8601 week (``2026-W09``) of a ``YYYY-MM-DD`` day, or "" for none."""
    if day is None:
        return ""
    try:
        year, week, _ = date.fromisoformat(day).isocalendar()
    except ValueError:
        return ""
    return f"{year:04d}-W{week:02d}"


def _readable_indicators(
    session: Session, principal: Principal, ids: Iterable[str] | None
) -> set[str]:
    query = restrict(
        select(StixObject.stix_id).where(StixObject.type == "indicator"), principal, Action.READ
    )
    if ids is None:
        return set(session.execute(query.distinct()).scalars())
    wanted = list(dict.fromkeys(ids))
    found: set[str] = set()
    for start in range(0, len(wanted), _CHUNK):
        found.update(
            session.execute(
                query.where(StixObject.stix_id.in_(wanted[start : start + _CHUNK])).distinct()
            ).scalars()
        )
    return found


def aggregates(
    *,
    session: Session,
    principal: Principal,
    indicator_ids: list[str] | None = None,
    k: int | None = None,
) -> list[Aggregate]:
    """Return the k-anonymous sighting aggregates of the indicators ``principal`` may read."""
    k = sighting_k() if k is None else k
    readable = _readable_indicators(session, principal, indicator_ids)
    if not readable:
        return []
    groups: dict[str, _Group] = {}
    seen: set[str] = set()
    # A statistic over sightings the caller may not read (see the module docstring), hence no
    # restrict() — except for classified rows, which count only where the caller may read them.
    rows = session.execute(
        select(StixObject.stix_id, StixObject.producer_org_id, Organisation.country, StixObject.raw)
        .join(Organisation, Organisation.id == StixObject.producer_org_id)
        .where(
            StixObject.type == "sighting",
            StixObject.is_latest.is_(True),
            StixObject.tlp != TLP.RED.value,
            Organisation.vouched_at.is_not(None),
            StixObject.producer_org_id != principal.org_id,
            or_(StixObject.class_grade.is_(None), object_read_condition(principal)),
        )
        .execution_options(yield_per=2000)
    )
    for stix_id, org_id, country, raw in rows:
        if stix_id in seen:  # the same sighting in several collections counts once
            continue
        seen.add(stix_id)
        try:
            obj = json.loads(raw)
        except ValueError:
            continue
        target = obj.get("sighting_of_ref")
        if target not in readable:
            continue
        group = groups.setdefault(target, _Group())
        group.orgs.add(org_id)
        group.countries.add(country)
        for day in (
            _day(obj.get("first_seen") or obj.get("created")),
            _day(obj.get("last_seen") or obj.get("created")),
        ):
            if day is not None:
                group.first = day if group.first is None or day < group.first else group.first
                group.last = day if group.last is None or day > group.last else group.last
    return [
        Aggregate(
            indicator_id=target,
            organisations=len(g.orgs),
            countries=len(g.countries),
            first_week=iso_week(g.first),
            last_week=iso_week(g.last),
        )
        for target, g in sorted(groups.items())
        if len(g.orgs) >= k
    ]
