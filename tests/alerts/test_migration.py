"""Migration 0015 builds the alert tables the models declare, and comes down and up again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

from tests import pg
from varsel import migrate
from varsel.db import Base, make_engine

ALERT_TABLES = {
    "alert_notifications",
    "alert_preferences",
    "alert_watches",
    "alert_saved_filters",
    "alert_cursors",
}


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        made = make_engine(f"sqlite:///{tmp_path / 'alerts.sqlite3'}")
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


def _alert_differences(engine: Engine) -> list[object]:
    import varsel.models  # noqa: F401 - every table in Base.metadata

    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diffs = compare_metadata(context, Base.metadata)
    return [d for d in diffs if any(t in repr(d) for t in ALERT_TABLES)]


def test_0015_matches_the_models_and_goes_down_and_up(engine: Engine) -> None:
    migrate.upgrade(engine)
    assert ALERT_TABLES <= set(inspect(engine).get_table_names())
    assert _alert_differences(engine) == []
    migrate.downgrade(engine, "0014")
    assert not ALERT_TABLES & set(inspect(engine).get_table_names())
    migrate.upgrade(engine)
    assert ALERT_TABLES <= set(inspect(engine).get_table_names())
