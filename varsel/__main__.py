"""Allow ``python -m varsel``."""

from varsel.cli import main

main()
