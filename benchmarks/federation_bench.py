#!/usr/bin/env python3
"""Federation benchmark (issue 14): three hubs in a chain A → B → C, pulling over the stream.

Everything runs on this machine, as real ``varsel serve`` processes started by the federation
test harness (``tests/federation/harness.py``), each with its own database and key, connected
exactly as the issue's simplest federation (``varsel peer add`` / ``peer link``):

(a) **latency**: a producer shares ``--rate`` objects/s for ``--seconds`` s at A (an envelope
    every 100 ms); for every object, the time from A's acknowledgement (the 202 of its POST) to
    the object being readable by a reader at B (one hop) and at C (two hops), observed by a
    TAXII ``added_after`` poller per hub that polls back to back (every ``--poll-ms``);
(e) **baseline**, in the same run and window: a plain ``taxii2-client`` poller loop at A,
    polling every ``--baseline-interval`` s (5) with ``added_after`` — what a user writes today
    instead of federating; its latency is the same acknowledgement-to-seen time;
(b) **catch-up**: B is stopped, A takes ``--catchup`` objects (200,000), B is started again:
    objects/s at B from its start until it holds them all, and at C over the same interval;
(c) **signing and verifying cost**: there is no switch to turn seals off (every share is
    sealed), so the cost is measured alone, in this process, with the hub's own functions (the
    provenance text and digest per version, one Ed25519 signature per share of
    ``--envelope`` versions; one verification per seal plus a digest per version), and reported
    as a share of the ingest throughput measured at A in (b) and of the receive throughput at B;
(d) **amplification** in a four-hub full mesh (every hub pulls every other's collection): the
    objects transferred (every link's ``received + duplicates``) ÷ the objects needed
    (versions × (hubs − 1)).

Prints a table and writes JSON to ``benchmarks/results/federation.json``. Sizes are options, so
a correctness run is small::

    python benchmarks/federation_bench.py                        # the issue's sizes
    python benchmarks/federation_bench.py --rate 50 --seconds 5 --catchup 2000 --mesh-objects 50
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in {None, ""}:
    # Run as a script: make the repository root importable (benchmarks._common, the harness).
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
import requests  # noqa: E402

from benchmarks import _common as common  # noqa: E402
from tests.federation import harness as h  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ROOT / "benchmarks" / "results" / "federation.json"
PG_ADMIN = os.environ.get("VARSEL_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
TARGETS = {
    "one_hop_p99_s": 1.0,
    "two_hops_p99_s": 2.0,
    "catchup_b_objects_per_s": 10_000,
    "catchup_c_objects_per_s": 10_000,
    "crypto_share_of_ingest": 0.15,
    "mesh_amplification": 1.1,
}


def _objects(n: int, tag: str, start: int = 0) -> list[dict[str, Any]]:
    return [
        h.indicator(
            tlp="clear",
            name=f"{tag} {i}",
            value=f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}",
        )
        for i in range(start, start + n)
    ]


def _stats(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50_s": round(common.percentile(values, 50), 4),
        "p95_s": round(common.percentile(values, 95), 4),
        "p99_s": round(common.percentile(values, 99), 4),
        "max_s": round(max(values), 4),
    }


# The chain ------------------------------------------------------------------------------


@dataclass
class Chain:
    """A → B → C and the tokens the benchmark uses."""

    a: h.Hub
    b: h.Hub
    c: h.Hub
    intel: str
    from_a: str
    from_b: str
    producer: str
    reader_a: str
    reader_b: str
    reader_c: str


def build_chain(fed: h.Federation, backend: str) -> Chain:
    """Start A, B, C on ``backend`` and connect them A → B → C the simplest way."""
    a, b, c = fed.start(
        ["hub-a", "hub-b", "hub-c"], dict.fromkeys(("hub-a", "hub-b", "hub-c"), backend)
    )

    def hub_a() -> tuple[str, str, str]:
        ids, tokens = a.populate(
            orgs={"CERT-A": "csirt", "POLLER-A": "company"},
            users={"producer": "CERT-A", "poller": "POLLER-A"},
            communities={"Nordic": ["CERT-A", "POLLER-A"]},
            collections={"Intel": ("Nordic", "green")},
        )
        return ids["Intel"], tokens["producer"], tokens["poller"]

    def downstream(hub: h.Hub, org: str, title: str) -> tuple[str, str]:
        ids, tokens = hub.populate(
            orgs={org: "company"},
            users={"reader": org},
            communities={"Local": [org]},
            collections={title: ("Local", "green")},
        )
        return ids[title], tokens["reader"]

    (intel, producer, reader_a), (from_a, reader_b), (from_b, reader_c) = h.parallel(
        hub_a,
        lambda: downstream(b, "ORG-B", "From-A"),
        lambda: downstream(c, "ORG-C", "From-B"),
    )
    h.connect(a, b, upstream_community="Nordic", remote_collection=intel, local_collection=from_a)
    h.connect(b, c, upstream_community="Local", remote_collection=from_a, local_collection=from_b)
    c.cli("peer", "trust", "hub-a", "--public-key", a.hub_id()[1], "--country", "NO")
    return Chain(a, b, c, intel, from_a, from_b, producer, reader_a, reader_b, reader_c)


# (a) and (e): latency --------------------------------------------------------------------


@dataclass
class Poller:
    """Polls one collection with ``added_after`` and notes when each object is first seen."""

    hub: h.Hub
    collection: str
    token: str
    interval: float
    seen: dict[str, float] = field(default_factory=dict)
    errors: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        added_after: str | None = None
        with httpx.Client(headers=h.bearer(self.token), timeout=30) as client:
            while not self.stop.is_set():
                params: dict[str, str] = {"limit": "1000"}
                if added_after:
                    params["added_after"] = added_after
                try:
                    response = client.get(self.hub.objects_url(self.collection), params=params)
                    response.raise_for_status()
                except httpx.HTTPError:
                    self.errors += 1
                    time.sleep(self.interval)
                    continue
                now = time.monotonic()
                for obj in response.json().get("objects", []):
                    self.seen.setdefault(obj["id"], now)
                added_after = response.headers.get("X-TAXII-Date-Added-Last", added_after)
                if not response.json().get("more"):
                    time.sleep(self.interval)


class _Bearer(requests.auth.AuthBase):
    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request


@dataclass
class BaselinePoller:
    """What a user writes today: taxii2-client, every N seconds, ``added_after`` the last poll."""

    url: str
    token: str
    interval: float
    seen: dict[str, float] = field(default_factory=dict)
    polls: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        from taxii2client.v21 import Collection, as_pages

        collection = Collection(self.url, auth=_Bearer(self.token))
        since: datetime | None = None
        while not self.stop.is_set():
            started = datetime.now(UTC)
            kwargs: dict[str, Any] = {}
            if since is not None:
                # One second of overlap against clock steps; duplicates are dropped by id.
                kwargs["added_after"] = (since - timedelta(seconds=1)).strftime(
                    "%Y-%m-%dT%H:%M:%S.%fZ"
                )
            for page in as_pages(collection.get_objects, per_request=1000, **kwargs):
                now = time.monotonic()
                for obj in page.get("objects", []):
                    self.seen.setdefault(obj["id"], now)
            self.polls += 1
            since = started
            self.stop.wait(self.interval)


def latency(
    chain: Chain, rate: int, seconds: float, poll_ms: int, baseline_s: float
) -> dict[str, Any]:
    """Share ``rate`` objects/s for ``seconds`` at A; return the latency figures."""
    pollers = {
        "one_hop": Poller(chain.b, chain.from_a, chain.reader_b, poll_ms / 1000),
        "two_hops": Poller(chain.c, chain.from_b, chain.reader_c, poll_ms / 1000),
    }
    baseline = BaselinePoller(
        f"{chain.a.api_root_url}collections/{chain.intel}/", chain.reader_a, baseline_s
    )
    threads = [threading.Thread(target=p.run, daemon=True) for p in (*pollers.values(), baseline)]
    for t in threads:
        t.start()
    acked: dict[str, float] = {}
    tag = f"lat-{uuid.uuid4().hex[:8]}"
    per_tick = max(1, rate // 10)
    ticks = int(seconds * 10)
    started = time.monotonic()
    late_ticks = 0
    with httpx.Client(headers=h.bearer(chain.producer), timeout=60) as client:
        for tick in range(ticks):
            due = started + tick / 10
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            else:
                late_ticks += 1
            batch = _objects(per_tick, tag, tick * per_tick)
            response = client.post(
                chain.a.objects_url(chain.intel), content=json.dumps({"objects": batch})
            )
            now = time.monotonic()
            if response.status_code != 202 or response.json().get("failure_count"):
                raise RuntimeError(
                    f"A refused a share: {response.status_code} {response.text[:500]}"
                )
            for obj in batch:
                acked[obj["id"]] = now
    sharing = time.monotonic() - started
    # Let the last objects arrive (and one more baseline poll happen).
    deadline = time.monotonic() + max(30.0, baseline_s * 2 + 5)
    while time.monotonic() < deadline:
        if all(len(acked.keys() - p.seen.keys()) == 0 for p in (*pollers.values(), baseline)):
            break
        time.sleep(0.2)
    for p in (*pollers.values(), baseline):
        p.stop.set()
    for t in threads:
        t.join(timeout=30)

    def figures(seen: dict[str, float]) -> dict[str, Any]:
        values = [max(0.0, seen[i] - t) for i, t in acked.items() if i in seen]
        return {**_stats(values), "missing": len(acked) - len(values)}

    return {
        "shared": len(acked),
        "sharing_seconds": round(sharing, 2),
        "achieved_rate": round(len(acked) / sharing, 1) if sharing else None,
        "late_ticks": late_ticks,
        "one_hop": {**figures(pollers["one_hop"].seen), "poll_errors": pollers["one_hop"].errors},
        "two_hops": {
            **figures(pollers["two_hops"].seen),
            "poll_errors": pollers["two_hops"].errors,
        },
        "baseline_taxii2client_poller": {
            **figures(baseline.seen),
            "interval_s": baseline_s,
            "polls": baseline.polls,
        },
    }


# (b): catch-up ----------------------------------------------------------------------------


def catchup(chain: Chain, total: int, envelope: int) -> dict[str, Any]:
    """Stop B, share ``total`` objects at A, start B; return catch-up rates at B and C."""
    tag = f"catch-{uuid.uuid4().hex[:8]}"
    # Counting rows of the collection (indexed) costs the hubs less than matching names.
    before = {"b": chain.b.count_rows(chain.from_a), "c": chain.c.count_rows(chain.from_b)}
    chain.b.stop()
    started = time.monotonic()
    with httpx.Client(headers=h.bearer(chain.producer), timeout=300) as client:
        for start in range(0, total, envelope):
            batch = _objects(min(envelope, total - start), tag, start)
            response = client.post(
                chain.a.objects_url(chain.intel), content=json.dumps({"objects": batch})
            )
            if response.status_code != 202 or response.json().get("failure_count"):
                raise RuntimeError(
                    f"A refused a share: {response.status_code} {response.text[:500]}"
                )
    ingest_seconds = time.monotonic() - started
    restart = time.monotonic()
    chain.b.start()
    ready = time.monotonic()
    done: dict[str, float] = {}
    deadline = ready + max(600.0, total / 500)
    while len(done) < 2 and time.monotonic() < deadline:
        for name, hub, coll in (("b", chain.b, chain.from_a), ("c", chain.c, chain.from_b)):
            if name not in done and hub.count_rows(coll) - before[name] >= total:
                done[name] = time.monotonic()
        time.sleep(0.25)
    result: dict[str, Any] = {
        "objects": total,
        "ingest_at_a_seconds": round(ingest_seconds, 2),
        "ingest_at_a_objects_per_s": round(total / ingest_seconds, 1),
        "b_start_seconds": round(ready - restart, 2),
    }
    for name in ("b", "c"):
        if name in done:
            seconds = done[name] - ready
            result[f"{name}_seconds"] = round(seconds, 2)
            result[f"{name}_objects_per_s"] = round(total / seconds, 1) if seconds > 0 else None
        else:
            hub, coll = (chain.b, chain.from_a) if name == "b" else (chain.c, chain.from_b)
            result[f"{name}_error"] = f"only {hub.count_named(coll, tag)[1]} of {total} in time"
    return result


# (c): signing and verifying ---------------------------------------------------------------


def crypto_cost(
    samples: int, envelope: int, ingest_rate: float | None, receive_rate: float | None
) -> dict[str, Any]:
    """Time sealing and verifying alone with the hub's functions; relate them to ingest."""
    import tempfile

    from varsel.provenance import keys, seal

    raws = [json.dumps(o) for o in _objects(samples, "crypto")]
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o700)
        key = keys.load(Path(tmp), "hub-a")
    public = keys.parse_public(key.public)
    started = time.perf_counter()
    seals: list[tuple[seal.Seal, list[tuple[str, str]]]] = []
    for start in range(0, samples, envelope):
        chunk = raws[start : start + envelope]
        versions = [
            (seal.provenance(origin="hub-a", producer="CERT-A", tlp="clear"), raw) for raw in chunk
        ]
        digests = [seal.digest(p, r) for p, r in versions]
        seals.append((seal.make_seal(key, f"hub-a/{uuid.uuid4()}", digests), versions))
    sign_s = (time.perf_counter() - started) / samples
    started = time.perf_counter()
    for signed, versions in seals:
        if not seal.verify_seal(signed, public):
            raise RuntimeError("a seal did not verify")
        covered = signed.digests
        for p, r in versions:
            seal.parse_provenance(p)  # a receiver reads the provenance it stores
            if seal.digest(p, r) not in covered:
                raise RuntimeError("a digest is missing")
    verify_s = (time.perf_counter() - started) / samples
    result: dict[str, Any] = {
        "method": (
            "no switch turns sealing off, so sealing and verifying are timed alone in-process "
            "with varsel.provenance (provenance text + digest per version, one Ed25519 "
            "signature/verification per envelope) and multiplied by the measured throughput"
        ),
        "versions": samples,
        "per_seal_versions": envelope,
        "sign_us_per_version": round(sign_s * 1e6, 2),
        "verify_us_per_version": round(verify_s * 1e6, 2),
    }
    if ingest_rate:
        result["sign_share_of_ingest_at_a"] = round(sign_s * ingest_rate, 4)
    if receive_rate:
        result["verify_share_of_receive_at_b"] = round(verify_s * receive_rate, 4)
    return result


