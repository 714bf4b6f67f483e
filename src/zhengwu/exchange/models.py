"""Tables of the data exchange: credentials, joined nodes, inbox, aggregates, feedback, log, registries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.db import Base, IdMixin, PortableJSON, UTCDateTime

BigId = BigInteger().with_variant(Integer(), "sqlite")


class ExchangeCredential(IdMixin, Base):
    """交换凭证 — the certificate this node's upstream issued it (``uplink``) with the upstream CA it trusts.

    ``ca`` and ``downlink`` rows are from before the node PKI held the exchange CA; the exchange adopts
    them into it on first use and reads them no more."""

    __tablename__ = "exchange_credential"
    __table_args__ = (Index("ix_exchange_credential_purpose_status", "purpose", "status"),)

    purpose: Mapped[str] = mapped_column(String(16))  # uplink (ca | downlink: before the node PKI held them)
    status: Mapped[str] = mapped_column(String(16))  # pending | active | retired
    # The key in the node's key ring (zhengwu.pki); rows made before it hold a PKCS#8 PEM encrypted with a
    # key derived from the node secret instead.
    key_id: Mapped[str | None] = mapped_column(ForeignKey("pki_key.id"))
    key_pem: Mapped[str | None] = mapped_column(Text)
    certificate_pem: Mapped[str | None] = mapped_column(Text)
    # For an uplink credential: the upstream CA certificate(s) trusted for receipts and answers.
    trust_pem: Mapped[str | None] = mapped_column(Text)
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    not_after: Mapped[datetime | None] = mapped_column(UTCDateTime())
    upstream_url: Mapped[str | None] = mapped_column(String(512))
    request_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class ExchangeNode(IdMixin, Base):
    """接入节点 — a lower node's join request and, once approved, its exchange certificate."""

    __tablename__ = "exchange_node"
    __table_args__ = (Index("ix_exchange_node_node_id_status", "node_id", "status"),)

    node_id: Mapped[str] = mapped_column(String(63))
    node_name: Mapped[str] = mapped_column(String(200))
    division_code: Mapped[str] = mapped_column(String(6))
    tier: Mapped[str] = mapped_column(String(16))
    public_url: Mapped[str | None] = mapped_column(String(512))
    status: Mapped[str] = mapped_column(String(16))  # pending | approved | revoked | superseded | expired
    # The client address the join request came from: pending requests are bounded per source.
    source_address: Mapped[str | None] = mapped_column(String(45))
    csr_pem: Mapped[str] = mapped_column(Text)
    key_fingerprint: Mapped[str] = mapped_column(String(64))
    certificate_pem: Mapped[str | None] = mapped_column(Text)
    serial: Mapped[str | None] = mapped_column(String(64))
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    not_after: Mapped[datetime | None] = mapped_column(UTCDateTime())
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoke_reason: Mapped[str | None] = mapped_column(String(200))


class ExchangeCrl(IdMixin, Base):
    """证书撤销列表 — the exchange CA's CRLs from before the node PKI issued them (adopted on first use)."""

    __tablename__ = "exchange_crl"

    number: Mapped[int] = mapped_column(Integer, unique=True)
    pem: Mapped[str] = mapped_column(Text)
    this_update: Mapped[datetime] = mapped_column(UTCDateTime())
    next_update: Mapped[datetime] = mapped_column(UTCDateTime())


class ExchangeInboundBatch(IdMixin, Base):
    """收到的批次 — one signed batch received from a lower node, with the receipt it was given."""

    __tablename__ = "exchange_inbound_batch"
    __table_args__ = (UniqueConstraint("sender", "batch_id"),)

    sender: Mapped[str] = mapped_column(String(63))
    batch_id: Mapped[str] = mapped_column(String(64))
    topic: Mapped[str] = mapped_column(String(64))
    table_name: Mapped[str] = mapped_column(String(64))
    digest: Mapped[str] = mapped_column(String(64))
    record_count: Mapped[int] = mapped_column(Integer)
    accepted: Mapped[int] = mapped_column(Integer)
    rejected: Mapped[int] = mapped_column(Integer)
    duplicates: Mapped[int] = mapped_column(Integer)
    trace_id: Mapped[str | None] = mapped_column(String(64))
    receipt: Mapped[dict[str, Any]] = mapped_column(PortableJSON)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ExchangeInbox(Base):
    """收件箱 — every received row exactly once per (sender, message id, row_guid), applied or rejected."""

    __tablename__ = "exchange_inbox"
    __table_args__ = (
        UniqueConstraint("sender", "message_id", "row_guid"),
        Index("ix_exchange_inbox_sender_topic_status", "sender", "topic", "status"),
    )

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    sender: Mapped[str] = mapped_column(String(63))
    message_id: Mapped[str] = mapped_column(String(64))
    row_guid: Mapped[str] = mapped_column(String(50))
    batch_id: Mapped[str] = mapped_column(String(64))
    topic: Mapped[str] = mapped_column(String(64))
    table_name: Mapped[str] = mapped_column(String(64))
    business_key: Mapped[str | None] = mapped_column(String(256))
    cd_operation: Mapped[str | None] = mapped_column(String(2))
    cd_time: Mapped[str | None] = mapped_column(String(14))
    data_source: Mapped[str | None] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(16))  # applied | rejected
    error_code: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    trace_id: Mapped[str | None] = mapped_column(String(64))
    # Kept for refused rows (operators, dn_lic_data_error); an applied row's content is in the aggregate.
    payload: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Where the row was made and the nodes that passed it on, origin first, the sender last
    # (``county-x/city-y/hebei``); the sender alone for its own rows (exchange.tiers).
    origin: Mapped[str | None] = mapped_column(String(63))
    origin_division: Mapped[str | None] = mapped_column(String(6))
    route: Mapped[str | None] = mapped_column(String(255))


