"""Migrations keep what a hub already holds, on both databases.

SQLite changes a table by copying it and dropping the old one; with foreign keys on, that drop
would delete every row pointing at the table through ON DELETE CASCADE (the recipients of
TLP:RED objects). This upgrades a hub holding such rows from the heads before revision 0006
and checks that nothing was lost and that the reordered unique index is there; and takes
revision 0007 (PostgreSQL's statement-level parent checks) down and up again.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, func, inspect, select

from tests import factories as f
from tests import pg
from varsel import migrate
from varsel.db import make_engine, make_sessionmaker
from varsel.orgs import service as orgs
from varsel.sharing.models import Recipient, StixObject
from varsel.sharing.tlp import TLP

HEADS_BEFORE_0006 = ("0002", "0003", "0005")


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        made = make_engine(f"sqlite:///{tmp_path / 'old.sqlite3'}")
        yield made
        made.dispose()
        return
    request.getfixturevalue("pg_available")
    url = pg.create_database()
    made = make_engine(url)
    try:
        yield made
    finally:
        made.dispose()
        pg.drop_database(url)


def test_upgrading_to_0006_keeps_red_recipients(engine: Engine) -> None:
    for head in HEADS_BEFORE_0006:
        migrate.upgrade(engine, head)
    sessions = make_sessionmaker(engine)
    red = [f.indicator(tlp=TLP.RED, recipients=["Svea"], value=f"198.51.100.{i}") for i in range(5)]
    with sessions() as s:
        f.org(s, "Fjordnett")
        f.org(s, "Svea", country="SE")
        f.user(s, "alice", "Fjordnett", password=None)
        f.community(s, "Nordic", ["Fjordnett", "Svea"])
        coll = f.collection(s, f"c-{uuid.uuid4().hex[:6]}", "Nordic")
        # Rows as the ingest of that schema wrote them: today's ingest needs later tables.
        alice = f.principal(s, "alice")
        svea = orgs.get_org(session=s, name="Svea").id
        for n, obj in enumerate(red):
            row = StixObject(
                collection_id=coll.id,
                stix_id=obj["id"],
                type="indicator",
                spec_version="2.1",
                version=obj["modified"],
                version_key=obj["modified"],
                date_added_us=n + 1,
                is_latest=True,
                is_first=True,
                tlp=TLP.RED.value,
                producer_org_id=alice.org_id,
                shared_by_user_id=alice.user_id,
                name=obj["name"],
                revoked=False,
                raw=json.dumps(obj),
            )
            s.add(row)
            s.flush()
            s.add(Recipient(object_pk=row.id, org_id=svea))
        s.commit()
        before = (
            s.scalar(select(func.count(StixObject.id))),
            s.scalar(select(func.count(Recipient.id))),
        )
    assert before == (5, 5)

    migrate.upgrade(engine)

    with sessions() as s:
        after = (
            s.scalar(select(func.count(StixObject.id))),
            s.scalar(select(func.count(Recipient.id))),
        )
    assert after == before
    inspector = inspect(engine)
    uniques = {tuple(u["column_names"]) for u in inspector.get_unique_constraints("stix_objects")}
    # Revision 0009 adds the producer (objects shared by value are kept once per producer).
    assert ("stix_id", "version_key", "collection_id", "producer_org_id") in uniques
    assert "ix_stix_objects_stix_id" not in {
        i["name"] for i in inspector.get_indexes("stix_objects")
    }


def _parent_keys(engine: Engine) -> set[str]:
    return {str(fk["referred_table"]) for fk in inspect(engine).get_foreign_keys("stix_objects")}


def test_0007_swaps_parent_keys_for_triggers_on_postgresql_only_and_back(engine: Engine) -> None:
    declared = {"collections", "organisations", "users"}
    migrate.upgrade(engine)
    postgresql = engine.dialect.name == "postgresql"
    assert _parent_keys(engine) == (set() if postgresql else declared)
    config = migrate.alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0006")
    assert _parent_keys(engine) == declared
    if postgresql:
        with engine.connect() as connection:
            left = connection.exec_driver_sql(
                "SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal"
            ).scalar()
        assert left == 0
    migrate.upgrade(engine)
    assert _parent_keys(engine) == (set() if postgresql else declared)
