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


class SealNotFound(SealError):
    """No seal with that esID."""

    status_code = 404
    code = "seals.seal_not_found"
    default_detail = "电子印章不存在"


class SealStateConflict(SealError):
    """The requested status change is not allowed from the seal's current status."""

    status_code = 409
    code = "seals.seal_state"
    default_detail = "印章当前状态不允许此操作"


class SealInvalid(SealError):
    """A seal creation request breaks a rule (name, picture, department, validity)."""

    status_code = 422
    code = "seals.seal_invalid"
    default_detail = "印章信息无效"


class SealForbidden(SealError):
    """The caller may not manage or use this seal."""

    status_code = 403
    code = "seals.forbidden"
    default_detail = "无权管理或使用该印章"


class DocumentRejected(SealError):
    """An uploaded document is empty, too large or of the wrong type."""

    status_code = 400
    code = "seals.document_rejected"
    default_detail = "上传的文件无法处理"


class DocumentTooLarge(DocumentRejected):
    """An uploaded document exceeds the size cap."""

    status_code = 413
    code = "seals.document_too_large"
    default_detail = "上传的文件过大"
