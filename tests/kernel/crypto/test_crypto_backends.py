"""Backend registry and selection; concurrent use of the production backend."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from zhengwu.kernel.crypto import (
    CryptoError,
    SM2PrivateKey,
    available_backends,
    get_backend,
    set_default_backend,
)


@pytest.fixture
def restore_default() -> Iterator[None]:
    """Put the measured default back after a test that changes it."""
    yield
    set_default_backend(None)


def test_registry() -> None:
    names = available_backends()
    assert "reference" in names
    assert get_backend().name in ("tongsuopy", "gmalglib")  # never the reference by default
    assert get_backend("reference").name == "reference"
    with pytest.raises(CryptoError, match="unknown SM2 backend"):
        get_backend("nope")


def test_set_default_backend(restore_default: None, native_backend: str) -> None:
    set_default_backend(native_backend)
    assert SM2PrivateKey.generate().public_key.backend == native_backend
    with pytest.raises(CryptoError):
        set_default_backend("nope")
    assert SM2PrivateKey.generate().public_key.backend == native_backend


def test_concurrent_sign_verify_with_failures_mixed_in(native_backend: str) -> None:
    # Failed verifications leave OpenSSL errors on a per-thread queue; they must not disturb other calls.
    key = SM2PrivateKey.generate(backend=native_backend)

    def work(i: int) -> bool:
        msg = i.to_bytes(4, "big")
        sig = key.sign(msg)
        return key.public_key.verify(sig, msg) and not key.public_key.verify(sig, msg + b"!")

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert all(pool.map(work, range(400)))
