"""Fixtures of the staff-rights policy tests: cheap password hashing, the world of departments and people."""

from __future__ import annotations

from pathlib import Path

import pytest
from policy_kit import World, make_world
from sqlalchemy.orm import Session

from zhengwu.kernel.config import IdentitySettings, Settings


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """A province node whose password hashing is cheap (these tests create many staff accounts)."""
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        log_json=True,
        log_level="DEBUG",
        identity=IdentitySettings(argon2_memory_kib=8 * 1024, argon2_time_cost=1),
    )


@pytest.fixture
def world(app: object, session: Session) -> World:
    """Departments A (with a sub-department), B and the operator's office (the app configured identity)."""
    return make_world(session)
