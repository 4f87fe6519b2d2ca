"""Revision 0010 (several affected entities) keeps a hub's incidents, facts and submissions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import Engine, inspect

from tests import pg
from varsel import migrate
from varsel.db import make_engine

HEADS_BEFORE_0010 = ("0002", "0005", "0009")


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


def _submission(entity: str | None) -> sa.TextClause:
    columns = (
        "incident_id, country, stage, submitted_at, channel, reference, submitted_by, snapshot"
    )
    values = "1, 'FI', 'early-warning', '2026-03-03 09:00:00', 'form', '', 'lead', '{}'"
    if entity is not None:
        columns, values = f"{columns}, entity", f"{values}, '{entity}'"
    return sa.text(f"INSERT INTO incident_report_submissions ({columns}) VALUES ({values})")


def test_upgrading_to_0010_keeps_incidents_and_records_stages_per_entity(engine: Engine) -> None:
    for head in HEADS_BEFORE_0010:
        migrate.upgrade(engine, head)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO incidents (id, title, summary, status, severity, tlp, notify_emails,"
                " created_by, created_at, updated_at) VALUES (1, 'Grid outage', '', 'open',"
                " 'high', 'amber', '', 'lead', '2026-03-02 08:00:00', '2026-03-02 08:00:00')"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO incident_facts (incident_id, name, value, recorded_at, recorded_by)"
                " VALUES (1, 'aware_at', '\"2026-03-02T10:00:00Z\"', '2026-03-02 10:00:00', 'lead')"
            )
        )
        conn.execute(_submission(None))
    migrate.upgrade(engine)
    with engine.begin() as conn:
        facts = conn.execute(sa.text("SELECT name, entity FROM incident_facts")).all()
        assert [tuple(r) for r in facts] == [("aware_at", "")]
        kept = conn.execute(sa.text("SELECT entity, stage FROM incident_report_submissions")).all()
        assert [tuple(r) for r in kept] == [("", "early-warning")]
        # The same stage of a further entity is its own record.
        conn.execute(_submission("se"))
    assert "incident_entities" in inspect(engine).get_table_names()
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(_submission(""))

    config = migrate.alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0007")
    assert "incident_entities" not in inspect(engine).get_table_names()
    with engine.begin() as conn:
        left = conn.execute(sa.text("SELECT country, stage FROM incident_report_submissions")).all()
        assert [tuple(r) for r in left] == [("FI", "early-warning")]  # the first entity's
    migrate.upgrade(engine)
    assert "incident_entities" in inspect(engine).get_table_names()
