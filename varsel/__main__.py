"""Allow ``python -m varsel``."""

from varsel.cli.commands import main

main()
