"""CLI sub-command groups (typer apps) mounted by ``zhengwu.cli``."""
