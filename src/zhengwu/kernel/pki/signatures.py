"""SM2 signature checks under the three Z conventions found in real X.509 data, with a result cache."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from enum import StrEnum
from typing import Final

from zhengwu.kernel.crypto import DEFAULT_SM2_UID, SM2PublicKey


class ZConvention(StrEnum):
    """How the SM2 message representative e was formed (conformance/sm2-pki/README.md)."""

    DEFAULT_ID = "default-id"  # GM/T 0009: e = SM3(Z(ID="1234567812345678") || M)
    EMPTY_ID = "empty-id"  # OpenSSL 3 default for X.509: e = SM3(Z(ID="", ENTL=0) || M)
    NO_Z = "no-z"  # e = SM3(M), e.g. Tongsuo "noza" certificates

    @property
    def uid(self) -> bytes | None:
        """The user ID handed to the SM2 verifier (None = no Z at all)."""
        if self is ZConvention.DEFAULT_ID:
            return DEFAULT_SM2_UID
        if self is ZConvention.EMPTY_ID:
            return b""
        return None


#: Platform setting: only the GM/T 0009 default ID (what Chinese CAs and seal products use).
STRICT_CONVENTIONS: Final[tuple[ZConvention, ...]] = (ZConvention.DEFAULT_ID,)
#: Tolerant mode for foreign material: default ID first, then empty ID, then no Z.
TOLERANT_CONVENTIONS: Final[tuple[ZConvention, ...]] = (
    ZConvention.DEFAULT_ID,
    ZConvention.EMPTY_ID,
    ZConvention.NO_Z,
)

_CACHE_SIZE: Final = 8192
_cache: OrderedDict[bytes, ZConvention | None] = OrderedDict()
_lock = threading.Lock()


def verify_sm2(
    public_key: SM2PublicKey,
    signature: bytes,
    data: bytes,
    conventions: Sequence[ZConvention] = STRICT_CONVENTIONS,
) -> ZConvention | None:
    """The first convention under which ``signature`` over ``data`` verifies, or None."""
    if not conventions:
        raise ValueError("at least one Z convention is required")
    # Seals verification re-checks the same certificates and CRLs per signature: remember outcomes.
    digest = hashlib.sha256()
    for part in (public_key.point, signature, data, ",".join(conventions).encode()):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    key = digest.digest()
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    matched: ZConvention | None = None
    for convention in conventions:
        if public_key.verify(signature, data, uid=convention.uid):
            matched = ZConvention(convention)
            break
    with _lock:
        _cache[key] = matched
        if len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return matched


#: Per-object memo: (issuer public key point, conventions) → outcome. Certificates and CRLs are cached by
#: content, so this avoids even re-hashing a large CRL on every validation.
SignatureMemo = dict[tuple[bytes, tuple[ZConvention, ...]], ZConvention | None]
_MEMO_LIMIT: Final = 16


def verify_memoized(
    memo: SignatureMemo,
    public_key: SM2PublicKey,
    signature: bytes,
    data: bytes,
    conventions: Sequence[ZConvention],
) -> ZConvention | None:
    """``verify_sm2`` remembered in ``memo`` (the signed object's own memo)."""
    key = (public_key.point, tuple(conventions))
    if key in memo:
        return memo[key]
    result = verify_sm2(public_key, signature, data, conventions)
    if len(memo) >= _MEMO_LIMIT:
        memo.clear()
    memo[key] = result
    return result


def clear_signature_cache() -> None:
    """Forget the global verification cache (per-object memos live and die with the parsed objects)."""
    with _lock:
        _cache.clear()
