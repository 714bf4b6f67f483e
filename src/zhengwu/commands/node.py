"""The node of a CLI command: the same one the server builds (settings, database, bus, every capability's
services, bridges and subscribers), so that a command has the effects of the same action over HTTP — a
seal suspended here publishes ``SealStatusChanged`` to the same subscribers (ADR 0012)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from sqlalchemy.orm import Session

from zhengwu.kernel.config import Settings
from zhengwu.kernel.node import Node

_err = Console(stderr=True)


def load_settings() -> Settings:
    """The node settings from the environment, or exit 2 with the reason."""
    try:
        return Settings()
    except ValueError as exc:
        _err.print(f"[red]配置错误 / configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc


def open_node(settings: Settings) -> Node:
    """Build and install the node (close it, or use it in a ``with`` block, to release the database)."""
    from zhengwu.main import build_node, install

    return install(build_node(settings))


@contextmanager
def node_unit(settings: Settings) -> Iterator[tuple[Node, Session]]:
    """The node and one unit of work on its database; the node is closed afterwards."""
    with open_node(settings) as node, node.unit() as session:
        yield node, session
