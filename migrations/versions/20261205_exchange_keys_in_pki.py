"""exchange keys in the node PKI: an uplink credential names its key in the key ring (pki_key)

Expand step: ``key_id`` is added and ``key_pem`` becomes optional; rows made before keep their PKCS#8 key.
The exchange CA and its CRLs move into the PKI tables when the node first uses them (that needs the node
secret, which a migration does not have); ``exchange_crl`` and the ``ca``/``downlink`` rows stay readable
until a later release removes them.

The downgrade cannot give a key in the key ring back its PKCS#8 form without the node secret: it refuses
while such a credential exists (retire it, downgrade, then ``exchange join --renew`` on the older release).

Revision ID: 8f3c1a6d2e95
Revises: 5b0e8d2c7a41
Create Date: 2026-12-05 18:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8f3c1a6d2e95"
down_revision: str | Sequence[str] | None = "5b0e8d2c7a41"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("exchange_credential") as batch:
        batch.add_column(sa.Column("key_id", sa.String(length=32), nullable=True))
        batch.create_foreign_key(
            batch.f("fk_exchange_credential_key_id_pki_key"), "pki_key", ["key_id"], ["id"]
        )
        batch.alter_column("key_pem", existing_type=sa.Text(), nullable=True)


def downgrade() -> None:
    keyless = op.get_bind().scalar(sa.text("SELECT count(*) FROM exchange_credential WHERE key_pem IS NULL"))
    if keyless:
        raise RuntimeError(
            f"{keyless} exchange credential(s) keep their key only in the node key ring; retire them "
            "(status 'retired', then delete) before downgrading, and run `exchange join --renew` afterwards"
        )
    with op.batch_alter_table("exchange_credential") as batch:
        batch.alter_column("key_pem", existing_type=sa.Text(), nullable=False)
        batch.drop_constraint(batch.f("fk_exchange_credential_key_id_pki_key"), type_="foreignkey")
        batch.drop_column("key_id")
