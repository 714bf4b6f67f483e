"""cases: notices to applicants queued for the worker (sent after the transition's commit); items' own
form fields and their snapshot in each case; the state of each other department's step (联办 as steps)

Revision ID: cecb7c71cac4
Revises: 031be0be81df
Create Date: 2026-12-06 04:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import zhengwu.kernel.db

revision: str = "cecb7c71cac4"
down_revision: str | Sequence[str] | None = "031be0be81df"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = zhengwu.kernel.db.UTCDateTime(timezone=True)
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "cases_notice",
        sa.Column("case_id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("subject", sa.String(length=100), nullable=False),
        sa.Column("body", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _TS, nullable=False),
        sa.Column("last_error", sa.String(length=300), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("sent_at", _TS, nullable=True),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases_case.id"], name=op.f("fk_cases_notice_case_id_cases_case")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["identity_account.id"], name=op.f("fk_cases_notice_account_id_identity_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases_notice")),
    )
    op.create_index(op.f("ix_cases_notice_case_id"), "cases_notice", ["case_id"])
    op.create_index("ix_cases_notice_due", "cases_notice", ["status", "next_attempt_at"])
    op.create_table(
        "cases_item_fields",
        sa.Column("task_code", sa.String(length=36), nullable=False),
        sa.Column("definition", _JSON, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases_item_fields")),
        sa.UniqueConstraint("task_code", name=op.f("uq_cases_item_fields_task_code")),
    )
    with op.batch_alter_table("cases_case") as batch:
        batch.add_column(sa.Column("form_fields", _JSON, nullable=True))
        batch.add_column(sa.Column("step_states", _JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cases_case") as batch:
        batch.drop_column("step_states")
        batch.drop_column("form_fields")
    op.drop_table("cases_item_fields")
    op.drop_index("ix_cases_notice_due", table_name="cases_notice")
    op.drop_index(op.f("ix_cases_notice_case_id"), table_name="cases_notice")
    op.drop_table("cases_notice")
