"""``zhengwu exchange`` and ``zhengwu worker`` on a node's own database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from clikit import cli_node, invoke
from zhengwu.exchange.models import ExchangeLog
from zhengwu.kernel.events import emit
from zhengwu.kernel.pki import build_csr
from zhengwu.kernel.session import unit_of_work


@pytest.fixture
def node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    yield from cli_node(
        tmp_path,
        monkeypatch,
        ZHENGWU_TIER="national",
        ZHENGWU_DIVISION_CODE="000000",
        ZHENGWU_NODE_ID="national",
    )


def test_status_json_and_worker(node: Any) -> None:
    with unit_of_work(node) as session:
        emit(session, "tests.up_pro_result", {"project_no": "P1"}, key="P1")
    result = invoke("exchange", "status", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    (topic,) = data["topics"]
    assert topic["topic"] == "tests.up_pro_result" and topic["pending"] == 1 and topic["lag_seconds"] >= 0
    assert data["node_id"] == "national" and data["open_feedback"] == 0
    # A national node has no upstream: the worker has nothing to relay and stops when idle.
    result = invoke("worker", "--until-idle")
    assert result.exit_code == 0 and "batches=0" in result.output


def test_nodes_approve_revoke_and_log_verify(node: Any) -> None:
    from zhengwu.exchange import join
    from zhengwu.exchange.runtime import ExchangeRuntime
    from zhengwu.exchange.topics import TopicRegistry
    from zhengwu.kernel.config import Settings
    from zhengwu.kernel.crypto import SM2PrivateKey

    runtime = ExchangeRuntime.create(Settings(), node, TopicRegistry())
    csr = build_csr(subject={"CN": "hebei", "O": "演示"}, signer=SM2PrivateKey.generate())
    with unit_of_work(node) as session:
        join.accept_request(session, runtime, {"node_id": "hebei", "node_name": "河北（演示）",
                                               "division_code": "130000", "tier": "province",
                                               "csr": csr.to_pem().decode()})  # fmt: skip
    listed = [json.loads(line) for line in invoke("exchange", "nodes", "list", "--json").output.splitlines()]
    assert [(n["node_id"], n["status"]) for n in listed] == [("hebei", "pending")]
    approved = invoke("exchange", "nodes", "approve", "hebei")
    assert approved.exit_code == 0 and "approved" in approved.output
    assert invoke("exchange", "nodes", "approve", "hebei").exit_code == 1  # nothing pending any more
    revoked = invoke("exchange", "nodes", "revoke", "hebei", "--reason", "key_compromise")
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    ok = invoke("exchange", "log", "verify")
    assert ok.exit_code == 0 and "intact" in ok.output
    with unit_of_work(node) as session:
        session.execute(update(ExchangeLog).where(ExchangeLog.seq == 2).values(kind="forged"))
    bad = invoke("exchange", "log", "verify", "--json")
    assert bad.exit_code == 1
    problems = json.loads(bad.output)["problems"]
    assert problems[0]["seq"] == 2 and problems[0]["kind"] == "edited"


def test_resend_and_seed(node: Any) -> None:
    assert invoke("exchange", "resend").exit_code == 2
    result = invoke("exchange", "resend", "--dead")
    assert result.exit_code == 0 and "requeued=0" in result.output
    seeded = invoke("exchange", "seed-registries", "--people", "5", "--companies", "2")
    assert seeded.exit_code == 0 and "people=5" in seeded.output
    again = invoke("exchange", "seed-registries", "--people", "5", "--companies", "2")
    assert "people=0" in again.output  # idempotent
    assert invoke("exchange", "feedback", "--json").output == ""


def test_applied_lists_the_apply_log(node: Any) -> None:
    from zhengwu.exchange.models import ExchangeApplied

    with unit_of_work(node) as session:
        for n, outcome in enumerate(("applied", "refused")):
            session.add(ExchangeApplied(direction="in", peer="upstream", message_id=f"m{n}", row_guid=f"g{n}",
                                        topic="catalog.dn_task_directory", table_name="dn_task_directory",
                                        business_key="000101001000", cd_operation="U", outcome=outcome,
                                        reason="事项类型无效" if outcome == "refused" else None,
                                        forwarded=outcome == "applied", fed_back=outcome == "refused",
                                        notes=["跨层级一致性检查：不一致 0 处"] if outcome == "applied" else None))  # fmt: skip
    result = invoke("exchange", "applied", "--outcome", "refused", "--json")
    assert result.exit_code == 0, result.output
    (line,) = [json.loads(x) for x in result.output.splitlines()]
    assert (line["row_guid"], line["fed_back"], line["reason"]) == ("g1", True, "事项类型无效")
    table = invoke("exchange", "applied")
    assert table.exit_code == 0 and "downward rows applied (2)" in table.output
    assert invoke("exchange", "applied", "--outcome", "bogus").exit_code == 2


def test_nodes_approve_with_a_certificate_file(node: Any, tmp_path: Path) -> None:
    from datetime import timedelta

    from zhengwu.exchange import join
    from zhengwu.exchange.runtime import ExchangeRuntime
    from zhengwu.exchange.topics import TopicRegistry
    from zhengwu.kernel.clock import utcnow
    from zhengwu.kernel.config import Settings
    from zhengwu.kernel.crypto import SM2PrivateKey
    from zhengwu.kernel.pki import EKU_CLIENT_AUTH, CertProfile, create_root_ca, issue_certificate

    runtime = ExchangeRuntime.create(Settings(), node, TopicRegistry())
    key = SM2PrivateKey.generate()
    csr = build_csr(subject={"CN": "hebei", "O": "演示"}, signer=key)
    with unit_of_work(node) as session:
        join.accept_request(session, runtime, {"node_id": "hebei", "node_name": "河北（演示）",
                                               "division_code": "130000", "tier": "province",
                                               "csr": csr.to_pem().decode()})  # fmt: skip
    now = utcnow()
    ca_key = SM2PrivateKey.generate()
    ca = create_root_ca(subject={"C": "CN", "CN": "未受信任的外部 CA"}, signer=ca_key,
                        not_before=now - timedelta(hours=1), not_after=now + timedelta(days=60))  # fmt: skip
    cert = issue_certificate(issuer=ca, issuer_signer=ca_key, subject={"C": "CN", "CN": "hebei"},
                             public_key=key.public_key, profile=CertProfile.NODE_EXCHANGE,
                             not_before=now - timedelta(hours=1), not_after=now + timedelta(days=30),
                             extended_key_usage=[EKU_CLIENT_AUTH])  # fmt: skip
    missing = invoke("exchange", "nodes", "approve", "hebei", "--certificate", str(tmp_path / "none.pem"))
    assert missing.exit_code == 2
    pem = tmp_path / "hebei.pem"
    pem.write_bytes(cert.to_pem() + ca.to_pem())
    untrusted = invoke("exchange", "nodes", "approve", "hebei", "--certificate", str(pem))
    assert untrusted.exit_code == 1 and "pki trust add" in untrusted.output
    listed = [json.loads(line) for line in invoke("exchange", "nodes", "list", "--json").output.splitlines()]
    assert [n["status"] for n in listed] == ["pending"]
