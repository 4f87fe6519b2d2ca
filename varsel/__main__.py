"""Allow ``python -m varsel``."""

from varsel.cli.commands import main

# Guarded: a process started with multiprocessing's "spawn" (the warning-list helper) imports
# this module again as __mp_main__ and must not run the command line a second time.
if __name__ == "__main__":
    main()