# (d): amplification -----------------------------------------------------------------------


def amplification(fed: h.Federation, backend: str, per_hub: int, envelope: int) -> dict[str, Any]:
    """Four hubs, each pulling every other's collection; return transferred ÷ needed."""
    names = ["hub-w", "hub-x", "hub-y", "hub-z"]
    hubs = fed.start(names, dict.fromkeys(names, backend))

    def local(hub: h.Hub) -> tuple[str, str]:
        producer = f"CERT-{hub.name[-1].upper()}"
        ids, tokens = hub.populate(
            orgs={producer: "csirt"},
            users={"producer": producer},
            communities={"Mesh": [producer]},
            collections={"Full": ("Mesh", "green")},
        )
        return ids["Full"], tokens["producer"]

    setup = dict(zip(names, h.parallel(*(lambda x=x: local(x) for x in hubs)), strict=True))

    def admit_all(up: h.Hub) -> dict[tuple[str, str], str]:
        return {(up.name, d.name): h.admit_hub(up, d, "Mesh") for d in hubs if d is not up}

    tokens: dict[tuple[str, str], str] = {}
    for found in h.parallel(*(lambda up=up: admit_all(up) for up in hubs)):
        tokens.update(found)

    def connect_all(down: h.Hub) -> None:
        for up in hubs:
            if up is not down:
                h.add_peer(down, up, tokens[(up.name, down.name)])
                h.link(down, up, setup[up.name][0], setup[down.name][0])

    h.parallel(*(lambda d=d: connect_all(d) for d in hubs))
    tag = f"mesh-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    for n, hub in enumerate(hubs):
        coll, token = setup[hub.name]
        for start in range(0, per_hub, envelope):
            hub.share(
                token, coll, *_objects(min(envelope, per_hub - start), tag, n * per_hub + start)
            )
    total = per_hub * len(hubs)
    for hub in hubs:
        h.wait_until(
            lambda hub=hub: hub.count_named(setup[hub.name][0], tag)[1] >= total,
            timeout=max(120.0, total / 200),
            interval=0.25,
            message=f"{total} objects at {hub.name}",
        )
    settled = time.monotonic() - started
    time.sleep(2)
    transferred = 0
    extra_rows = 0
    for hub in hubs:
        coll = setup[hub.name][0]
        (row,) = hub.sql(
            "SELECT coalesce(sum(received + duplicates), 0) FROM peer_links "
            "WHERE local_collection_id = :c",
            c=coll,
        )
        transferred += int(row[0])
        rows, distinct = hub.count_named(coll, tag)
        extra_rows += rows - distinct
    needed = total * (len(hubs) - 1)
    return {
        "hubs": len(hubs),
        "links": len(hubs) * (len(hubs) - 1),
        "versions": total,
        "needed": needed,
        "transferred": transferred,
        "amplification": round(transferred / needed, 4) if needed else None,
        "rows_beyond_one_per_hub": extra_rows,
        "seconds_to_settle": round(settled, 2),
    }


