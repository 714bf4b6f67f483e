"""Fixtures for the seals tests: conformance material located in place, and a throw-away seal PKI."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from seals_kit import Node, SealKit, make_kit
from sqlalchemy.orm import Session

from clockkit import FakeClock
from zhengwu.kernel.config import Settings

_HELPER = Path(__file__).resolve().parent.parent / "conformance_path.py"


def _conformance_dir() -> Path:
    spec = importlib.util.spec_from_file_location("_seals_conformance_path", _HELPER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result: Path = module.conformance_dir()
    return result


@pytest.fixture(scope="session")
def ofd_dir() -> Path:
    """shared/conformance/ofd (skips, or fails under ZHENGWU_REQUIRE_CONFORMANCE=1, when absent)."""
    return _conformance_dir() / "ofd"


@pytest.fixture(scope="session")
def kit() -> SealKit:
    """One seal kit for the session (key generation and certificate issuance are the slow part)."""
    return make_kit()


# --- the node registry (database tests) -----------------------------------------------------------


@pytest.fixture
def node(session: Session, settings: Settings, clock: FakeClock) -> Node:
    """`pki init` done and 河北省市场监督管理局 registered, in the per-test transaction."""
    from zhengwu.orgs import service as orgs
    from zhengwu.orgs.schemas import DepartmentCreate
    from zhengwu.seals import authority
    from zhengwu.seed import government_credit_code

    authority.init_pki(session, settings)
    code = government_credit_code("130000", 777)
    department = orgs.add_department(
        session, DepartmentCreate(credit_code=code, name="河北省市场监督管理局", division_code="130000")
    )
    session.flush()
    return Node(session, settings, department, code)
