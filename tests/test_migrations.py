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
from datetime import datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, func, inspect, select, text

from tests import factories as f
from tests import pg
from varsel import migrate
from varsel.db import make_engine, make_sessionmaker
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


def _seed_old_hub(engine: Engine) -> None:
    """Write five TLP:RED objects with recipients in the schema of the heads before 0006.

    Plain SQL, not the models: the models describe the newest schema, which the old tables
    lack columns of (name keys, 0008).
    """
    now = datetime(2026, 1, 1)
    with engine.begin() as c:
        for oid, name, country in ((1, "Fjordnett", "NO"), (2, "Svea", "SE")):
            c.execute(
                text(
                    "INSERT INTO organisations (id, name, country, kind, created_at) "
                    "VALUES (:i, :n, :c, 'company', :t)"
                ),
                {"i": oid, "n": name, "c": country, "t": now},
            )
        c.execute(
            text(
                "INSERT INTO users (id, username, org_id, role, failed_logins, created_at) "
                "VALUES (1, 'alice', 1, 'analyst', 0, :t)"
            ),
            {"t": now},
        )
        c.execute(
            text(
                "INSERT INTO communities (id, name, description, created_at) "
                "VALUES (1, 'Nordic', '', :t)"
            ),
            {"t": now},
        )
        c.execute(text("INSERT INTO community_members VALUES (1, 1), (1, 2)"))
        c.execute(
            text(
                "INSERT INTO collections (id, title, description, community_id, default_tlp, "
                "read_roles, write_roles, last_added_us, created_at) "
                "VALUES (:i, 'c', '', 1, 'amber', 'analyst', 'analyst', 0, :t)"
            ),
            {"i": str(uuid.uuid4()), "t": now},
        )
        coll = c.execute(text("SELECT id FROM collections")).scalar_one()
        for i in range(5):
            obj = f.indicator(tlp=TLP.RED, recipients=["Svea"], value=f"198.51.100.{i}")
            c.execute(
                text(
                    "INSERT INTO stix_objects (id, collection_id, stix_id, type, spec_version, "
                    "version, version_key, date_added_us, is_latest, is_first, tlp, "
                    "producer_org_id, shared_by_user_id, name, revoked, raw) VALUES (:pk, :coll, "
                    ":sid, 'indicator', '2.1', :v, :v, :pk, :t, :t, 'red', 1, 1, 'x', :f, :raw)"
                ),
                {
                    "pk": i + 1,
                    "coll": coll,
                    "sid": obj["id"],
                    "v": obj["modified"],
                    "t": True,
                    "f": False,
                    "raw": json.dumps(obj),
                },
            )
            c.execute(
                text("INSERT INTO recipients (object_pk, org_id) VALUES (:pk, 2)"), {"pk": i + 1}
            )


def test_upgrading_to_0006_keeps_red_recipients(engine: Engine) -> None:
    for head in HEADS_BEFORE_0006:
        migrate.upgrade(engine, head)
    _seed_old_hub(engine)
    sessions = make_sessionmaker(engine)
    with sessions() as s:
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


def test_0008_keys_existing_names_and_stops_on_look_alikes(engine: Engine) -> None:
    migrate.upgrade(engine, "0007")
    now = datetime(2026, 1, 1)
    with engine.begin() as c:
        for oid, name in ((1, "Svea Moln AB"), (2, "Fjordnett")):
            c.execute(
                text(
                    "INSERT INTO organisations (id, name, country, kind, created_at) "
                    "VALUES (:i, :n, 'SE', 'company', :t)"
                ),
                {"i": oid, "n": name, "t": now},
            )
        c.execute(
            text(
                "INSERT INTO users (id, username, org_id, role, failed_logins, created_at) "
                "VALUES (1, 'Analyst.no', 2, 'analyst', 0, :t)"
            ),
            {"t": now},
        )
    migrate.upgrade(engine)
    with engine.connect() as c:
        keys = dict(c.execute(text("SELECT name, name_key FROM organisations")).all())
        users = c.execute(text("SELECT username_key FROM users")).scalars().all()
    assert keys == {"Svea Moln AB": "svea moln ab", "Fjordnett": "fjordnett"}
    assert users == ["analyst.no"]
    migrate.downgrade(engine, "0007")
    with engine.begin() as c:
        # Before 0008 a look-alike could be added beside the genuine name...
        c.execute(
            text(
                "INSERT INTO organisations (id, name, country, kind, created_at) "
                "VALUES (3, 'Svea Moln \u0410B', 'SE', 'company', :t)"
            ),
            {"t": now},
        )
    # ...and the upgrade refuses to guess which one is genuine.
    with pytest.raises(RuntimeError, match="rename one of each pair"):
        migrate.upgrade(engine)


