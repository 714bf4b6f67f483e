"""audit: one hash-chain head table, the change log, the read log, signed and reported chain heads

The authentication audit and the exchange log move onto the one chain primitive (ADR 0011):
- their head rows become rows of ``audit_chain_head`` (``identity.auth``, ``exchange.log``);
- the exchange log's hashes already follow the rule (SM3(prev ‖ canonical entry)) and stay as they are;
- the authentication events are re-linked under the rule: numbered 1..n without gaps (PostgreSQL's
  sequence may have skipped numbers of rolled-back transactions) and hashed with their sequence number.
  The old chain is verified first; the upgrade stops on a broken chain rather than bless it.

Revision ID: 3d7a9c51e2b4
Revises: 8f3c1a6d2e95
Create Date: 2026-12-05 19:30:00
"""

from collections.abc import Sequence
import json
from datetime import UTC
from typing import Any

import sqlalchemy as sa
from alembic import op

from zhengwu.kernel.crypto import sm3
from zhengwu.kernel.db import PortableJSON, UTCDateTime

revision: str = "3d7a9c51e2b4"
down_revision: str | Sequence[str] | None = "8f3c1a6d2e95"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS = "0" * 64
BigSeq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

_events = sa.table(
    "identity_auth_event",
    sa.column("seq", BigSeq),
    sa.column("occurred_at", UTCDateTime()),
    sa.column("event_type", sa.String()),
    sa.column("success", sa.Boolean()),
    sa.column("account_id", sa.String()),
    sa.column("session_id", sa.String()),
    sa.column("client_id", sa.String()),
    sa.column("subject_index", sa.String()),
    sa.column("ip", sa.String()),
    sa.column("user_agent", sa.String()),
    sa.column("detail", PortableJSON),
    sa.column("trace_id", sa.String()),
    sa.column("prev_hash", sa.String()),
    sa.column("hash", sa.String()),
)
_heads = sa.table(
    "audit_chain_head",
    sa.column("name", sa.String()),
    sa.column("seq", sa.BigInteger()),
    sa.column("hash", sa.String()),
)


def _fields(row: Any) -> dict[str, Any]:
    return {
        "type": row.event_type,
        "ok": bool(row.success),
        "account": row.account_id,
        "session": row.session_id,
        "client": row.client_id,
        "subject": row.subject_index,
        "ip": row.ip,
        "ua": row.user_agent,
        "detail": row.detail or {},
        "trace": row.trace_id,
    }


