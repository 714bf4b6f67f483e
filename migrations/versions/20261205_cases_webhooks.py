"""cases webhooks: department-system endpoints, events (pull cursor), deliveries and attempts

Revision ID: 5d8e1f3a7c20
Revises: 7b4e2c9d1a63
Create Date: 2026-12-05 23:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import zhengwu.kernel.db

revision: str = "5d8e1f3a7c20"
down_revision: str | Sequence[str] | None = "7b4e2c9d1a63"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = zhengwu.kernel.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "cases_webhook_endpoint",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("department_id", sa.String(length=32), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("secret_enc", sa.LargeBinary(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["orgs_department.id"],
            name=op.f("fk_cases_webhook_endpoint_department_id_orgs_department"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases_webhook_endpoint")),
        sa.UniqueConstraint("client_id", name=op.f("uq_cases_webhook_endpoint_client_id")),
    )
    op.create_index(
        op.f("ix_cases_webhook_endpoint_department_id"), "cases_webhook_endpoint", ["department_id"]
    )
    op.create_table(
        "cases_webhook_event",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("msg_id", sa.String(length=40), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("department_id", sa.String(length=32), nullable=False),
        sa.Column("case_no", sa.String(length=50), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["orgs_department.id"],
            name=op.f("fk_cases_webhook_event_department_id_orgs_department"),
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_cases_webhook_event")),
        sa.UniqueConstraint("msg_id", name=op.f("uq_cases_webhook_event_msg_id")),
    )
    op.create_index("ix_cases_webhook_event_dept_seq", "cases_webhook_event", ["department_id", "seq"])
    op.create_table(
        "cases_webhook_delivery",
        sa.Column("event_seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _TS, nullable=False),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=300), nullable=True),
        sa.Column("last_attempt_at", _TS, nullable=True),
        sa.Column("delivered_at", _TS, nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_seq"],
            ["cases_webhook_event.seq"],
            name=op.f("fk_cases_webhook_delivery_event_seq_cases_webhook_event"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases_webhook_delivery")),
    )
    op.create_index("ix_cases_webhook_delivery_due", "cases_webhook_delivery", ["status", "next_attempt_at"])
    op.create_index(op.f("ix_cases_webhook_delivery_event_seq"), "cases_webhook_delivery", ["event_seq"])
    op.create_index(op.f("ix_cases_webhook_delivery_client_id"), "cases_webhook_delivery", ["client_id"])
    op.create_table(
        "cases_webhook_attempt",
        sa.Column("delivery_id", sa.String(length=32), nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(length=300), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["cases_webhook_delivery.id"],
            name=op.f("fk_cases_webhook_attempt_delivery_id_cases_webhook_delivery"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases_webhook_attempt")),
    )
    op.create_index(op.f("ix_cases_webhook_attempt_delivery_id"), "cases_webhook_attempt", ["delivery_id"])


def downgrade() -> None:
    op.drop_table("cases_webhook_attempt")
    op.drop_table("cases_webhook_delivery")
    op.drop_table("cases_webhook_event")
    op.drop_table("cases_webhook_endpoint")