def test_0013_makes_existing_communities_unlisted(engine: Engine) -> None:
    migrate.upgrade(engine, "0012")
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO communities (id, name, description, created_at) "
                "VALUES (1, 'Defence', '', :now)"
            ),
            {"now": datetime(2026, 1, 1)},
        )
    migrate.upgrade(engine)
    with engine.connect() as c:
        rows = c.execute(text("SELECT name, visibility FROM communities")).all()
    # Nobody chose to publish it: it is seen by its members and hub-admins only.
    assert [tuple(r) for r in rows] == [("Defence", "unlisted")]


def test_0017_writes_the_search_terms_of_stored_versions(engine: Engine) -> None:
    migrate.upgrade(engine, "0014")
    _seed_old_hub_0014(engine)
    migrate.upgrade(engine)
    with engine.connect() as c:
        rows = c.execute(
            text("SELECT object_pk, kind, value, lo, hi FROM object_terms ORDER BY id")
        ).all()
    by_pk: dict[int, set[tuple[str, str]]] = {}
    for pk, kind, value, _, _ in rows:
        by_pk.setdefault(pk, set()).add((kind, value))
    assert by_pk[1] == {
        ("ip", "198.51.100.1"),
        ("word", "bad"),
        ("word", "address"),
        ("word", "198"),
        ("word", "51"),
        ("word", "100"),
    }
    assert ("cidr", "203.0.113.0/24") in by_pk[2]
    assert ("domain", "bad.example") in by_pk[3]  # from a pattern the matcher cannot evaluate
    ranges = {value: (lo, hi) for _, kind, value, lo, hi in rows if kind == "cidr"}
    assert ranges["203.0.113.0/24"] == ("4cb007100", "4cb0071ff")
    migrate.downgrade(engine, "0014")
    assert "object_terms" not in inspect(engine).get_table_names()


def _seed_old_hub_0014(engine: Engine) -> None:
    """Write three versions in the schema of revision 0014 (plain SQL, as above)."""
    now = datetime(2026, 1, 1)
    objects = [
        f.indicator(value="198.51.100.1"),
        f.indicator(value="203.0.113.0/24", name="Range"),
        {
            **f.indicator(name="Two"),
            "pattern": "[domain-name:value = 'bad.example'] AND [url:value = 'http://x.example/']",
        },
    ]
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO organisations (id, name, name_key, country, kind, created_at) "
                "VALUES (1, 'Fjordnett', 'fjordnett', 'NO', 'company', :t)"
            ),
            {"t": now},
        )
        c.execute(
            text(
                "INSERT INTO communities (id, name, description, visibility, created_at) "
                "VALUES (1, 'Nordic', '', 'unlisted', :t)"
            ),
            {"t": now},
        )
        coll = str(uuid.uuid4())
        c.execute(
            text(
                "INSERT INTO collections (id, title, description, community_id, default_tlp, "
                "read_roles, write_roles, last_added_us, created_at) "
                "VALUES (:i, 'c', '', 1, 'amber', 'analyst', 'analyst', 0, :t)"
            ),
            {"i": coll, "t": now},
        )
        for pk, obj in enumerate(objects, start=1):
            c.execute(
                text(
                    "INSERT INTO stix_objects (id, collection_id, stix_id, type, spec_version, "
                    "version, version_key, date_added_us, is_latest, is_first, tlp, "
                    "producer_org_id, name, revoked, raw) VALUES (:pk, :coll, :sid, "
                    "'indicator', '2.1', :v, :v, :pk, :t, :t, 'amber', 1, 'x', :f, :raw)"
                ),
                {
                    "pk": pk,
                    "coll": coll,
                    "sid": obj["id"],
                    "v": obj["modified"],
                    "t": True,
                    "f": False,
                    "raw": json.dumps(obj),
                },
            )
