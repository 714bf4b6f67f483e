"""``zhengwu exchange selftest``: the local checks (table specs, topics, signing keys) and, against a
peer node over signed HTTP, a round trip of sample rows of every national table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from exchange_nodes import Node
from sqlalchemy import func, select

from clikit import cli_node, invoke
from zhengwu.exchange import national, selftest
from zhengwu.exchange.models import ExchangeAggregate, ExchangeInbox, ExchangeLog

pytestmark = pytest.mark.db


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    yield from cli_node(
        tmp_path,
        monkeypatch,
        ZHENGWU_TIER="national",
        ZHENGWU_DIVISION_CODE="000000",
        ZHENGWU_NODE_ID="national",
    )


def test_local_selftest_passes_and_prints_a_report(cli: Any) -> None:
    result = invoke("exchange", "selftest")
    assert result.exit_code == 0, result.output
    assert "接口联调自测报告" in result.output and "结论 result: 通过 PASS" in result.output
    assert "交换 CA 算法 algorithm" in result.output and "SM2-with-SM3 签名并验签成功" in result.output
    data = json.loads(invoke("exchange", "selftest", "--json").output)
    assert data["result"] == "pass" and data["failed"] == 0
    assert data["spec_fingerprint"] == selftest.spec_fingerprint()
    names = {c["name"] for c in data["checks"]}
    assert "发送规则不宽于接收规则 send rule within accept rule" in names
    assert "回执签名证书 downlink 证书链 chain" in names


def test_local_selftest_compares_with_the_ddl(cli: Any) -> None:
    from conformance_path import national_ddl_dir

    ddl = national_ddl_dir()
    data = json.loads(invoke("exchange", "selftest", "--json", "--ddl", str(ddl)).output)
    (check,) = [c for c in data["checks"] if c["name"].startswith("与国家 DDL")]
    assert check["ok"] and "57 张表逐列一致" in check["detail"]


def test_a_spec_wider_than_it_accepts_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = national.UP_TABLES["up_pro_result"]
    columns = tuple(
        national.Column(c.name, c.kind, 300, c.required, c.comment) if c.name == "remark" else c
        for c in spec.columns
    )
    # send up to 300 characters, accept only 300: consistent; now accept fewer than we send
    wider = tuple(
        national.Column(c.name, c.kind, c.length, c.required, c.comment, None, 100)
        if c.name == "remark"
        else c
        for c in columns
    )
    changed = national.NationalTable(spec.name, spec.comment, spec.key_column, wider, spec.feedback_table)
    monkeypatch.setitem(national.UP_TABLES, spec.name, changed)
    (check,) = [c for c in selftest.check_specs(None) if c.name.startswith("发送规则")]
    assert not check.ok and "up_pro_result" in check.detail


def test_sample_rows_sit_at_the_send_limits() -> None:
    spec = national.UP_TABLES["up_task_directory"]
    row = selftest.sample_row(spec, national.parse_compact("20261206090000"))
    assert (
        len(row["by_law"]) == 256 and row["task_version"] == 1 and row["plan_cancel_date"] == "20261206090000"
    )
    broken = selftest.broken_row(spec, national.parse_compact("20261206090000"))
    assert broken is not None and broken[1] not in broken[0]


def test_round_trip_against_a_peer_node(joined: tuple[Node, Node]) -> None:
    province, national_node = joined
    with national_node.uow() as session:
        before = session.scalar(select(func.count()).select_from(ExchangeLog))
    report = selftest.run(
        province.runtime, against=national_node.settings.public_url, client=national_node.client
    )
    assert report.ok, report.as_text()
    trips = [c for c in report.checks if c.group.startswith("签名往返")]
    # every national table, and the peer's spec fingerprint
    assert len(trips) == len(national.UP_TABLES) + len(national.DN_TABLES) + 1
    assert all("回执已验签" in c.detail for c in trips[:-1])
    assert trips[-1].name.startswith("对端国家表规格指纹") and trips[-1].detail == "与本节点一致"
    text = report.as_text()
    assert "up_lic_data" in text and "dn_audit_item_condition" in text and "未通过" not in text
    # Nothing was applied or stored at the peer; the test is in its exchange log.
    with national_node.uow() as session:
        assert session.scalar(select(func.count()).select_from(ExchangeInbox)) == 0
        assert session.scalar(select(func.count()).select_from(ExchangeAggregate)) == 0
        kinds = session.scalars(select(ExchangeLog.kind).where(ExchangeLog.seq > (before or 0))).all()
        assert kinds.count("selftest.received") == len(trips) - 1


def test_round_trip_reports_a_peer_that_disagrees(
    joined: tuple[Node, Node], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The peer (same process) reads remark of up_pro_result as 10 characters at most: the sample row
    at our send limit comes back refused, with the column, and the report fails."""
    province, national_node = joined
    spec = national.UP_TABLES["up_pro_result"]
    narrow = tuple(
        national.Column(c.name, c.kind, 10, c.required, c.comment) if c.name == "remark" else c
        for c in spec.columns
    )
    real_answer = selftest.answer

    def peer_answer(session: Any, runtime: Any, envelope: Any) -> dict[str, Any]:
        with monkeypatch.context() as patch:
            patch.setitem(
                national.UP_TABLES,
                spec.name,
                national.NationalTable(spec.name, spec.comment, spec.key_column, narrow, spec.feedback_table),
            )
            return real_answer(session, runtime, envelope)

    monkeypatch.setattr(selftest, "answer", peer_answer)
    report = selftest.run(
        province.runtime,
        against=national_node.settings.public_url,
        client=national_node.client,
        tables=["up_pro_result", "up_pro_accept"],
    )
    assert not report.ok
    failed = [c for c in report.checks if not c.ok]
    assert [c.name.split()[0] for c in failed] == ["up_pro_result", "对端国家表规格指纹"]
    assert "样例行被拒收" in failed[0].detail and "remark" in failed[0].detail


def test_round_trip_needs_a_joined_node(province: Node, national: Node) -> None:
    report = selftest.run(province.runtime, against=national.settings.public_url, client=national.client)
    assert not report.ok
    assert any(c.name == "上行证书 uplink" and "exchange join" in c.detail for c in report.checks)


def test_a_batch_signed_by_an_unknown_node_is_refused(joined: tuple[Node, Node]) -> None:
    _province, national_node = joined
    answer = national_node.client.post("/exchange/v1/selftest", content=b'{"protocol": "x"}')
    assert answer.status_code in (403, 422) and answer.json()["detail"]