# The run ----------------------------------------------------------------------------------


def _phase(report: dict[str, Any], name: str, run: Callable[[], dict[str, Any]]) -> None:
    print(f"… {name}", file=sys.stderr, flush=True)
    try:
        report[name] = run()
    except Exception as exc:  # report the phase's failure, go on with the others
        report[name] = {"error": f"{type(exc).__name__}: {exc}"[:3000]}


def _targets(report: dict[str, Any]) -> dict[str, Any]:
    lat = report.get("latency", {})
    cat = report.get("catchup", {})
    cry = report.get("crypto", {})
    amp = report.get("amplification", {})
    figures = {
        "one_hop_p99_s": lat.get("one_hop", {}).get("p99_s"),
        "two_hops_p99_s": lat.get("two_hops", {}).get("p99_s"),
        "catchup_b_objects_per_s": cat.get("b_objects_per_s"),
        "catchup_c_objects_per_s": cat.get("c_objects_per_s"),
        "crypto_share_of_ingest": max(
            (
                v
                for v in (
                    cry.get("sign_share_of_ingest_at_a"),
                    cry.get("verify_share_of_receive_at_b"),
                )
                if v is not None
            ),
            default=None,
        ),
        "mesh_amplification": amp.get("amplification"),
    }
    met: dict[str, Any] = {}
    for name, target in TARGETS.items():
        value = figures[name]
        higher_is_better = name.startswith("catchup")
        ok = None if value is None else (value >= target if higher_is_better else value <= target)
        met[name] = {"value": value, "target": target, "met": ok}
    return met


