"""Time the web object list (its page and its result count) over a million objects.

Seeds a database directly (rows, not shares: a million shares would take an hour) with
``--objects`` latest indicator versions in four collections of one community: 0.5 % TLP:CLEAR,
the rest GREEN and AMBER. Two readers: ``most`` is in the community and may read every object;
``few`` is in none and reads only the CLEAR ones. Each page (``/objects``, unfiltered and
filtered by type and TLP) is fetched ``--samples`` times through the application, and the
median and p95 reported with the count the page showed.

    python -m benchmarks.object_list_bench --database sqlite --objects 1000000
    python -m benchmarks.object_list_bench --database postgresql --objects 1000000
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import insert, text

from tests import factories as f
from tests import pg
from tests.web.conftest import sign_in
from varsel import migrate
from varsel.api.app import create_app
from varsel.config import Settings
from varsel.db import make_engine, make_sessionmaker
from varsel.orgs.models import Organisation
from varsel.sharing.models import StixObject
from varsel.sharing.tlp import TLP

CHUNK = 20_000
_COUNT = re.compile(r'id="result-count"[^>]*>([^<]*)<')


def _seed(url: str, objects: int) -> None:
    engine = make_engine(url)
    migrate.upgrade(engine)
    sessions = make_sessionmaker(engine)
    with sessions() as s:
        f.org(s, "Producer", "NO")
        f.org(s, "Member", "SE")
        f.org(s, "Outsider", "US")
        f.user(s, "most", "Member")
        f.user(s, "few", "Outsider")
        f.community(s, "Nordic", ["Producer", "Member"])
        colls = [f.collection(s, f"Feed {i}", "Nordic").id for i in range(4)]
        producer = s.query(Organisation.id).filter(Organisation.name == "Producer").scalar()
        s.commit()
    start_us = 1_700_000_000_000_000
    table = StixObject.__table__
    with engine.begin() as conn:
        for base in range(0, objects, CHUNK):
            rows: list[dict[str, Any]] = []
            for i in range(base, min(base + CHUNK, objects)):
                tlp = (
                    TLP.CLEAR.value
                    if i % 200 == 0
                    else (TLP.GREEN.value if i % 2 else TLP.AMBER.value)
                )
                value = f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"
                sid = f"indicator--{uuid.UUID(int=i + 1)}"
                raw = json.dumps(
                    {
                        "type": "indicator",
                        "spec_version": "2.1",
                        "id": sid,
                        "created": "2026-01-01T00:00:00.000Z",
                        "modified": "2026-01-01T00:00:00.000Z",
                        "name": "Payload URL",
                        "pattern": f"[ipv4-addr:value = '{value}']",
                        "pattern_type": "stix",
                        "valid_from": "2026-01-01T00:00:00.000Z",
                    }
                )
                rows.append(
                    {
                        "collection_id": colls[i % 4],
                        "stix_id": sid,
                        "type": "indicator",
                        "spec_version": "2.1",
                        "version": "2026-01-01T00:00:00.000Z",
                        "version_key": "2026-01-01T00:00:00.000000Z",
                        "date_added_us": start_us + i * 1000,
                        "is_latest": True,
                        "is_first": True,
                        "tlp": tlp,
                        "producer_org_id": producer,
                        "name": "Payload URL",
                        "revoked": False,
                        "raw": raw,
                    }
                )
            conn.execute(insert(table), rows)
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    engine.dispose()


def _time(client: TestClient, path: str, samples: int) -> dict[str, Any]:
    client.get(path)  # warm
    took = []
    shown = ""
    for _ in range(samples):
        began = time.perf_counter()
        response = client.get(path)
        took.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200, response.status_code
        match = _COUNT.search(response.text)
        shown = match.group(1) if match else ""
    took.sort()
    return {
        "median_ms": round(statistics.median(took), 1),
        "p95_ms": round(took[max(0, int(len(took) * 0.95) - 1)], 1),
        "count": shown,
    }


def main() -> None:
    """Seed, then time the object list for both readers."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--objects", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--url", help="time an already seeded database (kept afterwards)")
    args = parser.parse_args()
    if args.url:
        url = args.url
    elif args.database == "sqlite":
        url = f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.sqlite3'}"
    else:
        url = pg.create_database()
    if not args.url:
        began = time.perf_counter()
        _seed(url, args.objects)
        print(f"seeded {args.objects:,} objects in {time.perf_counter() - began:.0f} s", flush=True)
    app = create_app(Settings(database_url=url, secret_key="bench" * 8))
    report: dict[str, Any] = {"database": args.database, "objects": args.objects}
    try:
        for reader in ("most", "few"):
            with TestClient(app) as client:
                sign_in(client, reader)
                for path in (
                    "/objects",
                    "/objects?type=indicator",
                    "/objects?tlp=amber",
                ):
                    report[f"{reader} {path}"] = _time(client, path, args.samples)
                    print(reader, path, report[f"{reader} {path}"], flush=True)
    finally:
        app.state.engine.dispose()
        if args.database == "postgresql" and not args.url:
            pg.drop_database(url)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
