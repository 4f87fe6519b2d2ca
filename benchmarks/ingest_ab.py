"""A/B of the warning-list helper process at ingest, robust to a machine whose speed drifts.

One process, one database, one collection: envelopes alternate between "checked by the helper
process" and "checked in-process", so both halves see the same machine, the same collection size
and the same database state. Reports the median time per envelope of each half (service layer,
no HTTP: what the helper changes is inside the ingest). See docs/benchmarks.md.

    .venv/bin/python benchmarks/ingest_ab.py --backend sqlite --objects 60000
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import taxii_bench as bench  # noqa: E402


def main() -> int:
    """Run the A/B and print (and optionally write) the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--objects", type=int, default=60_000)
    parser.add_argument("--envelope", type=int, default=500)
    parser.add_argument("--pg-admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--output", type=Path, help="write the figures as JSON here")
    args = parser.parse_args()

    from sqlalchemy import select

    from varsel.db import make_engine, make_sessionmaker
    from varsel.orgs import service as orgs
    from varsel.policy.principal import principal_of
    from varsel.sharing import ingest as ingesting
    from varsel.sharing.ingest import preload_warning_lists
    from varsel.sharing.ingest.helper import WarningListHelper
    from varsel.sharing.models import Collection

    hub = bench.Hub(
        backend=args.backend, workdir=Path(tempfile.mkdtemp()), pg_admin_url=args.pg_admin_url
    )
    hub.create_database()
    helper = WarningListHelper()
    engine = None
    try:
        hub.init(4 * 2**20)
        preload_warning_lists()
        helper.start()
        deadline = time.monotonic() + 120
        while not helper.ready:
            if time.monotonic() > deadline:
                raise RuntimeError("the helper did not start")
            time.sleep(0.1)
        engine = make_engine(hub.database_url)
        factory = make_sessionmaker(engine)
        times: dict[bool, list[float]] = {True: [], False: []}
        bodies = bench.envelopes(2, 0, args.objects, args.envelope)
        for number, body in enumerate(bodies):
            with_helper = number % 2 == 1
            with factory() as session:
                principal = principal_of(orgs.get_user(session=session, username="producer"))
                row = session.execute(
                    select(Collection).where(Collection.id == hub.collections[bench.MAIN])
                ).scalar_one()
                began = time.perf_counter()
                result = ingesting.ingest(
                    session=session,
                    collection=row,
                    principal=principal,
                    body=body,
                    warnings_helper=helper if with_helper else None,
                )
                session.commit()
                times[with_helper].append(time.perf_counter() - began)
                if result.failures:
                    raise RuntimeError(f"objects were rejected: {result.failures[:3]}")
        figures = {
            "backend": args.backend,
            "objects": args.objects,
            "envelope_size": args.envelope,
            "date": bench.common.utc_now(),
            "median_ms_in_process": round(statistics.median(times[False]) * 1000, 1),
            "median_ms_with_helper": round(statistics.median(times[True]) * 1000, 1),
            "helper_checked": helper.checked,
            "helper_fallbacks": helper.fallbacks,
        }
    finally:
        helper.stop()
        if engine is not None:
            engine.dispose()
        hub.close(keep=False)
    print(json.dumps(figures, indent=2))
    if args.output:
        args.output.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
