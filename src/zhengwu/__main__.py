"""``python -m zhengwu`` runs the CLI."""

from zhengwu.cli import main

# Guarded: ``serve --workers N`` spawns processes that re-import this module as ``__mp_main__``.
if __name__ == "__main__":
    main()
