"""Migration 0018 builds the MISP mapping's tables the models declare, and comes down and up."""

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

MISP_TABLES = {
    "misp_org_collections",
    "misp_sharing_groups",
    "misp_sharing_group_orgs",
    "misp_distribution_ceilings",
}


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        made = make_engine(f"sqlite:///{tmp_path / 'misp.sqlite3'}")
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


def _differences(engine: Engine) -> list[object]:
    import varsel.models  # noqa: F401 - every table in Base.metadata

    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diffs = compare_metadata(context, Base.metadata)
    return [d for d in diffs if any(t in repr(d) for t in MISP_TABLES)]


def test_0018_matches_the_models_and_goes_down_and_up(engine: Engine) -> None:
    migrate.upgrade(engine)
    assert MISP_TABLES <= set(inspect(engine).get_table_names())
    assert _differences(engine) == []
    migrate.downgrade(engine, "0017")
    assert not MISP_TABLES & set(inspect(engine).get_table_names())
    migrate.upgrade(engine)
    assert MISP_TABLES <= set(inspect(engine).get_table_names())
