"""Errors of the licenses capability, each with its status, stable code and Chinese message."""

from __future__ import annotations

from zhengwu.kernel.errors import DomainError


class LicenseError(DomainError):
    """Base of every error raised on purpose by zhengwu.licenses."""

    status_code = 400
    code = "licenses.error"
    default_detail = "电子证照处理失败"


class LicenseTypeNotFound(LicenseError):
    """No license type with that code."""

    status_code = 404
    code = "licenses.type_not_found"
    default_detail = "证照类型不存在"


class LicenseTypeInvalid(LicenseError):
    """A license type definition breaks a rule (code, holder types, face schema)."""

    status_code = 422
    code = "licenses.type_invalid"
    default_detail = "证照类型定义无效"


class LicenseNotFound(LicenseError):
    """No license with that id or identifier (or not one the caller may see)."""

    status_code = 404
    code = "licenses.not_found"
    default_detail = "电子证照不存在"


class FaceDataInvalid(LicenseError):
    """The face data (照面) does not match the type's schema; ``extra.fields`` names each problem."""

    status_code = 422
    code = "licenses.face_invalid"
    default_detail = "照面信息不符合证照类型的要求"


class HolderInvalid(LicenseError):
    """The holder's code has a bad check digit or is of a type the license type does not accept."""

    status_code = 422
    code = "licenses.holder_invalid"
    default_detail = "持证主体代码无效"


class SealUnavailable(LicenseError):
    """The issuing department has no active seal (none made, or suspended or revoked)."""

    status_code = 409
    code = "licenses.seal_unavailable"
    default_detail = "颁发部门没有可用的电子印章，不能签发证照"


class LicenseStateConflict(LicenseError):
    """The requested status change is not allowed from the license's current status."""

    status_code = 409
    code = "licenses.state"
    default_detail = "证照当前状态不允许此操作"


class LicenseForbidden(LicenseError):
    """The caller may not issue or manage this department's licenses."""

    status_code = 403
    code = "licenses.forbidden"
    default_detail = "无权签发或管理该部门的电子证照"


class ShareNotFound(LicenseError):
    """No share with that token (or id, for the holder)."""

    status_code = 404
    code = "licenses.share_not_found"
    default_detail = "共享链接无效或不存在"


class ShareGone(LicenseError):
    """The share was revoked, superseded, or has expired: it no longer shows anything (410)."""

    status_code = 410
    code = "licenses.share_gone"
    default_detail = "该共享已失效"


class ShareAudience(LicenseError):
    """The share is for a named verifier and the caller is not that verifier."""

    status_code = 403
    code = "licenses.share_audience"
    default_detail = "该共享仅限指定的核验方使用"


class ServiceDenied(LicenseError):
    """A department system's credentials do not cover this license type or operation."""

    status_code = 403
    code = "licenses.service_denied"
    default_detail = "调用方无权使用该类证照"


class ServiceUnauthenticated(LicenseError):
    """A department system presented no valid client-credentials token."""

    status_code = 401
    code = "licenses.service_unauthenticated"
    default_detail = "请使用客户端凭证访问令牌调用"


class TicketGone(LicenseError):
    """A one-time download address was already used or has expired."""

    status_code = 410
    code = "licenses.ticket_gone"
    default_detail = "下载地址已使用或已过期"
