"""The whole ``varsel`` command line: the commands of ``main.py`` and every domain's sub-app.

The wiring lives here, not in the package's ``__init__``: a domain's CLI module imports
``varsel.cli.main`` for the shared options, and a package ``__init__`` that imported the domain
CLIs back would make importing any of them on its own a circular import.
"""

from __future__ import annotations

from varsel.alerts import cli as alerts_cli
from varsel.clearances import cli as clearance_cli
from varsel.cli import backup, peer, transfer
from varsel.cli.main import app
from varsel.cli.main import main as _run
from varsel.incidents import cli as incident_cli
from varsel.matching import cli as matching_cli
from varsel.misp import cli as misp_cli

__all__ = ["app", "main"]

transfer.register(app)
matching_cli.register(app)
clearance_cli.register(app)
incident_cli.register(app)
backup.register(app)
peer.register(app)
alerts_cli.register(app)
misp_cli.register(app)


def main() -> None:
    """Run the command line (the ``varsel`` console script and ``python -m varsel``)."""
    _run()