def _table(report: dict[str, Any]) -> str:
    lines = [f"{'figure':<34} {'value':>12} {'target':>10}  met"]
    for name, row in report["targets_met"].items():
        value = "—" if row["value"] is None else f"{row['value']:,}"
        lines.append(f"{name:<34} {value:>12} {row['target']:>10,}  {row['met']}")
    lat = report.get("latency", {})
    if "baseline_taxii2client_poller" in lat:
        base = lat["baseline_taxii2client_poller"]
        lines.append(
            f"{'baseline taxii2-client p50/p99 s':<34} {base.get('p50_s', '—')!s:>12} "
            f"{base.get('p99_s', '—')!s:>10}  (poll every {base.get('interval_s')} s)"
        )
    if "setup_error" in report:
        lines.append(f"chain set-up: ERROR {report['setup_error'][:300]}")
    for name in ("latency", "catchup", "crypto", "amplification"):
        if "error" in report.get(name, {}):
            lines.append(f"{name}: ERROR {report[name]['error'][:300]}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument("--rate", type=int, default=1000, help="objects/s shared at A in (a)")
    parser.add_argument("--seconds", type=float, default=60, help="how long (a) shares")
    parser.add_argument("--poll-ms", type=int, default=50, help="the B and C readers' poll gap")
    parser.add_argument("--baseline-interval", type=float, default=5.0)
    parser.add_argument(
        "--catchup", type=int, default=200_000, help="objects A takes while B is down"
    )
    parser.add_argument(
        "--envelope", type=int, default=1000, help="objects per POST in (b) and (d)"
    )
    parser.add_argument("--crypto-samples", type=int, default=20_000)
    parser.add_argument("--mesh-objects", type=int, default=2_500, help="objects per hub in (d)")
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=("latency", "catchup", "crypto", "amplification"),
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--no-table", action="store_true")
    args = parser.parse_args(argv)

    report: dict[str, Any] = {
        "benchmark": "federation",
        "machine": common.machine_info(PG_ADMIN if args.backend == "postgresql" else None),
        "load_before": common.load_snapshot(),
        "parameters": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
    }
    with h.Federation() as fed:
        chain: Chain | None = None
        try:
            chain = build_chain(fed, args.backend)
        except Exception as exc:
            report["setup_error"] = f"{type(exc).__name__}: {exc}"[:3000]
        if chain is not None:
            if "latency" not in args.skip:
                _phase(
                    report,
                    "latency",
                    lambda: latency(
                        chain, args.rate, args.seconds, args.poll_ms, args.baseline_interval
                    ),
                )
            if "catchup" not in args.skip:
                _phase(report, "catchup", lambda: catchup(chain, args.catchup, args.envelope))
        if "crypto" not in args.skip:
            cat = report.get("catchup", {})
            _phase(
                report,
                "crypto",
                lambda: crypto_cost(
                    args.crypto_samples,
                    args.envelope,
                    cat.get("ingest_at_a_objects_per_s"),
                    cat.get("b_objects_per_s"),
                ),
            )
    if "amplification" not in args.skip:
        with h.Federation() as mesh:
            _phase(
                report,
                "amplification",
                lambda: amplification(mesh, args.backend, args.mesh_objects, args.envelope),
            )
    report["load_after"] = common.load_snapshot()
    report["targets_met"] = _targets(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if not args.no_table:
        print(_table(report))
        print(f"JSON: {args.output}")
    failed = "setup_error" in report or any(
        "error" in report.get(p, {}) for p in ("latency", "catchup", "crypto", "amplification")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
