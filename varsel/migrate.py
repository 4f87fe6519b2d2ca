"""Create or upgrade a hub's schema with Alembic, from code (``varsel init`` calls this)."""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine


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
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
