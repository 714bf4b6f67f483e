"""``python -m zhengwu`` runs the CLI."""

from zhengwu.cli import main

if __name__ == "__main__":
    main()
