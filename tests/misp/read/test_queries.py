"""No query per event: the index, a search and a feed cost the same queries for 5 events or 40."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event

from tests import factories as f
from tests.misp.read.conftest import CREATED, World, grouping
from varsel.misp.flows import reading
from varsel.sharing.tlp import TLP


@contextmanager
def counted(world: World) -> Iterator[list[str]]:
    """Count the SQL statements run on the hub's engine meanwhile."""
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(world.hub.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(world.hub.engine, "before_cursor_execute", count)


def share_events(world: World, n: int) -> None:
    objects = []
    for _ in range(n):
        ind = f.indicator(
            tlp=TLP.GREEN, value=f"198.18.{uuid.uuid4().int % 250}.9", created=CREATED
        )
        objects += [ind, grouping(f"Event {uuid.uuid4()}", [ind["id"]], TLP.GREEN)]
    world.share("alice", *objects)


def reads(world: World) -> dict[str, int]:
    """Return how many statements each read takes, conversions not cached."""
    out = {}
    with world.hub.session() as s:
        p = f.principal(s, "bob")
        for name, work in {
            "index": lambda: reading.index(session=s, principal=p, q=reading.parse_query({})),
            "search": lambda: reading.search_attributes(
                session=s, principal=p, q=reading.parse_query({"type": "ip-dst"})
            ),
            "manifest": lambda: reading.feed_manifest(
                session=s, principal=p, collection_id=world.collection
            ),
            "hashes": lambda: reading.feed_hashes(
                session=s, principal=p, collection_id=world.collection
            ),
        }.items():
            reading.cache_clear()
            with counted(world) as statements:
                work()
            out[name] = len(statements)
    return out


def test_queries_do_not_grow_with_events(world: World) -> None:
    share_events(world, 3)
    few = reads(world)
    share_events(world, 35)
    many = reads(world)
    assert many == few, (few, many)
    assert max(few.values()) <= 12
