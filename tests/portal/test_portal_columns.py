"""栏目 (办事资源) on a page of their own: this node's and the upper nodes' entries, newest first, who
published each, external links marked, 20 a page; withdrawn ones gone; home and 通知公告 link to it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from zhengwu.kernel.node import node_of
from zhengwu.portal import notices
from zhengwu.portal.models import PortalNotice

pytestmark = pytest.mark.db


def test_the_columns_page(client: Any, session: Session) -> None:
    settings = node_of(client.app).settings
    own = notices.publish(session, settings, kind="column", title="本省社保查询", url="/items/search",
                          body="养老、医疗参保信息", actor="test")  # fmt: skip
    upper = PortalNotice(
        notice_key="national:c1", kind="column", origin="national", origin_name="国家政务服务平台",
        title="全国一体化政务服务平台", body="全国通办事项入口", url="https://gjzwfw.www.gov.cn/",
        published_at=own.published_at - timedelta(days=1), updated_at=own.published_at,
    )  # fmt: skip
    session.add(upper)
    for n in range(21):
        notices.publish(session, settings, kind="column", title=f"资源{n:02d}", url=f"/r/{n}", actor="test")
    session.flush()
    first = client.get("/columns")
    assert first.status_code == 200 and "第 1 / 2 页" in first.text and 'href="/columns?page=2"' in first.text
    second = client.get("/columns?page=2").text
    assert "全国一体化政务服务平台" in second and "来源：国家政务服务平台" in second
    assert "外部网站" in second and 'rel="noopener"' in second
    assert "本省社保查询" in second and "来源：本平台" in second and "养老、医疗参保信息" in second
    assert "national" not in second.split('<main id="main"', 1)[1], "no node codes on the page"
    assert 'href="/columns"' in client.get("/").text and 'href="/columns"' in client.get("/notices").text
    notices.withdraw(session, settings, own.id, actor="test")
    session.flush()
    assert "本省社保查询" not in client.get("/columns?page=2").text
    assert client.get("/columns?page=x").status_code == 200
