#!/usr/bin/env python3
"""Web workbench benchmark (issue 15): object list, search and look-up over a large hub.

For each database the script builds a hub (``varsel init``; organisations, users and tokens
through the service layer), loads ``--objects`` indicators through the ingest service in
envelopes of ``--envelope`` objects (the real ingest path: validation, seals, search terms;
no HTTP, which only the load would pay for), starts ``varsel serve`` in a child process and
measures with ``requests`` over 127.0.0.1, signed in through the sign-in form as two readers:

* ``most``: an analyst of the community that owns the collection: reads every object but
  the TLP:RED ones (there are none here), i.e. all of them;
* ``few``: an analyst of an organisation in no community: reads the TLP:CLEAR tenth.

Per reader and page it reports p50/p95 of ``cold`` requests (each a query not asked before,
just after the server started) and ``warm`` ones (the same query again). The pages: the
object list (``/objects``), search (``/search?q=``: an address, a word of one object's name,
a word every object holds) and the look-up of 1,000 pasted values (``POST /lookup``: half of
them shared, half not, some defanged). ``--ingest-ab`` instead measures what writing the search
terms costs the ingest: envelopes alternate with and without it, as benchmarks/ingest_ab.py.

    .venv/bin/python benchmarks/web_bench.py --objects 1000000            # both databases
    .venv/bin/python benchmarks/web_bench.py --objects 100000 --backends sqlite
    .venv/bin/python benchmarks/web_bench.py --ingest-ab --objects 40000 --backends postgresql
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

if __package__ in {None, ""}:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import _common as common  # noqa: E402
from benchmarks import taxii_bench as bench  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ROOT / "benchmarks" / "results" / "web.json"
PASSWORD = "bench-password-1234"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
SEED = 7


def _add_readers(database_url: str) -> None:
    """Give the hub the two readers: ``most`` (in the community) and ``few`` (outside)."""
    from varsel.db import make_engine, make_sessionmaker
    from varsel.orgs import service as orgs

    engine = make_engine(database_url)
    try:
        with make_sessionmaker(engine)() as session:
            orgs.add_org(
                session=session, name="Bench Outside", country="US", kind="company", actor="bench"
            )
            orgs.add_user(
                session=session, username="most", org="Bench Energy", role="analyst",
                password=PASSWORD, actor="bench",
            )  # fmt: skip
            orgs.add_user(
                session=session, username="few", org="Bench Outside", role="analyst",
                password=PASSWORD, actor="bench",
            )  # fmt: skip
            session.commit()
    finally:
        engine.dispose()


def _signed_in(base_url: str, username: str) -> requests.Session:
    client = requests.Session()
    page = client.get(f"{base_url}/login", timeout=30)
    token = _CSRF.search(page.text)
    assert token is not None
    done = client.post(
        f"{base_url}/login",
        data={"username": username, "password": PASSWORD, "csrf": token.group(1), "next": "/"},
        allow_redirects=False,
        timeout=30,
    )
    if done.status_code != 303:
        raise RuntimeError(f"sign-in of {username} failed: {done.status_code}")
    return client


def _timed(call: Any) -> float:
    began = time.perf_counter()
    response = call()
    elapsed = (time.perf_counter() - began) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"{response.request.url} answered {response.status_code}")
    return elapsed


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50_ms": round(common.percentile(values, 50), 1),
        "p95_ms": round(common.percentile(values, 95), 1),
    }


def _value(index: int) -> str:
    """Return the observable value of indicator ``index`` as taxii_bench writes it."""
    pattern = bench.indicator(SEED, index)["pattern"]
    return pattern.split("'")[-2]


def _paste(objects: int, start: int) -> str:
    """Return pasted text holding 1,000 values: 500 shared (some defanged), 500 unknown."""
    lines = []
    for i in range(500):
        value = _value((start + i * 7919) % objects)
        lines.append(value.replace(".", "[.]") if i % 3 == 0 else value)
        lines.append(f"198.18.{(start + i) // 256 % 256}.{(start + i) % 256}")
    return "Seen in the logs today:\n" + "\n".join(lines)


def _pages(base_url: str, objects: int) -> dict[str, Any]:
    """Return, per page, a function of (client, n) that asks the n-th query of that page."""
    return {
        "objects": lambda c, n: c.get(f"{base_url}/objects", timeout=60),
        "objects_filtered": lambda c, n: c.get(
            f"{base_url}/objects", params={"type": "indicator", "tlp": "clear"}, timeout=60
        ),
        "search_value": lambda c, n: c.get(
            f"{base_url}/search", params={"q": _value((n * 104_729) % objects)}, timeout=60
        ),
        # A word of one domain indicator's name (index 1 mod 4 holds a domain).
        "search_rare_word": lambda c, n: c.get(
            f"{base_url}/search",
            params={"q": _value((n * 4 * 15_485 + 1) % objects).split(".")[0]},
            timeout=60,
        ),
        # A word every object's description holds.
        "search_common_word": lambda c, n: c.get(
            f"{base_url}/search",
            params={"q": ["phishing", "nordic", "energy"][n % 3]},
            timeout=60,
        ),  # fmt: skip
    }


def _lookup(client: requests.Session, base_url: str, objects: int, n: int) -> Any:
    token = _CSRF.search(client.get(f"{base_url}/lookup", timeout=30).text)
    assert token is not None
    text = _paste(objects, n * 1000)
    began = time.perf_counter()
    response = client.post(
        f"{base_url}/lookup", data={"text": text, "csrf": token.group(1)}, timeout=120
    )
    elapsed = (time.perf_counter() - began) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"/lookup answered {response.status_code}")
    return elapsed


def measure(base_url: str, objects: int, rounds: int) -> dict[str, Any]:
    """Return p50/p95 per reader, page and cold/warm."""
    out: dict[str, Any] = {}
    for reader in ("most", "few"):
        client = _signed_in(base_url, reader)
        figures: dict[str, Any] = {}
        for name, call in _pages(base_url, objects).items():
            cold = [_timed(lambda: call(client, n)) for n in range(rounds)]  # noqa: B023
            warm = [_timed(lambda: call(client, 0)) for _ in range(rounds)]  # noqa: B023
            figures[name] = {"cold": _summary(cold), "warm": _summary(warm)}
        lookups = max(3, rounds // 2)
        cold = [_lookup(client, base_url, objects, n) for n in range(lookups)]
        warm = [_lookup(client, base_url, objects, 0) for _ in range(lookups)]
        figures["lookup_1000"] = {"cold": _summary(cold), "warm": _summary(warm)}
        out[reader] = figures
    return out


_ROW_COLUMNS = (
    "id", "collection_id", "stix_id", "type", "spec_version", "version", "version_key",
    "date_added_us", "is_latest", "is_first", "tlp", "producer_org_id", "name", "revoked", "raw",
)  # fmt: skip


def bulk_build(database_url: str, collection_id: str, objects: int) -> dict[str, Any]:
    """Write ``objects`` indicators and their search terms straight into the tables.

    What ingest would store for taxii_bench's indicators (TLP from the marking, or the
    collection's GREEN; version keys by the validator's ``timestamp_key``), written in batches
    of 20,000 with one executemany (SQLite) or COPY (PostgreSQL) per table, and the terms by
    the one writer ingest uses (``varsel.sharing.terms.write``). Skipped, and not needed for
    reading: validation, warning lists and the per-share provenance seal. Ten times the
    ingest's rate, so a hub of a million objects is built in minutes.
    """
    from sqlalchemy import text

    from varsel.clock import now_us
    from varsel.db import make_engine
    from varsel.sharing import terms
    from varsel.sharing.validation._common import timestamp_key

    engine = make_engine(database_url)
    began = time.perf_counter()
    try:
        with engine.begin() as connection:
            producer = connection.execute(
                text("SELECT id FROM organisations WHERE name = 'Bench CERT'")
            ).scalar_one()
            first = (
                int(
                    connection.execute(
                        text("SELECT coalesce(max(id), 0) FROM stix_objects")
                    ).scalar_one()
                )
                + 1
            )
            base_us = now_us()
            postgresql = connection.dialect.name == "postgresql"
            for start in range(0, objects, 20_000):
                rows: list[tuple[Any, ...]] = []
                stored: list[tuple[int, dict[str, Any]]] = []
                for i in range(start, min(start + 20_000, objects)):
                    obj = bench.indicator(SEED, i)
                    tlp = "clear" if i % 10 == 0 else "amber" if i % 10 in (1, 2) else "green"
                    pk = first + i
                    rows.append(
                        (
                            pk, collection_id, obj["id"], "indicator", "2.1", obj["modified"],
                            timestamp_key(obj["modified"]), base_us + i, True, True, tlp,
                            producer, obj["name"], False, json.dumps(obj),
                        )
                    )  # fmt: skip
                    stored.append((pk, obj))
                columns = ", ".join(_ROW_COLUMNS)
                if postgresql:
                    raw = connection.connection.driver_connection  # type: ignore[union-attr]
                    with raw.cursor().copy(f"COPY stix_objects ({columns}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
                else:
                    marks = ", ".join("?" for _ in _ROW_COLUMNS)
                    connection.exec_driver_sql(
                        f"INSERT INTO stix_objects ({columns}) VALUES ({marks})", rows
                    )
                terms.write(connection, stored)
            connection.execute(
                text("UPDATE collections SET last_added_us = :us WHERE id = :c"),
                {"us": base_us + objects, "c": collection_id},
            )
            if postgresql:
                connection.execute(
                    text(
                        "SELECT setval(pg_get_serial_sequence('stix_objects', 'id'), "
                        "(SELECT max(id) FROM stix_objects))"
                    )
                )
    finally:
        engine.dispose()
    seconds = time.perf_counter() - began
    return {
        "objects": objects,
        "seconds": round(seconds, 1),
        "objects_per_s": round(objects / seconds),
        "path": "bulk insert (benchmarks/web_bench.py bulk_build)",
    }


def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    """Build, load, serve and measure one hub."""
    hub = bench.Hub(
        backend=backend, workdir=Path(tempfile.mkdtemp()), pg_admin_url=args.pg_admin_url
    )
    hub.create_database()
    try:
        hub.init(8 * 2**20, helper=False)
        _add_readers(hub.database_url)
        print(f"[{backend}] loading {args.objects:,} objects…", flush=True)
        load = (
            hub.bulk_load(SEED, 0, args.objects, args.envelope)
            if args.through_ingest
            else bulk_build(hub.database_url, hub.collections[bench.SCALE], args.objects)
        )
        print(f"[{backend}] loaded: {load}", flush=True)
        if backend == "postgresql":
            import psycopg

            url = hub.database_url.replace("postgresql+psycopg://", "postgresql://")
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("VACUUM ANALYZE")
        hub.serve()
        figures = measure(hub.base_url, args.objects, args.rounds)
        return {"backend": backend, "objects": args.objects, "load": load, "pages": figures}
    finally:
        hub.close(keep=False)


def ingest_ab(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    """Return the median ingest time per envelope with and without writing search terms."""
    from sqlalchemy import select

    from varsel.db import make_engine, make_sessionmaker
    from varsel.orgs import service as orgs
    from varsel.policy.principal import principal_of
    from varsel.sharing import ingest as ingesting
    from varsel.sharing import terms
    from varsel.sharing.models import Collection

    hub = bench.Hub(
        backend=backend, workdir=Path(tempfile.mkdtemp()), pg_admin_url=args.pg_admin_url
    )
    hub.create_database()
    real_write = terms.write
    engine = None
    try:
        hub.init(8 * 2**20, helper=False)
        engine = make_engine(hub.database_url)
        factory = make_sessionmaker(engine)
        times: dict[bool, list[float]] = {True: [], False: []}
        for number, body in enumerate(bench.envelopes(3, 0, args.objects, args.envelope)):
            with_terms = number % 2 == 1
            terms.write = real_write if with_terms else (lambda connection, rows: 0)  # type: ignore[assignment]
            with factory() as session:
                principal = principal_of(orgs.get_user(session=session, username="producer"))
                row = session.execute(
                    select(Collection).where(Collection.id == hub.collections[bench.MAIN])
                ).scalar_one()
                began = time.perf_counter()
                ingesting.ingest(session=session, collection=row, principal=principal, body=body)
                session.commit()
                times[with_terms].append(time.perf_counter() - began)
        without = statistics.median(times[False])
        with_ = statistics.median(times[True])
        return {
            "backend": backend,
            "objects": args.objects,
            "envelope_size": args.envelope,
            "median_ms_without_terms": round(without * 1000, 1),
            "median_ms_with_terms": round(with_ * 1000, 1),
            "objects_per_s_without_terms": round(args.envelope / without),
            "objects_per_s_with_terms": round(args.envelope / with_),
        }
    finally:
        terms.write = real_write  # type: ignore[assignment]
        if engine is not None:
            engine.dispose()
        hub.close(keep=False)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print (and write) the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=1_000_000)
    parser.add_argument("--envelope", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=20, help="requests per page and state")
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--pg-admin-url", default=bench.DEFAULT_PG_ADMIN)
    parser.add_argument(
        "--through-ingest", action="store_true", help="load through the ingest service (slow)"
    )
    parser.add_argument("--ingest-ab", action="store_true", help="measure the terms' ingest cost")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    report: dict[str, Any] = {
        "date": common.utc_now(),
        "machine": common.machine_info(args.pg_admin_url),
        "runs": [],
    }
    for backend in args.backends:
        run = ingest_ab(backend, args) if args.ingest_ab else run_backend(backend, args)
        print(json.dumps(run, indent=2), flush=True)
        report["runs"].append(run)
    output = args.output
    if args.ingest_ab and output == DEFAULT_OUTPUT:
        output = output.with_name("web-ingest-ab.json")
    output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
