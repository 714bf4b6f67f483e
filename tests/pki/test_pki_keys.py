"""Keys: SM4-wrapped software keys decrypted only to sign, a bounded cache, and pluggable HSM backends."""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Iterator

import pytest

from seals_kit import Node
from zhengwu.kernel.crypto import SM2PrivateKey, SoftwareSigner
from zhengwu.kernel.crypto.signer import DigestSigner
from zhengwu.pki import authority, keys
from zhengwu.pki.keys import (
    GeneratedKey,
    KeyRecord,
    KeyRing,
    KeyUnavailable,
    SoftwareBackend,
    derive_kek,
    register_backend,
    unregister_backend,
)
from zhengwu.seals import service
from zhengwu.seals.ofd.writer import DocumentSpec, Paragraph, write_ofd
from zhengwu.seals.verify import Verdict


def test_kek_derivation_is_deterministic_and_label_separated() -> None:
    assert derive_kek("secret") == derive_kek(b"secret") and len(derive_kek("secret")) == 16
    assert derive_kek("secret") != derive_kek("secret", "other-purpose") != derive_kek("secret2")


def _record(generated: GeneratedKey) -> KeyRecord:
    return KeyRecord(generated.key_ref, generated.public_key.to_der(), generated.wrapped)


def test_software_keys_are_unwrapped_only_to_sign_and_cached_briefly() -> None:
    backend = SoftwareBackend(derive_kek("node secret"), cache_seconds=0.2, max_cached=2)
    generated = backend.generate("test")
    signer = backend.signer(_record(generated))
    assert backend.cached_refs == ()  # creating a signer decrypts nothing
    signature = signer.sign(b"message")
    assert generated.public_key.verify(signature, b"message")
    assert signer.public_key.verify_digest(signer.sign_digest(b"\x01" * 32), b"\x01" * 32)
    assert backend.cached_refs == (generated.key_ref,)
    time.sleep(0.25)
    assert backend.cached_refs == ()  # expired: the plain key is gone until the next signature
    signer.sign(b"again")
    others = [backend.signer(_record(backend.generate(str(i)))) for i in range(3)]
    for other in others:
        other.sign(b"x")
    assert len(backend.cached_refs) == 2  # bounded
    backend.forget()
    assert backend.cached_refs == ()
    text = repr(signer) + repr(backend) + repr(_record(generated))
    assert generated.wrapped is not None and generated.wrapped.hex()[:16] not in text


def test_a_wrong_secret_or_altered_data_cannot_unwrap() -> None:
    generated = SoftwareBackend(derive_kek("node secret")).generate("k")
    stranger = SoftwareBackend(derive_kek("another secret")).signer(_record(generated))
    with pytest.raises(KeyUnavailable):
        stranger.sign(b"x")
    assert generated.wrapped is not None
    tampered = bytearray(generated.wrapped)
    tampered[-1] ^= 1
    record = KeyRecord(generated.key_ref, generated.public_key.to_der(), bytes(tampered))
    with pytest.raises(KeyUnavailable):
        SoftwareBackend(derive_kek("node secret")).signer(record).sign(b"x")
    wrong_pub = KeyRecord(generated.key_ref, SM2PrivateKey.generate().public_key.to_der(), generated.wrapped)
    with pytest.raises(KeyUnavailable):
        SoftwareBackend(derive_kek("node secret")).signer(wrong_pub).sign(b"x")


class FakeHsm:
    """Stands in for an SDF / PKCS#11 device: keys never leave it, the database only keeps references."""

    scheme = "fakehsm"

    def __init__(self) -> None:
        self.keys: dict[str, SoftwareSigner] = {}
        self.counter = itertools.count(1)
        self.signatures = 0

    def generate(self, label: str) -> GeneratedKey:
        ref = f"fakehsm:slot0/{next(self.counter)}"
        self.keys[ref] = SoftwareSigner(SM2PrivateKey.generate(), key_id=label)
        return GeneratedKey(ref, self.keys[ref].public_key, None)

    def signer(self, record: KeyRecord) -> DigestSigner:
        device = self

        class _Signer:
            public_key = device.keys[record.key_ref].public_key

            def sign(
                self, data: bytes, *, uid: bytes | None = b"1234567812345678", raw: bool = False
            ) -> bytes:
                device.signatures += 1
                return device.keys[record.key_ref].sign(data, uid=uid, raw=raw)

            def sign_digest(self, e: bytes, *, raw: bool = False) -> bytes:
                device.signatures += 1
                return device.keys[record.key_ref].sign_digest(e, raw=raw)

        return _Signer()


@pytest.fixture
def hsm() -> Iterator[FakeHsm]:
    device = FakeHsm()
    register_backend(device)
    yield device
    unregister_backend(device.scheme)


def test_key_ring_routes_references_to_backends(hsm: FakeHsm) -> None:
    ring = KeyRing("node secret")
    generated = ring.generate("seal", scheme="fakehsm")
    assert generated.wrapped is None and generated.key_ref.startswith("fakehsm:")
    signer = ring.signer(_record(generated))
    assert generated.public_key.verify(signer.sign(b"doc"), b"doc") and hsm.signatures == 1
    with pytest.raises(KeyUnavailable):
        ring.generate("x", scheme="pkcs11")
    with pytest.raises(KeyUnavailable):
        ring.signer(KeyRecord("pkcs11:token=x;object=y", generated.public_key.to_der()))
    mismatch = KeyRecord(ring.generate("y", scheme="fakehsm").key_ref, generated.public_key.to_der())
    with pytest.raises(KeyUnavailable):
        ring.signer(mismatch)
    with pytest.raises(ValueError):
        register_backend(SoftwareBackend(derive_kek("x")))  # "soft" is reserved


def test_a_seal_whose_key_lives_in_an_hsm_signs_and_verifies(node: Node, hsm: FakeHsm) -> None:
    seal = service.create_seal(
        node.session,
        node.settings,
        department_credit_code=node.credit_code,
        name="河北省市场监督管理局行政审批专用章",
        actor="test",
        key_scheme="fakehsm",
    )
    doc = write_ofd(DocumentSpec(title="决定书", blocks=[Paragraph("准予。")]))
    signed = service.sign_document(
        node.session, node.settings, seal.es_id, doc, placement=service.Placement(page=1), actor="t"
    )
    assert hsm.signatures == 1
    assert service.verify_document(node.session, node.settings, signed).verdict is Verdict.VALID


def test_keys_never_reach_the_logs(node: Node, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret = node.settings.security.secret_key.get_secret_value()
    ring = authority.ring(node.settings)
    generated = ring.software.generate("probe")
    plain = keys.unwrap_key(derive_kek(secret), generated.wrapped or b"", key_ref=generated.key_ref)
    service.create_seal(
        node.session,
        node.settings,
        department_credit_code=node.credit_code,
        name="河北省市场监督管理局合同专用章",
        actor="test",
    )
    text = caplog.text
    assert "PRIVATE KEY" not in text and secret not in text
    assert plain.to_der().hex()[:24] not in text and "wrapped" not in text
