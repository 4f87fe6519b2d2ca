"""``GET /metrics``: Prometheus text about federation and the hub, read from the database.

Nothing is counted in process memory: a hub runs several server processes (and the federation
worker in one of them), and counters kept per process would differ from scrape to scrape and
restart at zero. Instead a :class:`HubCollector` reads the ``peer_links`` counters, the
refusals, the tombstones not yet acknowledged and the lease at scrape time
(:func:`varsel.federation.queries.overview`), in a registry made for that one scrape.

The page names peers, their health and their errors, so it is not public: the caller must
present a hub-admin's API token (``Authorization: Bearer …``). Passwords are refused here: a
scraper that checks an argon2 hash every 15 seconds wastes a core and trips the sign-in
throttles. A peer hub's users are never admitted, whatever their role.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.responses import Response

from varsel.api.errors import error_response
from varsel.error_map import http_error
from varsel.errors import AuthenticationFailed, Forbidden, VarselError
from varsel.federation import queries
from varsel.federation.queries import FederationOverview, LinkView
from varsel.http.deps import DbSession, Hub, HubState, authenticate
from varsel.orgs.models import Role
from varsel.policy.principal import Principal

router = APIRouter(include_in_schema=False)
LINK_LABELS = ["peer", "link", "local_collection", "direction"]
PREFIX = "varsel_federation_"


def _timestamp(moment: datetime | None) -> float | None:
    # Stored as naive UTC (varsel.clock).
    return moment.replace(tzinfo=UTC).timestamp() if moment is not None else None


def _link_labels(link: LinkView) -> list[str]:
    return [link.peer, str(link.id), link.local_collection_id, link.direction]


def _link_counter(
    links: Iterable[LinkView], name: str, doc: str, value: Callable[[LinkView], int]
) -> Metric:
    family = CounterMetricFamily(PREFIX + name, doc, labels=LINK_LABELS)
    for link in links:
        family.add_metric(_link_labels(link), value(link))
    return family


def families(view: FederationOverview) -> Iterator[Metric]:
    """Yield the metric families of one overview (every link, hub organisation and peer)."""
    links = view.links
    info = GaugeMetricFamily(
        "varsel_hub_info", "This hub's federation name and key fingerprint.", labels=["hub", "key"]
    )
    info.add_metric([view.hub_name, view.public_fingerprint or ""], 1)
    yield info
    yield GaugeMetricFamily(
        "varsel_objects_stored", "Object versions stored here.", value=view.objects_stored
    )
    yield GaugeMetricFamily(
        PREFIX + "tombstones_stored", "Tombstones stored here.", value=view.tombstones_stored
    )
    yield GaugeMetricFamily(PREFIX + "peers", "Peers this hub connects to.", value=len(view.peers))

    lag = GaugeMetricFamily(
        PREFIX + "link_lag_objects",
        "Versions the peer holds for this link that are not here yet (pull) or that the "
        "peer has not accepted yet (push), as last measured.",
        labels=LINK_LABELS,
    )
    lag_seconds = GaugeMetricFamily(
        PREFIX + "link_lag_seconds",
        "How far the link is behind the newest version, in seconds of the collection's "
        "time (head - position of the last batch), as last measured.",
        labels=LINK_LABELS,
    )
    success = GaugeMetricFamily(
        PREFIX + "link_last_success_timestamp_seconds",
        "When this link last completed an exchange (Unix time).",
        labels=LINK_LABELS,
    )
    state = GaugeMetricFamily(
        PREFIX + "link_state",
        "The link's state: 1 for the state it is in.",
        labels=[*LINK_LABELS, "state"],
    )
    for link in links:
        labels = _link_labels(link)
        # Not measured yet is absent, never a made-up zero that would read as "caught up".
        if link.lag_objects is not None:
            lag.add_metric(labels, link.lag_objects)
        if link.lag_seconds is not None:
            lag_seconds.add_metric(labels, link.lag_seconds)
        if (when := _timestamp(link.last_success_at)) is not None:
            success.add_metric(labels, when)
        state.add_metric([*labels, link.state], 1)
    yield from (lag, lag_seconds, success, state)

    yield _link_counter(
        links, "link_received_objects", "Versions stored from this link.", lambda k: k.received
    )
    yield _link_counter(
        links,
        "link_duplicate_objects",
        "Versions this link delivered that were here already (or came back to their origin).",
        lambda k: k.duplicates,
    )
    yield _link_counter(
        links, "link_refused_objects", "Versions and tombstones refused.", lambda k: k.refused
    )
    yield _link_counter(
        links, "link_sent_objects", "Versions pushed to the peer.", lambda k: k.sent
    )
    yield _link_counter(
        links,
        "link_tombstones_applied",
        "Tombstones from this link applied here.",
        lambda k: k.tombstones_applied,
    )

    pending = GaugeMetricFamily(
        PREFIX + "pending_tombstones",
        "Tombstones addressed to a hub organisation that it has not acknowledged (on the "
        "stream, or by accepting a push).",
        labels=["peer"],
    )
    oldest = GaugeMetricFamily(
        PREFIX + "pending_tombstones_oldest_seconds",
        "Age of the oldest tombstone a hub organisation has not acknowledged.",
        labels=["peer"],
    )
    for hub in view.inbound:
        pending.add_metric([hub.name], hub.pending_tombstones)
        if hub.oldest_pending_seconds is not None:
            oldest.add_metric([hub.name], hub.oldest_pending_seconds)
    yield from (pending, oldest)

    refusals = CounterMetricFamily(
        PREFIX + "refusals", "Versions and tombstones refused, per peer.", labels=["peer"]
    )
    for name, count in sorted(view.refusals_by_peer.items()):
        refusals.add_metric([name], count)
    yield refusals

    held = GaugeMetricFamily(
        PREFIX + "worker_lease_held",
        "1 while a process holds the federation worker's lease.",
        labels=["holder"],
    )
    expiry = GaugeMetricFamily(
        PREFIX + "worker_lease_expiry_timestamp_seconds",
        "When the federation worker's lease runs out unless renewed (Unix time).",
        labels=["holder"],
    )
    if view.lease is not None:
        held.add_metric([view.lease.holder], 1 if view.lease.held else 0)
        expiry.add_metric([view.lease.holder], _timestamp(view.lease.expires_at) or 0.0)
    yield from (held, expiry)


class HubCollector(Collector):
    """A collector that reads the hub's database each time it is collected."""

    def __init__(self, read: Callable[[], FederationOverview]) -> None:
        self._read = read

    def describe(self) -> Iterable[Metric]:
        """Describe nothing ahead: registering must not read the database."""
        return []

    def collect(self) -> Iterable[Metric]:
        """Read the database now and yield every metric family."""
        return families(self._read())


