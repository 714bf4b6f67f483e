"""The PKI tables move from seals_* to pki_* and back without losing or changing a row, and the node's
keys still sign afterwards (SQLite rebuilds the tables; PostgreSQL renames them)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, inspect, text

from dbkit import scratch_database
from seals_kit import make_kit
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.config import Settings
from zhengwu.kernel.db import make_engine
from zhengwu.kernel.migrate import downgrade, upgrade
from zhengwu.kernel.pki import RevocationReason
from zhengwu.kernel.session import make_session_factory, unit_of_work
from zhengwu.orgs import service as orgs
from zhengwu.orgs.schemas import DepartmentCreate
from zhengwu.pki import authority
from zhengwu.seals import service
from zhengwu.seals.ofd.writer import DocumentSpec, Paragraph, write_ofd
from zhengwu.seals.verify import Verdict
from zhengwu.seed import government_credit_code

BEFORE_PKI = "e5b19c7a3d02"
BEFORE_EXCHANGE_KEYS = "5b0e8d2c7a41"
ENTITIES = ("key", "trust_anchor", "certificate", "crl")


@pytest.fixture
def scratch_url(tmp_path: Path, database_url: str) -> Iterator[str]:
    yield from scratch_database(database_url, tmp_path)


def _rows(engine: Engine, prefix: str) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        return {
            entity: [tuple(row) for row in conn.execute(text(f"SELECT * FROM {prefix}_{entity} ORDER BY id"))]
            for entity in ENTITIES
        }


def test_pki_rows_survive_the_move_both_ways(scratch_url: str, tmp_path: Path) -> None:
    upgrade(scratch_url)
    settings = Settings(data_dir=tmp_path / "data", database_url=scratch_url)
    engine = make_engine(scratch_url)
    factory = make_session_factory(engine)
    try:
        with unit_of_work(factory) as session:
            authority.init_pki(session, settings)
            code = government_credit_code("130000", 901)
            orgs.add_department(
                session, DepartmentCreate(credit_code=code, name="河北省迁移测试局", division_code="130000")
            )
            seal = service.create_seal(
                session, settings, department_credit_code=code, name="河北省迁移测试局公章", actor="test"
            )
            spare = service.create_seal(
                session, settings, department_credit_code=code, name="河北省迁移测试局合同章", actor="test"
            )
            cert = service.seal_certificate(session, spare)
            authority.revoke_certificate(
                session, settings, cert, reason=RevocationReason.KEY_COMPROMISE, actor="test"
            )
            authority.add_trust_anchors(session, make_kit("外省根").root.der, purposes=["seals"], actor="t")
            es_id = seal.es_id
        before = _rows(engine, "pki")
        assert all(before.values()) and len(before["crl"]) >= 3

        downgrade(scratch_url, BEFORE_PKI)
        tables = set(inspect(engine).get_table_names())
        assert not {f"pki_{e}" for e in ENTITIES} & tables
        assert _rows(engine, "seals") == before

        upgrade(scratch_url)
        assert _rows(engine, "pki") == before
        assert not {f"seals_{e}" for e in ENTITIES} & set(inspect(engine).get_table_names())
        if engine.dialect.name == "sqlite":
            with engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
        # The wrapped keys are bound to their references, not to a table: the seal signs and verifies.
        with unit_of_work(factory) as session:
            doc = write_ofd(DocumentSpec(title="迁移后", blocks=[Paragraph("准予办理。")]))
            signed = service.sign_document(
                session, settings, es_id, doc, placement=service.Placement(keyword="准予"), actor="test"
            )
            assert service.verify_document(session, settings, signed).verdict is Verdict.VALID
    finally:
        engine.dispose()


def test_exchange_keys_in_the_key_ring_block_a_downgrade_that_would_lose_them(scratch_url: str) -> None:
    upgrade(scratch_url)
    engine = make_engine(scratch_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO pki_key (id, key_ref, backend, purpose, public_key, fingerprint, created_at) "
                    "VALUES ('k1', 'soft:1', 'soft', 'exchange-uplink', :pk, 'f', :now)"
                ),
                {"pk": b"\x30", "now": utcnow()},
            )
            conn.execute(
                text(
                    "INSERT INTO exchange_credential (id, purpose, status, key_id, created_at, updated_at) "
                    "VALUES ('c1', 'uplink', 'active', 'k1', :now, :now)"
                ),
                {"now": utcnow()},
            )
        with pytest.raises(RuntimeError, match="key ring"):
            downgrade(scratch_url, BEFORE_EXCHANGE_KEYS)
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM exchange_credential"))
        downgrade(scratch_url, BEFORE_EXCHANGE_KEYS)
        assert "key_id" not in {c["name"] for c in inspect(engine).get_columns("exchange_credential")}
    finally:
        engine.dispose()
