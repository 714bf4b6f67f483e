"""Errors of the cases capability, each with its status, stable code and Chinese message."""

from __future__ import annotations

from zhengwu.kernel.errors import DomainError


class CaseError(DomainError):
    """Base of every error raised on purpose by zhengwu.cases."""

    status_code = 400
    code = "cases.error"
    default_detail = "办件处理失败"


class CaseNotFound(CaseError):
    """No case with that number (or not one the caller may see)."""

    status_code = 404
    code = "cases.not_found"
    default_detail = "办件不存在"


class ItemNotOpen(CaseError):
    """The item is not published (or suspended): nobody can apply for it."""

    status_code = 409
    code = "cases.item_not_open"
    default_detail = "该事项当前不能申办"


class FormInvalid(CaseError):
    """The application breaks the item's rules (required materials, unknown materials, bad references)."""

    status_code = 422
    code = "cases.form_invalid"
    default_detail = "申请材料不符合事项要求"


class ActionNotAllowed(CaseError):
    """The action does not fit the case's current status; ``allowed`` lists what does."""

    status_code = 409
    code = "cases.action_not_allowed"
    default_detail = "办件当前状态不允许该操作"


class StepsChanged(CaseError):
    """An added step was asked for against a process that has changed since (a second click)."""

    status_code = 409
    code = "cases.steps_changed"
    default_detail = "这个办件的办理环节刚刚已有变化，请查看最新的办理过程后再增加。"


class CaseForbidden(CaseError):
    """A staff member without the right over the case's department."""

    status_code = 403
    code = "cases.forbidden"
    default_detail = "无权办理该部门的办件"


class LookupRefused(CaseError):
    """Case number and query password do not match (the same answer for both mistakes)."""

    status_code = 404
    code = "cases.lookup_refused"
    default_detail = "办件编号或查询密码不正确"


class EvaluationRefused(CaseError):
    """An evaluation that is not the applicant's, not after conclusion, or a second one."""

    status_code = 409
    code = "cases.evaluation_refused"
    default_detail = "当前不能评价该办件"


class CaseInvalid(CaseError):
    """A staff action or an evaluation whose body breaks a rule (missing opinion, unknown kind …)."""

    status_code = 422
    code = "cases.invalid"
    default_detail = "办件操作内容无效"


class MaterialRejected(CaseError):
    """An uploaded material of a type not accepted, not what it claims to be, or refused by the scanner."""

    status_code = 422
    code = "cases.material_rejected"
    default_detail = "上传的材料不符合要求"


class MaterialTypeUnsupported(MaterialRejected):
    """A media type the case materials do not accept."""

    status_code = 415
    code = "cases.material_type"
    default_detail = "材料只接受 PDF、OFD、JPEG、PNG 文件"


class NotAuthorizedAgent(CaseForbidden):
    """The person holds no authorisation in force for the enterprise they apply for."""

    code = "cases.not_authorized_agent"
    default_detail = "您没有该企业的有效经办授权，不能以该企业名义申请"


class ApplicantKindRefused(FormInvalid):
    """The item serves only persons, or only enterprises, and the applicant is the other kind."""

    code = "cases.applicant_kind"


class ScannerUnavailable(CaseError):
    """The virus scanner could not be asked (down, hung, or it answered with an error): a file is never
    taken unscanned unless the operator chose so (``ZHENGWU_CASES__SCAN_FAIL_OPEN``)."""

    status_code = 503
    code = "cases.scanner_unavailable"
    default_detail = "文件安全检查服务暂时不可用，请稍后再上传"
