"""A node for command-line tests: a migrated SQLite file and the ``ZHENGWU_*`` environment pointing at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from dbkit import migrate_fresh
from zhengwu.cli import app
from zhengwu.kernel.db import make_engine
from zhengwu.kernel.session import make_session_factory

runner = CliRunner()


def cli_node(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str | None = None, **env: str
) -> Iterator[sessionmaker[Session]]:
    """Migrate ``url`` (default: ``tmp_path/cli.db``), set the node's environment (``env`` adds or
    overrides), yield sessions."""
    url = url or f"sqlite:///{(tmp_path / 'cli.db').as_posix()}"
    migrate_fresh(url)
    settings = {
        "ZHENGWU_DATA_DIR": str(tmp_path),
        "ZHENGWU_DATABASE_URL": url,
        "ZHENGWU_LOG_LEVEL": "WARNING",
        # Operator session secrets of privileged commands stay in the test's folder, never in $HOME.
        "ZHENGWU_OPERATOR_SESSION_DIR": str(tmp_path / "operator-sessions"),
    }
    for key, value in {**settings, **env}.items():
        monkeypatch.setenv(key, value)
    engine = make_engine(url)
    yield make_session_factory(engine)
    engine.dispose()


def invoke(*args: str) -> Any:
    """Run ``zhengwu <args>`` in-process."""
    return runner.invoke(app, list(args))
