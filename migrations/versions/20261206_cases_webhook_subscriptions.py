"""cases webhooks: per-event subscriptions of an endpoint (NULL: every event type); the 联办 audience of
an event (departments asked for an opinion on its case)

Revision ID: 9e3b7d2a6f41
Revises: 7a4d2c9e1b38
Create Date: 2026-12-06 01:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "9e3b7d2a6f41"
down_revision: str | Sequence[str] | None = "7a4d2c9e1b38"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cases_webhook_endpoint") as batch:
        batch.add_column(
            sa.Column("event_types", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True)
        )
    op.create_table(
        "cases_webhook_audience",
        sa.Column("event_seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("department_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_seq"],
            ["cases_webhook_event.seq"],
            name=op.f("fk_cases_webhook_audience_event_seq_cases_webhook_event"),
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["orgs_department.id"],
            name=op.f("fk_cases_webhook_audience_department_id_orgs_department"),
        ),
        sa.PrimaryKeyConstraint("event_seq", "department_id", name=op.f("pk_cases_webhook_audience")),
    )
    op.create_index(
        "ix_cases_webhook_audience_dept_seq", "cases_webhook_audience", ["department_id", "event_seq"]
    )


def downgrade() -> None:
    op.drop_index("ix_cases_webhook_audience_dept_seq", table_name="cases_webhook_audience")
    op.drop_table("cases_webhook_audience")
    with op.batch_alter_table("cases_webhook_endpoint") as batch:
        batch.drop_column("event_types")
