"""``varsel misp …``: import MISP events and feeds, and administer the MISP mapping."""

# Commands: no ``from __future__ import annotations`` (see varsel.console).

import typer

from varsel.misp.cli import admin, importing

misp_app = typer.Typer(
    help="MISP interoperability: import events and feeds, map MISP's sharing to the hub's.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add the ``misp`` group to the command line."""
    importing.register(misp_app)
    admin.register(misp_app)
    app.add_typer(misp_app, name="misp")
