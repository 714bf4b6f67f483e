"""Fixtures for the seals tests: conformance material located in place, and a throw-away seal PKI."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from seals_kit import SealKit, make_kit, node  # noqa: F401 - the node fixture is shared with tests/pki

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
