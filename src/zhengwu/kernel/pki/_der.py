"""Input handling shared by every parser: size caps, PEM/DER detection, asn1crypto error mapping."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

from asn1crypto import pem

from zhengwu.kernel.pki.errors import PkiError

KIB: Final = 1024
MIB: Final = 1024 * KIB
#: Per-object caps: a real certificate is a few KiB, a large CA's CRL a few MiB.
MAX_CERTIFICATE_BYTES: Final = 1 * MIB
MAX_CRL_BYTES: Final = 10 * MIB
MAX_CSR_BYTES: Final = 1 * MIB
MAX_TOKEN_BYTES: Final = 1 * MIB
#: A PEM bundle of several certificates (a CA bundle) may be larger than one certificate.
MAX_BUNDLE_BYTES: Final = 16 * MIB

T = TypeVar("T")

# asn1crypto parses lazily and reports malformed input with these built-in exceptions.
_PARSE_ERRORS: Final = (ValueError, TypeError, KeyError, IndexError, OverflowError, AttributeError)


@contextmanager
def parsing(what: str, what_zh: str) -> Iterator[None]:
    """Turn any asn1crypto parsing failure inside the block into a PkiError naming the object."""
    try:
        yield
    except PkiError:
        raise
    except _PARSE_ERRORS as exc:
        raise PkiError(f"malformed {what}: {exc}", f"{what_zh}格式错误：{exc}") from exc
    except RecursionError as exc:
        raise PkiError(f"malformed {what}: nesting too deep", f"{what_zh}格式错误：嵌套过深") from exc


def as_bytes(data: object, what: str, what_zh: str) -> bytes:
    """Accept bytes-like input only."""
    if isinstance(data, bytes):
        return data
    if isinstance(data, bytearray | memoryview):
        return bytes(data)
    raise PkiError(f"{what} must be bytes, not {type(data).__name__}", f"{what_zh}必须是字节串")


def der_blocks(
    data: object,
    *,
    pem_types: frozenset[str],
    what: str,
    what_zh: str,
    limit: int,
    total_limit: int | None = None,
) -> list[bytes]:
    """The DER objects in ``data``: each PEM block of an accepted type, or the whole input if it is DER."""
    raw = as_bytes(data, what, what_zh)
    # PEM is ~4/3 of the DER plus armour; allow for it before decoding anything.
    cap = total_limit if total_limit is not None else limit * 4 // 3 + 4 * KIB
    if len(raw) > cap:
        raise PkiError(
            f"{what} input too large ({len(raw)} bytes, limit {cap})",
            f"{what_zh}数据过大（{len(raw)} 字节，上限 {cap}）",
        )
    if not raw:
        raise PkiError(f"empty {what}", f"{what_zh}为空")
    # Every object handled here is a DER SEQUENCE (0x30); only otherwise look for PEM armour, which may
    # follow a text dump (e.g. `openssl x509 -text` output before the block).
    if raw[0] != 0x30 and pem.detect(raw):
        blocks: list[bytes] = []
        with parsing(f"{what} PEM", f"{what_zh} PEM"):
            for block_type, _headers, der in pem.unarmor(raw, multiple=True):
                if block_type in pem_types:
                    blocks.append(bytes(der))
        if not blocks:
            raise PkiError(f"no {what} found in PEM input", f"PEM 数据中没有{what_zh}")
    else:
        blocks = [raw]
    for der in blocks:
        if len(der) > limit:
            raise PkiError(
                f"{what} too large ({len(der)} bytes, limit {limit})",
                f"{what_zh}过大（{len(der)} 字节，上限 {limit}）",
            )
    return blocks


def single_der(data: object, *, pem_types: frozenset[str], what: str, what_zh: str, limit: int) -> bytes:
    """Exactly one DER object from PEM or DER input."""
    blocks = der_blocks(data, pem_types=pem_types, what=what, what_zh=what_zh, limit=limit)
    if len(blocks) != 1:
        raise PkiError(
            f"expected one {what}, found {len(blocks)}", f"应只有一个{what_zh}，实际 {len(blocks)} 个"
        )
    return blocks[0]


def load_strict(loader: Callable[..., Any], der: bytes, what: str, what_zh: str) -> Any:
    """Parse DER with asn1crypto, refusing trailing data."""
    with parsing(what, what_zh):
        return loader(der, strict=True)


def aware(value: datetime, name: str) -> datetime:
    """Require a timezone-aware datetime (all PKI times are instants) and normalise it to UTC."""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise PkiError(f"{name} must be timezone-aware", f"{name} 必须带时区")
    return value.astimezone(UTC)


def as_datetime(value: object, what: str) -> datetime:
    """A parsed ASN.1 time as an aware UTC datetime."""
    if not isinstance(value, datetime):
        # asn1crypto returns extended_datetime for year 0, which no real certificate uses.
        raise PkiError(f"unsupported {what} value", f"不支持的时间值：{what}")
    return aware(value, what)


def pem_armor(block_type: str, der: bytes) -> bytes:
    """PEM-encode DER bytes."""
    return bytes(pem.armor(block_type, der))
