"""``zhengwu portal notices|style``: publish, list, withdraw; a refusal in plain Chinese with exit 1; the
style shown and an offer that does not exist refused."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from clikit import cli_node, invoke
from zhengwu.kernel.events import OutboxRecord
from zhengwu.portal import notices


@pytest.fixture
def node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[sessionmaker[Session]]:
    yield from cli_node(
        tmp_path, monkeypatch, ZHENGWU_NODE_ID="hebei", ZHENGWU_PORTAL__TITLE="河北政务服务网"
    )


def test_publish_list_withdraw(node: sessionmaker[Session]) -> None:
    made = invoke(
        "portal",
        "notices",
        "publish",
        "--title",
        "春节期间办事安排",
        "--body",
        "窗口2月1日起照常。",
        "--json",
    )
    assert made.exit_code == 0, made.output
    entry = json.loads(made.output.strip().splitlines()[-1])
    assert (entry["kind"], entry["local"], entry["origin_name"]) == ("notice", True, "河北政务服务网")
    column = invoke(
        "portal",
        "notices",
        "publish",
        "--column",
        "--title",
        "国家政务服务平台",
        "--url",
        "https://gjzwfw.www.gov.cn/",
    )
    assert column.exit_code == 0, column.output
    listed = json.loads(invoke("portal", "notices", "list", "--json").output.strip().splitlines()[-1])
    assert listed["total"] == 1 and listed["entries"][0]["title"] == "春节期间办事安排"
    assert "国家政务服务平台" in invoke("portal", "notices", "list", "--column").output
    with node() as session:  # queued for the lower nodes in the same transaction
        queued = session.scalar(
            select(func.count()).select_from(OutboxRecord).where(OutboxRecord.topic == notices.NOTICE_TOPIC)
        )
        assert queued == 2
    assert invoke("portal", "notices", "withdraw", entry["id"]).exit_code == 0
    assert (
        json.loads(invoke("portal", "notices", "list", "--json").output.strip().splitlines()[-1])["total"]
        == 0
    )
    bad = invoke(
        "portal", "notices", "publish", "--column", "--title", "链接", "--url", "javascript:alert(1)"
    )
    assert bad.exit_code == 1 and "链接地址" in bad.output


def test_style_show_offer_adopt(node: sessionmaker[Session]) -> None:
    shown = json.loads(invoke("portal", "style", "show", "--json").output.strip().splitlines()[-1])
    assert shown["look"]["title"] == "河北政务服务网" and shown["offers"] == []
    assert invoke("portal", "style", "offer").exit_code == 0
    missing = invoke("portal", "style", "adopt", "national")
    assert missing.exit_code == 1 and "尚未下发页面样式" in missing.output
    assert invoke("portal", "style", "adopt", "--own").exit_code == 0
    assert invoke("portal", "style", "adopt").exit_code == 1


def test_the_offer_carries_the_logo_bytes(node: sessionmaker[Session], tmp_path: Path) -> None:
    svg = tmp_path / "logo.svg"
    svg.write_bytes(b"<svg xmlns='http://www.w3.org/2000/svg'/>")
    refused = invoke("portal", "style", "offer", "--logo", str(svg))
    assert refused.exit_code == 1 and "PNG 或 JPEG" in refused.output
    assert invoke("portal", "style", "offer", "--logo", str(tmp_path / "missing.png")).exit_code == 1
    png = tmp_path / "logo.png"
    png.write_bytes(
        (Path(__file__).resolve().parents[2] / "src/zhengwu/portal/static/icon-192.png").read_bytes()
    )
    assert invoke("portal", "style", "offer", "--logo", str(png)).exit_code == 0
    with node() as session:
        sent = session.scalars(select(OutboxRecord).where(OutboxRecord.topic == notices.STYLE_TOPIC)).all()
        assert len(sent) == 1, "the refused offers queued nothing"
        assert base64.b64decode(sent[0].payload["logo"]) == png.read_bytes()
        assert sent[0].payload["logo_type"] == "image/png" and sent[0].payload["logo_url"] == ""
