"""The ``varsel`` command line: set up, administer, share and fetch.

Exit codes: 0 success; 1 a domain error (unknown name, conflict, refused); 2 usage errors (from
Typer); 3 ``share`` finished but rejected some objects.
"""

from __future__ import annotations

from varsel.cli.main import app, main

__all__ = ["app", "main"]

from varsel.clearances import cli as clearance_cli
from varsel.cli import transfer
from varsel.incidents import cli as incident_cli
from varsel.matching import cli as matching_cli

transfer.register(app)
matching_cli.register(app)
clearance_cli.register(app)
incident_cli.register(app)
