"""pki tables: the node PKI's keys, certificates, CRLs and trust anchors move from seals_* to pki_*

The rows stay as they are (wrapped keys are bound to their key reference, not to a table). PostgreSQL
renames tables, indexes and constraints in place. SQLite renames the tables (which rewrites the foreign
keys of seals_seal and of the PKI tables themselves) and then rebuilds each one so that its constraint
names follow the new table name; the rebuild runs with deferred foreign keys, because dropping a parent
table under PRAGMA foreign_keys counts its children as violations until the same rows are back.

Revision ID: 5b0e8d2c7a41
Revises: e5b19c7a3d02
Create Date: 2026-12-05 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import zhengwu.kernel.db

revision: str = "5b0e8d2c7a41"
down_revision: str | Sequence[str] | None = "e5b19c7a3d02"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ENTITIES = ("key", "trust_anchor", "certificate", "crl")
# A copy, not an import: this migration must not change when the models' convention does.
_NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _tables(prefix: str) -> sa.MetaData:
    """The four PKI tables as they are named under ``prefix`` (``seals`` before, ``pki`` after)."""
    when = zhengwu.kernel.db.UTCDateTime(timezone=True)
    json = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql")
    md = sa.MetaData(naming_convention=_NAMING)
    sa.Table(
        f"{prefix}_key",
        md,
        sa.Column("key_ref", sa.String(length=255), nullable=False, unique=True),
        sa.Column("backend", sa.String(length=32), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False, index=True),
        sa.Column("wrapped", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", when, nullable=False),
        sa.Column("id", sa.String(length=32), primary_key=True),
    )
    sa.Table(
        f"{prefix}_trust_anchor",
        md,
        sa.Column("fingerprint", sa.String(length=64), nullable=False, unique=True),
        sa.Column("subject", sa.String(length=1000), nullable=False),
        sa.Column("der", sa.LargeBinary(), nullable=False),
        sa.Column("purposes", json, nullable=False),
        sa.Column("crl_der", sa.LargeBinary(), nullable=True),
        sa.Column("crl_sm3", sa.String(length=64), nullable=True),
        sa.Column("crl_url", sa.String(length=1000), nullable=True),
        sa.Column("not_after", when, nullable=False),
        sa.Column("added_by", sa.String(length=100), nullable=False),
        sa.Column("added_at", when, nullable=False),
        sa.Column("updated_at", when, nullable=False),
        sa.Column("id", sa.String(length=32), primary_key=True),
    )
    sa.Table(
        f"{prefix}_certificate",
        md,
        sa.Column(
            "issuer_id",
            sa.String(length=32),
            sa.ForeignKey(f"{prefix}_certificate.id"),
            nullable=True,
            index=True,
        ),
        sa.Column("profile", sa.String(length=32), nullable=False, index=True),
        sa.Column("serial", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=1000), nullable=False),
        sa.Column("der", sa.LargeBinary(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False, unique=True),
        sa.Column("not_before", when, nullable=False),
        sa.Column("not_after", when, nullable=False),
        sa.Column("key_id", sa.String(length=32), sa.ForeignKey(f"{prefix}_key.id"), nullable=True),
        sa.Column("node_id", sa.String(length=63), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("revoked_at", when, nullable=True),
        sa.Column("revocation_reason", sa.String(length=32), nullable=True),
        sa.Column("revoked_by", sa.String(length=100), nullable=True),
        sa.Column("created_at", when, nullable=False),
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.UniqueConstraint("issuer_id", "serial"),
    )
    sa.Table(
        f"{prefix}_crl",
        md,
        sa.Column(
            "issuer_id",
            sa.String(length=32),
            sa.ForeignKey(f"{prefix}_certificate.id"),
            nullable=False,
            index=True,
        ),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("this_update", when, nullable=False),
        sa.Column("next_update", when, nullable=False),
        sa.Column("der", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", when, nullable=False),
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.UniqueConstraint("issuer_id", "number"),
    )
    return md


def _names(table: sa.Table) -> tuple[list[str], list[str]]:
    """The names of a table's constraints and of its indexes."""
    constraints = [str(c.name) for c in table.constraints if c.name is not None]
    return constraints, [str(i.name) for i in table.indexes]


def _move(old: str, new: str) -> None:
    source, target = _tables(old), _tables(new)
    bind = op.get_bind()
    for entity in _ENTITIES:
        op.rename_table(f"{old}_{entity}", f"{new}_{entity}")
    if bind.dialect.name == "postgresql":
        for entity in _ENTITIES:
            before, after = source.tables[f"{old}_{entity}"], target.tables[f"{new}_{entity}"]
            (old_constraints, old_indexes), (new_constraints, new_indexes) = _names(before), _names(after)
            for a, b in zip(sorted(old_constraints), sorted(new_constraints), strict=True):
                op.execute(f'ALTER TABLE "{new}_{entity}" RENAME CONSTRAINT "{a}" TO "{b}"')
            for a, b in zip(sorted(old_indexes), sorted(new_indexes), strict=True):
                op.execute(f'ALTER INDEX "{a}" RENAME TO "{b}"')
        op.execute(
            f'ALTER TABLE seals_seal RENAME CONSTRAINT "fk_seals_seal_certificate_id_{old}_certificate" '
            f'TO "fk_seals_seal_certificate_id_{new}_certificate"'
        )
        return
    # SQLite keeps constraint names inside CREATE TABLE: rebuild each table under its new name.
    op.execute("PRAGMA defer_foreign_keys = ON")
    for entity in _ENTITIES:
        table = target.tables[f"{new}_{entity}"]
        columns = ", ".join(f'"{c.name}"' for c in table.columns)
        op.execute(f'CREATE TABLE "_pki_rebuild" AS SELECT {columns} FROM "{table.name}"')  # noqa: S608
        op.execute(f'DROP TABLE "{table.name}"')
        table.create(bind)
        op.execute(f'INSERT INTO "{table.name}" ({columns}) SELECT {columns} FROM "_pki_rebuild"')  # noqa: S608
        op.execute('DROP TABLE "_pki_rebuild"')


def upgrade() -> None:
    _move("seals", "pki")


def downgrade() -> None:
    _move("pki", "seals")
