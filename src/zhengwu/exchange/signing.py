"""Signed exchange documents: canonical JSON → SM3 digest → SM2 signature, with the signer's certificate.

Envelope (protocol ``zhengwu-exchange/1``)::

    {"protocol": "zhengwu-exchange/1",
     "document": {...},
     "signature": {"algorithm": "SM2-with-SM3", "digest": "<sm3 hex of canonical document>",
                   "value": "<base64 DER SM2 signature over the 32 digest bytes, default user id>",
                   "certificate": "<base64 DER>", "chain": ["<base64 DER>", ...]}}

The SM2 signature covers the SM3 digest of the canonical document (GB/T 32918: e = SM3(Z ‖ digest)), so
a large batch is hashed once on each side. The receiver recomputes the canonical form of the document it
parsed, so whitespace or key order on the wire never matters, while any change of content does. Unknown
envelope members are ignored.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from zhengwu.exchange.canonical import b64decode, b64encode, canonical_bytes
from zhengwu.exchange.credentials import PURPOSE, NodeCredential
from zhengwu.exchange.errors import CertificateRejected, MalformedEnvelope, SignatureInvalid, UnknownSender
from zhengwu.kernel.crypto import sm3
from zhengwu.kernel.pki import (
    Certificate,
    PkiError,
    RevocationMode,
    TrustStore,
    ValidationResult,
    ValidationStatus,
    load_certificate,
)

PROTOCOL: Final = "zhengwu-exchange/1"
ALGORITHM: Final = "SM2-with-SM3"
MAX_CHAIN: Final = 4


def seal(document: Mapping[str, Any], credential: NodeCredential) -> dict[str, Any]:
    """Sign ``document`` with ``credential`` and wrap it in an envelope."""
    data = canonical_bytes(document)
    digest = sm3(data)
    signature = credential.key.sign(digest)
    return {
        "protocol": PROTOCOL,
        "document": document,
        "signature": {
            "algorithm": ALGORITHM,
            "digest": digest.hex(),
            "value": b64encode(signature),
            "certificate": b64encode(credential.certificate.der),
            "chain": [b64encode(c.der) for c in credential.chain],
        },
    }


def seal_bytes(document: Mapping[str, Any], credential: NodeCredential) -> tuple[bytes, str]:
    """Like :func:`seal`, serialised: the canonical document bytes are reused in the body."""
    data = canonical_bytes(document)
    raw = sm3(data)
    digest = raw.hex()
    signature = {
        "algorithm": ALGORITHM,
        "digest": digest,
        "value": b64encode(credential.key.sign(raw)),
        "certificate": b64encode(credential.certificate.der),
        "chain": [b64encode(c.der) for c in credential.chain],
    }
    head = json.dumps({"protocol": PROTOCOL}, separators=(",", ":")).encode()[:-1]
    body = (
        head
        + b',"document":'
        + data
        + b',"signature":'
        + json.dumps(signature, separators=(",", ":")).encode()
        + b"}"
    )
    return body, digest


@dataclass(frozen=True, slots=True)
class Opened:
    """A parsed (not yet trusted) envelope."""

    document: dict[str, Any]
    digest: str
    data: bytes
    signature: bytes
    certificate: Certificate
    chain: tuple[Certificate, ...]


def open_envelope(envelope: Any) -> Opened:
    """Parse an envelope; MalformedEnvelope when anything is missing or unreadable."""
    if not isinstance(envelope, Mapping):
        raise MalformedEnvelope("交换报文必须是 JSON 对象", detail_en="envelope must be a JSON object")
    protocol = envelope.get("protocol")
    if not isinstance(protocol, str) or protocol.split("/", 1)[0] != PROTOCOL.split("/", 1)[0]:
        raise MalformedEnvelope("不支持的交换协议", detail_en="unsupported protocol")
    document = envelope.get("document")
    sig = envelope.get("signature")
    if not isinstance(document, dict) or not isinstance(sig, Mapping):
        raise MalformedEnvelope("交换报文缺少 document 或 signature", detail_en="document/signature missing")
    if sig.get("algorithm") != ALGORITHM:
        raise MalformedEnvelope("不支持的签名算法", detail_en="unsupported signature algorithm")
    chain_raw = sig.get("chain", [])
    if not isinstance(chain_raw, list) or len(chain_raw) > MAX_CHAIN:
        raise MalformedEnvelope("证书链格式错误", detail_en="bad certificate chain")
    try:
        value = b64decode(str(sig.get("value", "")))
        certificate = load_certificate(b64decode(str(sig.get("certificate", ""))))
        chain = tuple(load_certificate(b64decode(str(c))) for c in chain_raw)
        data = canonical_bytes(document)
    except (ValueError, PkiError, TypeError) as exc:
        raise MalformedEnvelope(
            "签名或证书无法解析", detail_en=f"unreadable signature or certificate: {exc}"
        ) from exc
    return Opened(document, str(sig.get("digest", "")), data, value, certificate, chain)


def check_signature(opened: Opened) -> None:
    """The declared digest matches the canonical document and the SM2 signature verifies."""
    digest = sm3(opened.data)
    if digest.hex() != opened.digest:
        raise SignatureInvalid(
            "报文摘要与内容不符（内容被改动）", detail_en="SM3 digest does not match the document"
        )
    if not opened.certificate.is_sm2 or not opened.certificate.public_key.verify(opened.signature, digest):
        raise SignatureInvalid("SM2 签名验证失败", detail_en="SM2 signature does not verify")


_UNKNOWN = frozenset({ValidationStatus.UNTRUSTED_ROOT, ValidationStatus.ISSUER_NOT_FOUND})


def check_certificate(
    opened: Opened, trust: TrustStore, *, at: datetime, revocation: RevocationMode = "leaf"
) -> ValidationResult:
    """The signer's certificate chains to a CA this node trusts and is valid (and not revoked) at ``at``."""
    result = trust.validate(
        opened.certificate,
        opened.chain,
        purpose=PURPOSE,
        at=at,
        check_revocation=revocation,
        key_usage=["digital_signature"],
    )
    if result.ok:
        return result
    if result.status in _UNKNOWN:
        raise UnknownSender(
            "发送方证书不是由本节点信任的交换 CA 签发", detail_en=f"unknown sender: {result.reason}"
        )
    raise CertificateRejected(f"发送方交换证书无效：{result.reason_zh}", detail_en=result.reason)


def verify(envelope: Any, trust: TrustStore, *, at: datetime, revocation: RevocationMode = "leaf") -> Opened:
    """Open an envelope, check the certificate against ``trust`` and the signature; return it."""
    opened = open_envelope(envelope)
    check_certificate(opened, trust, at=at, revocation=revocation)
    check_signature(opened)
    return opened
