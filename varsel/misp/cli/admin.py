"""``varsel misp set-collection`` and the sharing mapping (``sharing-group``, ``distribution``)."""

# Commands: no ``from __future__ import annotations`` (see varsel.console).

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``varsel misp``."""