def _scraper(request: Request, state: HubState, session: DbSession) -> Principal:
    """Return the principal of a hub-admin's Bearer token, or raise 401/403."""
    scheme = request.headers.get("authorization", "").partition(" ")[0].lower()
    if scheme != "bearer":
        raise AuthenticationFailed("/metrics needs a hub-admin's API token (Bearer)")
    principal = authenticate(request, state, session)
    if principal is None:  # pragma: no cover - a Bearer header always yields one or raises
        raise AuthenticationFailed("/metrics needs a hub-admin's API token (Bearer)")
    if principal.role is not Role.HUB_ADMIN or principal.hub:
        raise Forbidden("/metrics is for hub-admins")
    return principal


@router.get("/metrics")
def metrics(request: Request, state: Hub, session: DbSession) -> Response:
    """Return Prometheus text about the hub's federation (hub-admins' tokens only)."""
    try:
        _scraper(request, state, session)
    except VarselError as exc:
        error = http_error(exc)
        return error_response(
            request,
            error.status,
            error.title,
            exc.message,
            code=error.code,
            headers=error.headers(),
        )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(
        HubCollector(lambda: queries.overview(session=session, settings=state.settings))
    )
    return Response(
        generate_latest(registry),
        media_type=CONTENT_TYPE_LATEST,
        headers={"Cache-Control": "no-store"},
    )
