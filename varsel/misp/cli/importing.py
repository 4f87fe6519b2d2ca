"""``varsel misp import``: MISP event files, feed directories and archives into a collection."""

# Commands: no ``from __future__ import annotations`` (see varsel.console).

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``varsel misp``."""
