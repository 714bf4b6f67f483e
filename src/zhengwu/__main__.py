"""``python -m zhengwu`` runs the CLI."""

from zhengwu.cli import main

main()
