"""Errors of the node PKI: no CA yet, unknown certificates, refused revocations, CSRs, trust anchors, keys."""

from __future__ import annotations

from zhengwu.kernel.errors import DomainError


class PkiServiceError(DomainError):
    """Base of every error raised on purpose by zhengwu.pki (``kernel.pki.PkiError`` is the library's)."""

    status_code = 400
    code = "pki.error"
    default_detail = "证书服务处理失败"


class PkiNotInitialized(PkiServiceError):
    """The node has no CA yet (`zhengwu pki init` has not run)."""

    status_code = 503
    code = "pki.not_initialized"
    default_detail = "本节点尚未初始化证书体系，请先运行 zhengwu pki init"


class PkiAlreadyInitialized(PkiServiceError):
    """`pki init` refuses to replace an existing CA."""

    status_code = 409
    code = "pki.exists"
    default_detail = "本节点已初始化证书体系，不能覆盖"


class CertificateNotFound(PkiServiceError):
    """No certificate of this node with that serial number or fingerprint."""

    status_code = 404
    code = "pki.certificate_not_found"
    default_detail = "证书不存在"


class RevocationRefused(PkiServiceError):
    """A certificate that cannot be revoked this way (a root CA is not listed on its own CRL)."""

    status_code = 409
    code = "pki.revocation_refused"
    default_detail = "该证书不能撤销"


class CertificateRequestInvalid(PkiServiceError):
    """A CSR does not parse, is not SM2 or its self-signature does not verify."""

    status_code = 422
    code = "pki.csr_invalid"
    default_detail = "证书申请无效"


class TrustAnchorInvalid(PkiServiceError):
    """A certificate offered as a trust anchor (or its CRL) is unusable."""

    status_code = 422
    code = "pki.trust_anchor_invalid"
    default_detail = "根证书无效"


class TrustAnchorNotFound(PkiServiceError):
    """No trust anchor with that fingerprint."""

    status_code = 404
    code = "pki.trust_anchor_not_found"
    default_detail = "信任的根证书不存在"


class KeyUnavailable(PkiServiceError):
    """A key cannot be used: unknown backend, wrong node secret or corrupt wrapped material."""

    status_code = 503
    code = "pki.key_unavailable"
    default_detail = "签名密钥不可用"


class TimestampQueryRejected(PkiServiceError):
    """A time-stamp query that is not an ``application/timestamp-query`` body."""

    status_code = 400
    code = "pki.timestamp_query_rejected"
    default_detail = "时间戳请求无法处理"


class TimestampQueryTooLarge(TimestampQueryRejected):
    """A time-stamp query over the size cap."""

    status_code = 413
    code = "pki.timestamp_query_too_large"
    default_detail = "时间戳请求过大"
