"""Errors of the seals capability: malformed containers, XML, ASN.1 and refused signing requests."""

from __future__ import annotations

from zhengwu.kernel.errors import DomainError


class SealError(DomainError):
    """Base of every error raised on purpose by zhengwu.seals."""

    status_code = 400
    code = "seals.error"
    default_detail = "电子印章或签章处理失败"


class OFDFormatError(SealError):
    """The OFD container or one of its XML parts is malformed."""

    status_code = 422
    code = "seals.ofd_format"
    default_detail = "OFD 文件格式错误"


class OFDLimitError(OFDFormatError):
    """The OFD container exceeds a safety limit (entries, size, compression ratio, XML depth)."""

    code = "seals.ofd_limit"
    default_detail = "OFD 文件超出安全限制"


class SESFormatError(SealError):
    """An SES_Seal / SES_Signature / CMS structure is malformed, oversized or of an unknown version."""

    status_code = 422
    code = "seals.ses_format"
    default_detail = "电子印章数据格式错误"


class SigningError(SealError):
    """A signing request cannot be carried out (wrong certificate, seal, position or document state)."""

    code = "seals.signing"
    default_detail = "无法完成签章"
