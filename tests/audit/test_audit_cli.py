"""``zhengwu audit``: verify finds an edited record and a chain rebuilt after its head was signed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from clikit import cli_node, invoke
from zhengwu.audit import chain, changes
from zhengwu.audit.models import AuditChainHead, AuditChange
from zhengwu.kernel.session import unit_of_work


@pytest.fixture
def node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    yield from cli_node(tmp_path, monkeypatch, ZHENGWU_NODE_ID="hebei")


def write_changes(factory: Any, count: int) -> None:
    with unit_of_work(factory) as session:
        for n in range(count):
            changes.record_change(
                session, actor="cli", action="test.change", entity="test", entity_id=f"e{n}", after={"n": n}
            )


def rebuild_from(session: Session, seq: int) -> None:
    """What a database administrator who knows the rule does: edit, then recompute every later hash."""
    rows = list(session.scalars(select(AuditChange).where(AuditChange.seq >= seq).order_by(AuditChange.seq)))
    prev = rows[0].prev_hash
    for row in rows:
        digest = chain.link_hash(prev, {**changes.CHAIN.body(row), "seq": row.seq})
        row.prev_hash, row.hash = prev, digest
        prev = digest
    session.execute(update(AuditChainHead).where(AuditChainHead.name == changes.CHANGES).values(hash=prev))


def test_verify_finds_an_edited_record(node: Any) -> None:
    write_changes(node, 5)
    ok = invoke("audit", "verify")
    assert ok.exit_code == 0, ok.output
    assert "audit.changes" in ok.output and "intact" in ok.output
    with unit_of_work(node) as session:
        session.execute(update(AuditChange).where(AuditChange.seq == 3).values(actor="someone-else"))
    bad = invoke("audit", "verify", "--json")
    assert bad.exit_code == 1
    report = json.loads(bad.output)
    (broken,) = [c for c in report["chains"] if not c["ok"]]
    assert broken["chain"] == "audit.changes"
    assert broken["break"]["seq"] == 3 and broken["break"]["kind"] == "edited"
    text = invoke("audit", "verify")
    assert text.exit_code == 1 and "第 3 条" in text.output and "audit.changes" in text.output


def test_verify_finds_a_chain_rebuilt_after_its_head_was_signed(node: Any) -> None:
    assert invoke("pki", "init").exit_code == 0
    write_changes(node, 4)
    sealed = invoke("audit", "seal", "--json")
    assert sealed.exit_code == 0, sealed.output
    heads = {h["chain"]: h for h in json.loads(sealed.output)["sealed"]}
    assert heads["audit.changes"]["seq"] >= 4  # pki init itself is a change
    write_changes(node, 2)
    with unit_of_work(node) as session:
        session.execute(update(AuditChange).where(AuditChange.seq == 2).values(actor="someone-else"))
        rebuild_from(session, 2)
    with unit_of_work(node) as session:
        # The rebuilt chain is consistent in itself ...
        assert chain.verify(session, changes.CHAIN).ok
    # ... but no longer matches the head the node signed before.
    bad = invoke("audit", "verify", "--json")
    assert bad.exit_code == 1, bad.output
    (broken,) = [c for c in json.loads(bad.output)["chains"] if not c["ok"]]
    assert broken["chain"] == "audit.changes"
    assert broken["break"]["kind"] == "rebuilt"
    assert broken["break"]["seq"] == heads["audit.changes"]["seq"]


def test_a_forged_signed_head_does_not_verify(node: Any) -> None:
    assert invoke("pki", "init").exit_code == 0
    write_changes(node, 2)
    assert invoke("audit", "seal").exit_code == 0
    from zhengwu.audit.models import AuditSignedHead

    with unit_of_work(node) as session:
        session.execute(update(AuditChange).where(AuditChange.seq == 1).values(actor="x"))
        rebuild_from(session, 1)
        # Re-pointing the signed head at the rebuilt hash breaks its signature instead.
        new_hash = session.scalar(select(AuditChainHead.hash).where(AuditChainHead.name == changes.CHANGES))
        session.execute(
            update(AuditSignedHead).where(AuditSignedHead.chain == changes.CHANGES).values(hash=new_hash)
        )
    bad = invoke("audit", "verify", "--json")
    assert bad.exit_code == 1
    (broken,) = [c for c in json.loads(bad.output)["chains"] if not c["ok"]]
    assert broken["break"]["kind"] == "unsigned"


def test_seal_heads_and_changes_commands(node: Any) -> None:
    assert invoke("audit", "seal").exit_code == 1  # no PKI yet: said, not a traceback
    assert invoke("pki", "init").exit_code == 0
    write_changes(node, 1)
    first = invoke("audit", "seal")
    assert first.exit_code == 0 and "audit.changes" in first.output
    again = invoke("audit", "seal")
    assert again.exit_code == 0 and "already signed" in again.output
    listed = json.loads(invoke("audit", "heads", "--json").output)["heads"]
    assert {h["chain"] for h in listed} >= {"audit.changes"}
    found = json.loads(invoke("audit", "changes", "--entity", "test", "--json").output)["changes"]
    assert [(c["entity_id"], c["actor"], c["after"]) for c in found] == [("e0", "cli", {"n": 0})]
    table = invoke("audit", "changes")
    assert table.exit_code == 0 and "pki.init" in table.output


def test_the_worker_seals_what_grew_when_a_seal_is_due(node: Any) -> None:
    from zhengwu.commands.audit import seal_if_due
    from zhengwu.kernel.config import AuditSettings, Settings

    config = Settings()
    assert seal_if_due(node, config) == 0  # no PKI yet: nothing signed, nothing raised
    assert invoke("pki", "init").exit_code == 0
    write_changes(node, 1)
    assert seal_if_due(node, Settings(audit=AuditSettings(seal_minutes=0))) == 0  # switched off
    assert seal_if_due(node, config) >= 1
    write_changes(node, 1)
    assert seal_if_due(node, config) == 0  # the last seal is younger than ZHENGWU_AUDIT__SEAL_MINUTES
    sealed = json.loads(invoke("audit", "seal", "--json").output)["sealed"]
    assert [h["chain"] for h in sealed] == ["audit.changes"]  # only the chain that grew
