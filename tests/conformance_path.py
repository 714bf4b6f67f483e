"""Locate the shared conformance material (read in place, never copied into the repository)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_REPO = Path(__file__).resolve().parent.parent


def conformance_dir() -> Path:
    """Return the conformance folder, or skip (fail when ZHENGWU_REQUIRE_CONFORMANCE=1) if it is absent."""
    configured = os.environ.get("ZHENGWU_CONFORMANCE_DIR")
    path = Path(configured) if configured else _REPO.parent / "shared" / "conformance"
    if path.is_dir():
        return path
    message = f"conformance material not found at {path} (set ZHENGWU_CONFORMANCE_DIR)"
    if os.environ.get("ZHENGWU_REQUIRE_CONFORMANCE") == "1":
        pytest.fail(message)
    pytest.skip(message)


def national_ddl_dir() -> Path:
    """Return the national 前置库 DDL folder (``../shared/national-ddl``), or skip (fail when
    ZHENGWU_REQUIRE_CONFORMANCE=1) if it is absent."""
    configured = os.environ.get("ZHENGWU_NATIONAL_DDL_DIR")
    path = Path(configured) if configured else _REPO.parent / "shared" / "national-ddl"
    if path.is_dir():
        return path
    message = f"national DDL not found at {path} (set ZHENGWU_NATIONAL_DDL_DIR)"
    if os.environ.get("ZHENGWU_REQUIRE_CONFORMANCE") == "1":
        pytest.fail(message)
    pytest.skip(message)
