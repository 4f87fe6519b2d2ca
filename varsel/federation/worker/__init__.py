"""The federation worker: one thread per link direction, pulling from and pushing to peers.

Exactly one worker runs per hub (:mod:`varsel.federation.lease`): every process of ``varsel
serve`` starts one (``VARSEL_FEDERATION``), and only the lease holder runs links; ``varsel peer
sync`` runs one alone. The holder looks at the links every few seconds as it renews the lease,
so a link added or removed while the hub serves starts or stops within that time.

**Pull** reads the peer's ``GET /api/v1/stream`` for the link's remote collection, resuming with
``Last-Event-ID`` = the link's ``pull_position`` and naming in ``exclude_origin`` this hub and the
peers it pulls into the same collection directly (each version then comes by one path: the
mesh's amplification stays near 1). Each ``batch`` event is applied in ONE transaction with the
link's new position and counters, after checking the lease in that same transaction: a crash
or a lost lease neither repeats nor misses anything.

**Push** reads the local collection after the link's ``push_position`` as the peer's hub
organisation would read it here (the same policy, so a push sends only what that hub may read),
posts it to ``POST /api/v1/federation/collections/{id}/batch``, and moves the position only after
the peer answered 2xx: the collection itself is the durable outbox.

Every wait is bounded (connect 5 s, a read three heartbeat intervals, an event's bytes 120 s),
every line, event, batch and answer limited in size, and a failing link backs off (1 s doubling
to 60 s, with jitter) in its own thread, so a slow or malicious peer stalls nothing else. Its
state (``ok``, ``retrying``, ``error``) and last error are kept on the link for ``peer status``;
no message carries the token.
"""

from varsel.federation.worker._checks import Backoff, Outcome, position_in
from varsel.federation.worker._manager import Background, LeaseBusy, Worker, start_background
from varsel.federation.worker._runner import LinkGone, LinkRunner

__all__ = [
    "Background",
    "Backoff",
    "LeaseBusy",
    "LinkGone",
    "LinkRunner",
    "Outcome",
    "Worker",
    "position_in",
    "start_background",
]
