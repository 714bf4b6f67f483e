"""cases: enterprise applicants — the legal entity a case is for, its legal representative, the agent (经办人)

Revision ID: 5c3e7a91d2f4
Revises: 8e4a1c6b2d70
Create Date: 2026-12-06 02:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5c3e7a91d2f4"
down_revision: str | Sequence[str] | None = "8e4a1c6b2d70"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("cases_case", sa.Column("applicant_entity_id", sa.String(length=32), nullable=True))
    op.add_column("cases_case", sa.Column("applicant_legal_rep", sa.String(length=100), nullable=True))
    op.add_column("cases_case", sa.Column("agent_name", sa.String(length=100), nullable=True))
    op.add_column("cases_case", sa.Column("agent_code_enc", sa.LargeBinary(), nullable=True))
    op.create_index(
        "ix_cases_case_applicant_entity", "cases_case", ["applicant_entity_id", "created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_cases_case_applicant_entity", table_name="cases_case")
    # Plain DROP COLUMN (SQLite 3.35+): a batch copy of cases_case would drop the table its history
    # rows refer to.
    for column in ("agent_code_enc", "agent_name", "applicant_legal_rep", "applicant_entity_id"):
        op.drop_column("cases_case", column)
