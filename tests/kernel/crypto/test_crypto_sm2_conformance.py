"""The three Z conventions on real certificates from other implementations (conformance/sm2-pki)."""

from __future__ import annotations

from pathlib import Path

import pytest
from asn1crypto import pem, x509

from zhengwu.kernel.crypto import DEFAULT_SM2_UID, SM2PublicKey

CASES = [
    ("openhitls-crl/sm2_with_userid/crl_verify/certs/root.crt", "default"),
    ("openhitls-crl/sm2_with_userid/extension_crl/root.crt", "default"),
    ("openhitls-crl/sm2_without_userid/crl_verify/certs/root.crt", "empty"),
    ("openhitls-crl/sm2_without_userid/extension_crl/root.crt", "empty"),
    ("tongsuo/sm2-noza-root-cert.pem", "noZ"),
    ("tongsuo/sm2-root-cert.pem", "default"),
]
UID = {"default": DEFAULT_SM2_UID, "empty": b"", "noZ": None}


def _load(path: Path) -> x509.Certificate:
    data = path.read_bytes()
    if pem.detect(data):
        _, _, data = pem.unarmor(data)
    return x509.Certificate.load(data)


@pytest.mark.parametrize(("rel", "convention"), CASES)
def test_self_signed_root_verifies_only_under_its_convention(
    sm2_pki_dir: Path, backend: str, rel: str, convention: str
) -> None:
    cert = _load(sm2_pki_dir / rel)
    tbs = cert["tbs_certificate"]
    assert tbs["issuer"] == tbs["subject"]  # self-signed: the key in the cert verifies it
    key = SM2PublicKey.from_der(tbs["subject_public_key_info"].dump(), backend=backend)
    signature = bytes(cert["signature_value"].native)
    verdicts = {name: key.verify(signature, tbs.dump(), uid=uid) for name, uid in UID.items()}
    assert verdicts == {name: name == convention for name in UID}


def test_noza_leaf_is_signed_by_the_noza_root(sm2_pki_dir: Path) -> None:
    root = _load(sm2_pki_dir / "tongsuo/sm2-noza-root-cert.pem")
    leaf = _load(sm2_pki_dir / "tongsuo/sm2-noza-cert.pem")
    key = SM2PublicKey.from_der(root["tbs_certificate"]["subject_public_key_info"].dump())
    tbs, sig = leaf["tbs_certificate"].dump(), bytes(leaf["signature_value"].native)
    assert key.verify(sig, tbs, uid=None)
    assert not key.verify(sig, tbs)
