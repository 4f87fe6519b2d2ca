"""The ``varsel`` command line: set up, administer, share and fetch.

Exit codes: 0 success; 1 a domain error (unknown name, conflict, refused); 2 usage errors (from
Typer); 3 ``share`` finished but rejected some objects.

The complete application, with every domain's sub-app, is :data:`varsel.cli.commands.app`
(``from varsel.cli import app`` gives it too); the console script runs
:func:`varsel.cli.commands.main`.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    # Lazily, so that importing a domain's CLI module on its own never runs the wiring.
    if name == "app":
        from varsel.cli.commands import app

        return app
    raise AttributeError(f"module 'varsel.cli' has no attribute {name!r}")
