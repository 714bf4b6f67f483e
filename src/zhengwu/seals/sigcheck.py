"""SM2 signature checks under the Z conventions real seal products use."""

from __future__ import annotations

import threading
from collections import OrderedDict
from enum import StrEnum
from functools import lru_cache
from typing import Protocol

from asn1crypto import x509

from zhengwu.kernel.crypto import DEFAULT_SM2_UID, Signer, SM2PublicKey, new_sm3, sm3
from zhengwu.kernel.crypto.hashes import Hasher
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


# ---- hashing the same bytes once ------------------------------------------------------------------
# A node signs and verifies with the same few seals over and over: a seal (its picture, some 10-60 KiB) is
# hashed for the Seal.esl CheckValue and, inside TBS_Sign, for the SM2 message digest. Both are remembered.

_MEMO_ENTRIES = 64
_MEMO_MIN, _MEMO_MAX = 4096, 256 * 1024
_digests: OrderedDict[bytes, bytes] = OrderedDict()
_prefix_states: OrderedDict[tuple[bytes, ...], Hasher] = OrderedDict()
_memo_lock = threading.Lock()


def memo_sm3(content: bytes) -> bytes:
    """SM3 of ``content``, remembered for mid-sized inputs (seals and pictures recur in every document)."""
    if not _MEMO_MIN <= len(content) <= _MEMO_MAX:
        return sm3(content)
    with _memo_lock:
        found = _digests.get(content)
        if found is not None:
            _digests.move_to_end(content)
            return found
    digest = sm3(content)
    with _memo_lock:
        _digests[content] = digest
        if len(_digests) > _MEMO_ENTRIES:
            _digests.popitem(last=False)
    return digest


def tbs_digest(key: SM2PublicKey, head: bytes, rest: bytes, *, seal: bytes | None = None) -> bytes:
    """e = SM3(Z(default ID) ‖ head ‖ rest) with the SM3 state after Z ‖ head remembered (GB/T 32918.2).

    ``seal``: the seal that ``head`` ends with, as a long-lived object; the memo is then keyed on it, whose
    hash Python keeps, instead of hashing tens of kilobytes of ``head`` on every call.
    """
    if seal is not None and len(head) > len(seal) and head.endswith(seal):
        memo_key: tuple[bytes, bytes] | tuple[bytes, bytes, bytes] = (
            key.point, head[: len(head) - len(seal)], seal
        )  # fmt: skip
    else:
        memo_key = (key.point, head)
    with _memo_lock:
        state = _prefix_states.get(memo_key)
    if state is None:
        state = new_sm3(key.z(DEFAULT_SM2_UID) + head)
        if len(head) <= _MEMO_MAX:
            with _memo_lock:
                _prefix_states[memo_key] = state
                if len(_prefix_states) > _MEMO_ENTRIES:
                    _prefix_states.popitem(last=False)
    hasher = state.copy()
    hasher.update(rest)
    return hasher.digest()


class _DigestSigning(Protocol):
    def __call__(self, e: bytes, *, raw: bool = False) -> bytes: ...


def sign_tbs(signer: Signer, head: bytes, rest: bytes, *, seal: bytes | None = None) -> bytes:
    """Sign DER(TBS_Sign) = head ‖ rest (head embeds the seal); uses ``sign_digest`` when the signer has one."""
    sign_digest: _DigestSigning | None = getattr(signer, "sign_digest", None)
    if sign_digest is None:
        return signer.sign(head + rest)
    return sign_digest(tbs_digest(signer.public_key, head, rest, seal=seal))


def split_tbs(tbs_der: bytes, seal_der: bytes) -> tuple[bytes, bytes] | None:
    """(SEQUENCE header ‖ version ‖ eseal, rest) of a v4/v5 TBS_Sign as stored, or None if not laid out so."""
    if len(tbs_der) < 2 or tbs_der[0] != 0x30:
        return None
    header = 2 + (tbs_der[1] & 0x7F if tbs_der[1] & 0x80 else 0)
    if tbs_der[header : header + 2] != b"\x02\x01":
        return None
    end = header + 3 + len(seal_der)
    if tbs_der[header + 3 : end] != seal_der:
        return None
    return tbs_der[:end], tbs_der[end:]