def _canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(
        body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def _old_digest(prev: str, row: Any) -> str:
    # The rule of identity.audit before this revision: the previous hash inside the JSON body.
    return sm3(_canonical({"prev": prev, "at": row.occurred_at.isoformat(), **_fields(row)})).hex()


def _new_digest(prev: str, seq: int, row: Any) -> str:
    at = row.occurred_at.astimezone(UTC).isoformat(timespec="microseconds")
    return sm3(bytes.fromhex(prev) + _canonical({"seq": seq, "at": at, **_fields(row)})).hex()


def _rows(bind: Any) -> list[Any]:
    return list(bind.execute(sa.select(_events).order_by(_events.c.seq)))


def upgrade() -> None:
    op.create_table(
        "audit_chain_head",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_audit_chain_head")),
    )
    op.create_table(
        "audit_change",
        sa.Column("seq", BigSeq, autoincrement=False, nullable=False),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("entity", sa.String(length=64), nullable=False),
        sa.Column("entity_id", sa.String(length=128), nullable=False),
        sa.Column("department_id", sa.String(length=32), nullable=True),
        sa.Column("before", PortableJSON, nullable=True),
        sa.Column("after", PortableJSON, nullable=True),
        sa.Column("trace_id", sa.String(length=64), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_change")),
    )
    op.create_index("ix_audit_change_entity", "audit_change", ["entity", "entity_id"])
    op.create_index("ix_audit_change_department", "audit_change", ["department_id", "seq"])
    op.create_table(
        "audit_read",
        sa.Column("seq", BigSeq, autoincrement=False, nullable=False),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("subject_account_id", sa.String(length=32), nullable=False),
        sa.Column("reader", sa.String(length=128), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("what", sa.String(length=128), nullable=False),
        sa.Column("trace_id", sa.String(length=64), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_read")),
    )
    op.create_index("ix_audit_read_subject", "audit_read", ["subject_account_id", "seq"])
    for table, unique in (
        ("audit_signed_head", ("chain", "seq")),
        ("audit_reported_head", ("sender", "chain", "seq")),
    ):
        extra = [sa.Column("sender", sa.String(length=63), nullable=False)] if "sender" in unique else []
        tail = (
            [sa.Column("received_at", UTCDateTime(timezone=True), nullable=False)]
            if "sender" in unique
            else []
        )
        op.create_table(
            table,
            sa.Column("id", BigSeq, autoincrement=True, nullable=False),
            *extra,
            sa.Column("chain", sa.String(length=64), nullable=False),
            sa.Column("seq", sa.BigInteger(), nullable=False),
            sa.Column("hash", sa.String(length=64), nullable=False),
            sa.Column("signed_at", UTCDateTime(timezone=True), nullable=False),
            sa.Column("signer", sa.String(length=64), nullable=False),
            sa.Column("signature", sa.String(length=200), nullable=False),
            *tail,
            sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
            sa.UniqueConstraint(*unique, name=f"uq_{table}_{'_'.join(unique)}"),
        )

    bind = op.get_bind()
    # The exchange log: its head row moves, its hashes already follow the rule.
    old = bind.execute(sa.text("SELECT seq, last_hash FROM exchange_log_head WHERE id = 1")).one_or_none()
    bind.execute(
        sa.insert(_heads).values(
            name="exchange.log", seq=old.seq if old else 0, hash=old.last_hash if old else GENESIS
        )
    )
    # The authentication audit: verify under the old rule, then re-link under the new one.
    prev, new_prev, count = GENESIS, GENESIS, 0
    for number, row in enumerate(_rows(bind), start=1):
        if row.prev_hash != prev or _old_digest(prev, row) != row.hash:
            raise RuntimeError(
                f"identity_auth_event: the audit chain is broken at seq {row.seq}; investigate before upgrading "
                f"(认证审计链在第 {row.seq} 条处断裂，请先调查再升级)"
            )
        prev = row.hash
        digest = _new_digest(new_prev, number, row)
        bind.execute(
            sa.update(_events)
            .where(_events.c.seq == row.seq)
            .values(seq=number, prev_hash=new_prev, hash=digest)
        )
        new_prev = digest
        count = number
    head = bind.execute(
        sa.text("SELECT last_seq, last_hash FROM identity_auth_chain WHERE id = 1")
    ).one_or_none()
    if head is not None and (head.last_seq != count or head.last_hash != prev):
        raise RuntimeError(
            "identity_auth_event: the audit chain's head does not match its last event (tail deleted?); "
            "investigate before upgrading (认证审计链头与最后一条记录不符，请先调查再升级)"
        )
    bind.execute(sa.insert(_heads).values(name="identity.auth", seq=count, hash=new_prev))
    op.drop_table("exchange_log_head")
    op.drop_table("identity_auth_chain")


def downgrade() -> None:
    op.create_table(
        "identity_auth_chain",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_auth_chain")),
    )
    op.create_table(
        "exchange_log_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_log_head")),
    )
    bind = op.get_bind()
    heads = {r.name: r for r in bind.execute(sa.select(_heads))}
    exchange = heads.get("exchange.log")
    bind.execute(
        sa.text("INSERT INTO exchange_log_head (id, seq, last_hash) VALUES (1, :seq, :hash)"),
        {"seq": exchange.seq if exchange else 0, "hash": exchange.hash if exchange else GENESIS},
    )
    # The authentication events go back to the old rule (the sequence numbers stay as they are now).
    prev, count = GENESIS, 0
    for row in _rows(bind):
        digest = _old_digest(prev, row)
        bind.execute(sa.update(_events).where(_events.c.seq == row.seq).values(prev_hash=prev, hash=digest))
        prev, count = digest, count + 1
    bind.execute(
        sa.text("INSERT INTO identity_auth_chain (id, last_seq, last_hash) VALUES (1, :seq, :hash)"),
        {"seq": count, "hash": prev},
    )
    for table in ("audit_reported_head", "audit_signed_head", "audit_read", "audit_change"):
        op.drop_table(table)
    op.drop_table("audit_chain_head")
