"""SM2 signature checks under the Z conventions real seal products use."""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache

from asn1crypto import x509

from zhengwu.kernel.crypto import DEFAULT_SM2_UID, SM2PublicKey
from zhengwu.seals.errors import SESFormatError


class Convention(StrEnum):
    """How the SM2 message representative e was formed."""

    DEFAULT_ID = "default-id"  # GM/T 0009: e = SM3(Z(ID="1234567812345678") || M)
    EMPTY_ID = "empty-id"  # OpenSSL 3 default: ID empty (ENTL = 0)
    NO_Z = "no-z"  # e = SM3(M)
    E_IS_DIGEST = "e-is-digest"  # iOFD: e = the given 32-byte digest (dataHash) itself


_UIDS: tuple[tuple[Convention, bytes | None], ...] = (
    (Convention.DEFAULT_ID, DEFAULT_SM2_UID),
    (Convention.EMPTY_ID, b""),
    (Convention.NO_Z, None),
)


@lru_cache(maxsize=1024)
def public_key_of(cert_der: bytes) -> SM2PublicKey:
    """The SM2 public key of a DER certificate (cached: seals repeat the same certificates)."""
    try:
        cert = x509.Certificate.load(cert_der, strict=True)
        spki = cert["tbs_certificate"]["subject_public_key_info"]
        return SM2PublicKey.from_der(bytes(spki.dump()))
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise SESFormatError(
            "证书或其公钥无法解析", detail_en=f"certificate or its key unreadable: {exc}"
        ) from exc


def verify_sm2_any(
    cert_der: bytes, signature: bytes, data: bytes, *, digest: bytes | None = None
) -> Convention | None:
    """First convention under which `signature` (DER or raw r‖s) over `data` verifies, else None.

    `digest` enables the iOFD convention (e = digest), only tried after the standard ones failed.
    """
    try:
        key = public_key_of(cert_der)
    except SESFormatError:
        return None
    for convention, uid in _UIDS:
        if key.verify(signature, data, uid=uid):
            return convention
    if digest is not None and len(digest) == 32 and key.verify_digest(signature, digest):
        return Convention.E_IS_DIGEST
    return None
