"""Fixtures for the crypto tests: conformance material located in place, backends, openssl."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

from zhengwu.kernel.crypto import available_backends

_HELPER = Path(__file__).resolve().parents[2] / "conformance_path.py"

NATIVE_BACKENDS = [b for b in ("tongsuopy", "gmalglib") if b in available_backends()]
ALL_BACKENDS = [*NATIVE_BACKENDS, "reference"]


def _conformance_dir() -> Path:
    spec = importlib.util.spec_from_file_location("_crypto_conformance_path", _HELPER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result: Path = module.conformance_dir()
    return result


@pytest.fixture(scope="session")
def sm2_pki_dir() -> Path:
    """shared/conformance/sm2-pki (skips, or fails under ZHENGWU_REQUIRE_CONFORMANCE=1, when absent)."""
    return _conformance_dir() / "sm2-pki"


@pytest.fixture(scope="session")
def openssl_bin() -> str:
    """Path of the openssl executable (skips when absent)."""
    path = shutil.which("openssl")
    if path is None:
        pytest.skip("openssl executable not installed")
    return path


@pytest.fixture(params=ALL_BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Each SM2 backend in turn, the pure-Python reference included."""
    name: str = request.param
    return name


@pytest.fixture(params=NATIVE_BACKENDS)
def native_backend(request: pytest.FixtureRequest) -> str:
    """Each installed native SM2 backend in turn."""
    name: str = request.param
    return name
