"""A node for command-line tests: a migrated SQLite file and the ``ZHENGWU_*`` environment pointing at it."""

from __future__ import annotations

import os
import subprocess
import traceback
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
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


def environment_of(env: Mapping[str, str]) -> dict[str, str | None]:
    """``env`` (a node's or the demo's process environment) as an overlay on ours: its values, and our
    ``ZHENGWU_*`` settings it does not have unset."""
    return {**{k: None for k in os.environ if k.startswith("ZHENGWU_") and k not in env}, **env}


def invoke_in(env: Mapping[str, str], *args: str, stdin: str | None = None) -> Result:
    """Run ``zhengwu <args>`` in-process as a process started with ``env`` would (a node's command without
    an interpreter start: seconds each; ``python -m zhengwu`` itself has tests of its own)."""
    return runner.invoke(app, list(args), env=environment_of(env), input=stdin)


def run_in(env: Mapping[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """:func:`invoke_in`, answered as ``subprocess.run(..., capture_output=True, text=True)`` would: the
    exit code, stdout and stderr (an uncaught exception's traceback at its end, where the interpreter
    would have printed it)."""
    result = invoke_in(env, *args, stdin=stdin)
    stderr = result.stderr
    if result.exc_info is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(*result.exc_info))
    return subprocess.CompletedProcess(["zhengwu", *args], result.exit_code, result.stdout, stderr)
