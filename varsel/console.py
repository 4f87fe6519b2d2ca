"""What every command shares: the two consoles, the database option and the unit of work.

The hub's own commands (:mod:`varsel.cli`) and each domain's CLI module import these from here,
below all of them, so that every command opens, commits and reports errors the same way.

Every CLI module imports SQLAlchemy, the models and the services inside the command that needs
them, never at the top: ``varsel --help`` imports every CLI module, and those imports alone took
a second (``tests/cli/test_startup.py`` keeps it so). For the same reason a module of commands
does without ``from __future__ import annotations``: Typer reads every command's signature on
every run, and string annotations would be compiled anew each time (a tenth of the start-up);
the few names imported only for type checking are quoted instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from varsel.errors import VarselError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from varsel.config import Settings
    from varsel.policy.principal import Principal

out = Console()
err = Console(stderr=True)
DatabaseOpt = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="VARSEL_DATABASE_URL",
        help="SQLAlchemy URL of the hub's database (default: SQLite under ./data).",
    ),
]


def settings_for(database_url: str | None) -> Settings:
    """Return the environment's settings with the CLI's database URL applied, and make them the
    process's (``config.current()``); a value that cannot be used ends the command in one line.
    """
    from varsel import config
    from varsel.config import ConfigError, Settings

    try:
        settings = Settings().with_(database_url=database_url)
    except ConfigError as exc:
        refuse(exc)
    config.use(settings)
    return settings


def refuse(problem: Exception) -> NoReturn:
    """End the command with one line saying what is wrong with the hub's configuration."""
    # soft_wrap: the line stays one line however narrow the terminal.
    err.print(f"[red]error:[/] {escape(str(problem))}", soft_wrap=True)
    raise typer.Exit(1)


def local_operator() -> Principal:
    """Return the local operator's principal (:func:`varsel.policy.principal.local_operator`).

    Imported on use: the policy package brings SQLAlchemy, which ``--help`` must not load.
    """
    from varsel.policy import principal

    return principal.local_operator()


@contextmanager
def unit_of_work(database_url: str | None) -> Iterator[Session]:
    """Yield a session for one command; commit on success, print domain errors and exit 1."""
    from sqlalchemy import inspect

    from varsel.db import make_engine, make_sessionmaker

    settings = settings_for(database_url)
    engine = make_engine(settings.database_url)
    if not inspect(engine).has_table("organisations"):
        err.print("[red]error:[/] the database has no hub yet; run [bold]varsel init[/] first")
        raise typer.Exit(1)
    session = make_sessionmaker(engine)()
    try:
        yield session
        session.commit()
    except VarselError as exc:
        session.rollback()
        err.print(f"[red]error:[/] {exc.message}")
        raise typer.Exit(1) from None
    finally:
        session.close()
        engine.dispose()