class ExchangeAggregate(Base):
    """汇聚数据 — the current state of each business object per lower node and national table; keyed by
    the node that made it too (``origin``), so objects of two cities with the same business key, passed
    on by one province, stay apart."""

    __tablename__ = "exchange_aggregate"
    __table_args__ = (UniqueConstraint("sender", "origin", "table_name", "business_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    sender: Mapped[str] = mapped_column(String(63))
    division_code: Mapped[str | None] = mapped_column(String(6))
    table_name: Mapped[str] = mapped_column(String(64))
    business_key: Mapped[str] = mapped_column(String(256))
    row_guid: Mapped[str] = mapped_column(String(50))
    cd_operation: Mapped[str] = mapped_column(String(2))
    cd_time: Mapped[str | None] = mapped_column(String(14))
    # The sender's order (its outbox sequence or 前置库 row id): a late, older row never overwrites.
    source_order: Mapped[int] = mapped_column(BigInteger)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    payload: Mapped[dict[str, Any]] = mapped_column(PortableJSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    origin: Mapped[str] = mapped_column(String(63))
    route: Mapped[str | None] = mapped_column(String(255))


class ExchangeTopicStats(Base):
    """接收统计 — per lower node and topic: received / applied / rejected counts and lag."""

    __tablename__ = "exchange_topic_stats"
    __table_args__ = (UniqueConstraint("sender", "topic"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    sender: Mapped[str] = mapped_column(String(63))
    topic: Mapped[str] = mapped_column(String(64))
    table_name: Mapped[str] = mapped_column(String(64))
    received: Mapped[int] = mapped_column(BigInteger, default=0)
    applied: Mapped[int] = mapped_column(BigInteger, default=0)
    rejected: Mapped[int] = mapped_column(BigInteger, default=0)
    duplicates: Mapped[int] = mapped_column(BigInteger, default=0)
    last_received_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_lag_seconds: Mapped[float | None] = mapped_column()


class ExchangeFeedback(IdMixin, Base):
    """异常反馈 — a row the upper node refused, with the reason, for operators to fix and resend."""

    __tablename__ = "exchange_feedback"
    __table_args__ = (
        Index("ix_exchange_feedback_status_topic", "status", "topic"),
        UniqueConstraint("source", "row_guid", "feedback_guid"),
    )

    source: Mapped[str] = mapped_column(String(16))  # receipt | frontdb | local
    feedback_guid: Mapped[str] = mapped_column(String(64), default="")
    topic: Mapped[str | None] = mapped_column(String(64))
    table_name: Mapped[str] = mapped_column(String(64))
    row_guid: Mapped[str] = mapped_column(String(50))
    message_id: Mapped[str | None] = mapped_column(String(64))
    outbox_seq: Mapped[int | None] = mapped_column(BigInteger)
    business_key: Mapped[str | None] = mapped_column(String(256))
    cd_batch: Mapped[str | None] = mapped_column(String(32))
    error_code: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | resent | resolved
    resent_message_id: Mapped[str | None] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ExchangeLog(Base):
    """交换日志 — every message in and out, chained by SM3 so that an edit, gap or reorder shows."""

    __tablename__ = "exchange_log"

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    direction: Mapped[str] = mapped_column(String(8))  # in | out | local
    kind: Mapped[str] = mapped_column(String(32))
    peer: Mapped[str | None] = mapped_column(String(63))
    ref: Mapped[str | None] = mapped_column(String(64))
    digest: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(PortableJSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64))


class ExchangeLease(Base):
    """调度租约 — who may relay outbox rows of a scope (a topic, or ``*`` on SQLite) until when."""

    __tablename__ = "exchange_lease"

    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(128))
    fence: Mapped[int] = mapped_column(BigInteger, default=0)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ExchangeTopicBackoff(Base):
    """Per-topic back-pressure on the sending side: no batch of the topic leaves before ``until``."""

    __tablename__ = "exchange_topic_backoff"

    topic: Mapped[str] = mapped_column(String(64), primary_key=True)
    until: Mapped[datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str | None] = mapped_column(Text)


class ExchangeNonce(Base):
    """Signed-document nonces seen within the freshness window (replay protection)."""

    __tablename__ = "exchange_nonce"
    __table_args__ = (UniqueConstraint("sender", "nonce"), Index("ix_exchange_nonce_seen_at", "seen_at"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    sender: Mapped[str] = mapped_column(String(63))
    nonce: Mapped[str] = mapped_column(String(64))
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ExchangeWatermark(Base):
    """前置库 polling position per table: the last (cd_time, id) read."""

    __tablename__ = "exchange_watermark"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    cd_time: Mapped[str] = mapped_column(String(14))
    last_id: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class RegistryPerson(IdMixin, Base):
    """人口库 (synthetic on demo nodes) — keyed SM3 indexes only, never the plain number or name."""

    __tablename__ = "exchange_registry_person"

    id_index: Mapped[str] = mapped_column(String(64), unique=True)
    name_index: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # 正常 | 注销
    source: Mapped[str] = mapped_column(String(32))


class RegistryLegalPerson(IdMixin, Base):
    """法人库 (synthetic on demo nodes) — keyed SM3 indexes plus the minimum public fields."""

    __tablename__ = "exchange_registry_legal_person"

    code_index: Mapped[str] = mapped_column(String(64), unique=True)
    name_index: Mapped[str] = mapped_column(String(64))
    legal_rep_index: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # 存续 | 注销 | 吊销
    entity_type: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(32))


class RegistryLicense(IdMixin, Base):
    """证照库 — license identifier and holder indexes, type, status and validity."""

    __tablename__ = "exchange_registry_license"

    identifier_index: Mapped[str] = mapped_column(String(64), unique=True)
    holder_index: Mapped[str] = mapped_column(String(64))
    holder_code_index: Mapped[str | None] = mapped_column(String(64))
    license_type: Mapped[str] = mapped_column(String(256))
    status: Mapped[str] = mapped_column(String(16))  # 有效 | 注销
    source: Mapped[str] = mapped_column(String(63))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class VerificationAudit(IdMixin, Base):
    """核验记录 — every verification query: who asked, for what, the outcome (never the query's data)."""

    __tablename__ = "exchange_verification_audit"
    __table_args__ = (Index("ix_exchange_verification_audit_at", "at"),)

    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    kind: Mapped[str] = mapped_column(String(16))  # person | legal_person | license
    caller: Mapped[str] = mapped_column(String(128))
    caller_node: Mapped[str | None] = mapped_column(String(63))
    purpose: Mapped[str | None] = mapped_column(String(200))
    query_index: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))  # match | no_match | error
    answered_by: Mapped[str] = mapped_column(String(16))  # registry | cache | upstream
    trace_id: Mapped[str | None] = mapped_column(String(64))


class VerificationCache(Base):
    """Short cache of upstream verification answers, keyed by a keyed SM3 of the query."""

    __tablename__ = "exchange_verification_cache"

    query_index: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    answer: Mapped[dict[str, Any]] = mapped_column(PortableJSON)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ExchangeDownward(Base):
    """下发数据 — rows this node publishes to its lower nodes (``dn_*`` tables), which they pull in order."""

    __tablename__ = "exchange_downward"

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(32), unique=True)
    topic: Mapped[str] = mapped_column(String(64))
    table_name: Mapped[str] = mapped_column(String(64))
    business_key: Mapped[str | None] = mapped_column(String(128))
    trace_id: Mapped[str | None] = mapped_column(String(64))
    content: Mapped[dict[str, Any]] = mapped_column(
        PortableJSON
    )  # the national row, control columns included
    published_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The division the row is for (its topic's route column): served only to the lower node whose area
    # holds it. None: served to every lower node.
    division_code: Mapped[str | None] = mapped_column(String(6))


class ExchangeSchedule(Base):
    """交换计划 — when the rows of a national table leave and how they rank against other tables.

    Tables without a row here go in real time at their default priority (``exchange.schedule``)."""

    __tablename__ = "exchange_schedule"

    table_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    mode: Mapped[str] = mapped_column(String(16))  # realtime | interval | window
    every_minutes: Mapped[int | None] = mapped_column(Integer)
    # 北京时间 HH:MM; a window whose end is before its start runs over midnight.
    window_start: Mapped[str | None] = mapped_column(String(5))
    window_end: Mapped[str | None] = mapped_column(String(5))
    priority: Mapped[int] = mapped_column(Integer)  # 1 … 9, higher first
    updated_by: Mapped[str | None] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class ExchangeProgressCount(IdMixin, Base):
    """应上尽上 — how many objects of a kind a lower node holds per department, as it last reported; its
    report carries its own lower nodes' counts too (``origin``), so every tier sees its whole subtree."""

    __tablename__ = "exchange_progress_count"
    __table_args__ = (UniqueConstraint("sender", "origin", "kind", "department_code"),)

    sender: Mapped[str] = mapped_column(String(63))
    origin: Mapped[str] = mapped_column(String(63))  # the node whose objects these are (the sender or below)
    kind: Mapped[str] = mapped_column(String(16))  # items | cases | licenses | users
    department_code: Mapped[str] = mapped_column(String(64))  # "" for objects of no department (users)
    count: Mapped[int] = mapped_column(BigInteger)
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ExchangeApplied(Base):
    """应用记录 — what became of each downward row taken from the upper node (applied, stored, refused),
    and, on an upper node, the refusals its lower nodes fed back about the rows it passed down."""

    __tablename__ = "exchange_applied"
    __table_args__ = (
        UniqueConstraint("peer", "message_id", "row_guid"),
        Index("ix_exchange_applied_outcome_seq", "outcome", "seq"),
        Index("ix_exchange_applied_row_guid", "row_guid"),
    )

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    direction: Mapped[str] = mapped_column(
        String(8)
    )  # in (from the upper node) | feedback (from a lower one)
    peer: Mapped[str] = mapped_column(String(63))
    message_id: Mapped[str] = mapped_column(String(64))
    row_guid: Mapped[str] = mapped_column(String(50))
    topic: Mapped[str] = mapped_column(String(64))
    table_name: Mapped[str] = mapped_column(String(64))
    business_key: Mapped[str | None] = mapped_column(String(256))
    cd_operation: Mapped[str | None] = mapped_column(String(2))
    division_code: Mapped[str | None] = mapped_column(String(6))
    outcome: Mapped[str] = mapped_column(String(16))  # applied | stored | refused | refused_below
    error_code: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(Text)
    forwarded: Mapped[bool] = mapped_column(Boolean, default=False)
    fed_back: Mapped[bool] = mapped_column(Boolean, default=False)
    notes: Mapped[list[str] | None] = mapped_column(PortableJSON)


class ExchangeRouteStats(Base):
    """各级来源统计 — per route (origin … sender) and national table: rows received, applied, refused."""

    __tablename__ = "exchange_route_stats"
    __table_args__ = (UniqueConstraint("route", "table_name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    route: Mapped[str] = mapped_column(String(255))
    origin: Mapped[str] = mapped_column(String(63))
    origin_division: Mapped[str | None] = mapped_column(String(6))
    origin_tier: Mapped[str | None] = mapped_column(String(16))
    table_name: Mapped[str] = mapped_column(String(64))
    received: Mapped[int] = mapped_column(BigInteger, default=0)
    applied: Mapped[int] = mapped_column(BigInteger, default=0)
    rejected: Mapped[int] = mapped_column(BigInteger, default=0)
    last_received_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ExchangeFeedbackDown(Base):
    """下传异常反馈 — a refusal of a row a lower node sent us, waiting for that node to fetch it.

    Refusals made after our receipt accepted the row (an upper tier refused it, or an operator did)
    travel down the way the row came up, one hop at a time, keyed by the first refusal's id."""

    __tablename__ = "exchange_feedback_down"
    __table_args__ = (
        UniqueConstraint("target", "feedback_guid", "row_guid"),
        Index("ix_exchange_feedback_down_target_seq", "target", "seq"),
    )

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    target: Mapped[str] = mapped_column(String(63))
    feedback_guid: Mapped[str] = mapped_column(String(64))
    row_guid: Mapped[str] = mapped_column(String(50))
    topic: Mapped[str | None] = mapped_column(String(64))
    table_name: Mapped[str] = mapped_column(String(64))
    business_key: Mapped[str | None] = mapped_column(String(256))
    error_code: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text)
    refused_by: Mapped[str] = mapped_column(String(63))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
