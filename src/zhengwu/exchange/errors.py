"""Errors of the data exchange (数据共享交换); every one carries a stable code and a Chinese message."""

from __future__ import annotations

from zhengwu.kernel.errors import (
    BadRequest,
    Conflict,
    DomainError,
    Forbidden,
    NotFound,
    TooManyRequests,
    Unauthorized,
    UpstreamUnavailable,
    ValidationFailed,
)


class MalformedEnvelope(ValidationFailed):
    """The signed envelope or the document inside it cannot be read."""

    code = "exchange.malformed"
    default_detail = "交换报文格式错误"


class BatchTooLarge(DomainError):
    """The batch exceeds the receiver's size or row limit."""

    status_code = 413
    code = "exchange.batch_too_large"
    default_detail = "交换批次超过接收方限制"


class SignatureInvalid(Unauthorized):
    """The SM2 signature or the SM3 digest of a document does not verify."""

    code = "exchange.signature_invalid"
    default_detail = "交换报文签名验证失败"


class UnknownSender(Forbidden):
    """The sender is not a node approved by this node, or its certificate is not the one issued."""

    code = "exchange.unknown_sender"
    default_detail = "发送方不是本节点已批准接入的节点"


class CertificateRejected(Forbidden):
    """The sender's exchange certificate is expired, revoked or does not chain to a trusted CA."""

    code = "exchange.certificate_rejected"
    default_detail = "发送方交换证书无效（过期、已撤销或不受信任）"


class Replayed(Conflict):
    """A signed document was seen before, or is outside the freshness window."""

    code = "exchange.replayed"
    default_detail = "重复或过期的交换报文，已拒绝"


class BatchConflict(Conflict):
    """A batch id was reused with different content."""

    code = "exchange.batch_conflict"
    default_detail = "批次号已被使用且内容不同"


class NotJoined(Conflict):
    """This node has no active exchange certificate from its upstream node."""

    code = "exchange.not_joined"
    default_detail = "本节点尚未完成与上级节点的接入（exchange join）"


class NoUpstream(Conflict):
    """The node has no upstream configured (ZHENGWU_UPSTREAM_URL)."""

    code = "exchange.no_upstream"
    default_detail = "未配置上级节点地址（ZHENGWU_UPSTREAM_URL）"


class UpstreamFailed(UpstreamUnavailable):
    """The upstream node did not answer or answered with an error."""

    code = "exchange.upstream_unavailable"


class NodeNotFound(NotFound):
    """No join request or node with that id."""

    code = "exchange.node_not_found"
    default_detail = "未找到该接入节点"


class NodeStateConflict(Conflict):
    """The node is not in a state that allows the requested change."""

    code = "exchange.node_state"
    default_detail = "接入节点当前状态不允许该操作"


class TooManyJoinRequests(TooManyRequests):
    """Too many join requests wait for approval (all of them, or for one node id)."""

    code = "exchange.too_many_join_requests"
    default_detail = "待审批的接入申请过多，请联系上级平台管理员处理后再申请"


class InvalidJoinRequest(BadRequest):
    """The certificate request of a joining node is unusable."""

    code = "exchange.invalid_join_request"
    default_detail = "接入申请无效"


class FeedbackNotFound(NotFound):
    """No abnormal-feedback entry with that id."""

    code = "exchange.feedback_not_found"
    default_detail = "未找到该异常反馈"


class VerificationDenied(Forbidden):
    """The caller is not authorised for the verification service."""

    code = "exchange.verification_forbidden"
    default_detail = "调用方无权使用该核验服务"


class VerificationUnauthenticated(Unauthorized):
    """The caller presented no valid client credentials."""

    code = "exchange.verification_unauthenticated"
    default_detail = "请使用有效的客户端凭证调用核验服务"


class VerificationRateLimited(TooManyRequests):
    """The caller exceeded its verification rate."""

    code = "exchange.verification_rate_limited"
    default_detail = "核验请求过于频繁，请稍后再试"


class InvalidQuery(ValidationFailed):
    """The verification query is malformed (e.g. a code that fails its check digit)."""

    code = "exchange.invalid_query"
    default_detail = "核验请求参数无效"


class ScheduleInvalid(BadRequest):
    """An exchange schedule an operator asked for cannot be kept (mode, interval, window, priority)."""

    code = "exchange.schedule_invalid"
    default_detail = "交换计划无效"
