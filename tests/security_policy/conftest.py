"""Fixtures of the staff-rights policy tests: the world of departments and people, a movable clock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from policy_kit import FakeClock, World, make_world
from sqlalchemy.orm import Session

from zhengwu.kernel.clock import set_clock
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


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    """The kernel clock, frozen and moved by the test."""
    fake = FakeClock()
    set_clock(fake)
    try:
        yield fake
    finally:
        set_clock(None)
