"""Create or upgrade a hub's schema with Alembic, from code (``varsel init`` calls this)."""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine


def alembic_config(engine: Engine) -> Config:
    """Return an Alembic config whose scripts are the package's migrations."""
    config = Config()
    config.set_main_option("script_location", str(resources.files("varsel") / "migrations"))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return config


def upgrade(engine: Engine, revision: str = "heads") -> None:
    """Bring the database behind ``engine`` to ``revision`` (every branch head by default).

    Each domain adds its tables in its own branch off the initial schema, so independent
    domains never have to agree on one linear order of revisions.
    """
    _run(engine, lambda config: command.upgrade(config, revision))


def downgrade(engine: Engine, revision: str) -> None:
    """Take the database behind ``engine`` back to ``revision``."""
    _run(engine, lambda config: command.downgrade(config, revision))


def _run(engine: Engine, step: Callable[[Config], None]) -> None:
    config = alembic_config(engine)
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        if sqlite:
            # SQLite changes a table by copying it and dropping the old one; with foreign
            # keys on, the drop deletes every row that points at it through ON DELETE
            # CASCADE (the recipients of TLP:RED objects, among others). The pragma only
            # takes effect outside a transaction, so it is set before the migration starts,
            # on the driver's connection: through SQLAlchemy it would autobegin (varsel.db).
            _pragma(connection, "PRAGMA foreign_keys=OFF")
        try:
            with connection.begin():
                config.attributes["connection"] = connection
                step(config)
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(f"the migration broke foreign keys: {broken[:5]}")
        finally:
            if sqlite:
                _pragma(connection, "PRAGMA foreign_keys=ON")


def _pragma(connection: Connection, statement: str) -> None:
    """Run ``statement`` outside any transaction (the driver is in autocommit mode)."""
    driver = connection.connection.driver_connection
    assert driver is not None
    driver.execute(statement)
