"""Portal notices, columns and the header style across tiers (issue #13's Done-when: "a notice published
on the national node appears on the province portal"): national → province → city over signed HTTP,
in-process nodes. Applied by key (again: nothing new), withdrawn by the publisher only, shown on the
portal's pages beside the lower node's own; the offered style is shown only once adopted."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import test_exchange_applying as three_tiers
from exchange_nodes import Node
from sqlalchemy import select

from zhengwu.exchange import downward
from zhengwu.exchange.models import ExchangeApplied
from zhengwu.kernel.config import PortalSettings
from zhengwu.portal import notices
from zhengwu.portal.errors import NotOurs, PortalError
from zhengwu.portal.models import PortalNotice

pytestmark = pytest.mark.db
# The three-tier fixtures of the applying tests (a city node joined below the province), used by name.
globals().update(
    {
        name: getattr(three_tiers, name)
        for name in ("city_database_url", "city_engine", "city_connection", "city", "tiers")
    }
)

BODY = "自2027年1月1日起，全国范围内推行居民身份证跨省通办。\n请提前预约。"


def _publish(node: Node, title: str, **kw: str) -> str:
    with node.uow() as session:
        notice = notices.publish(session, node.settings, title=title, actor="cli", **kw)  # type: ignore[arg-type]
        return notice.id


def _down(national: Node, province: Node, city: Node) -> tuple[int, int]:
    downward.publish(national.runtime)
    downward.publish(province.runtime)
    at_province = downward.pull(province.runtime, national.client)
    at_city = downward.pull(city.runtime, province.client)
    return at_province.rows, at_city.rows


def _titles(node: Node, kind: str = "notice") -> dict[str, str]:
    with node.uow() as session:
        rows, _ = notices.current(session, kind)
        return {n.title: n.origin for n in rows}


def test_a_national_notice_reaches_province_and_city_portals(tiers: tuple[Node, Node, Node]) -> None:
    national, province, city = tiers
    first = _publish(national, "关于居民身份证跨省通办的公告", kind="notice", body=BODY)
    _publish(
        national,
        "全国一体化政务服务平台",
        kind="column",
        body="国家平台入口",
        url="https://gjzwfw.www.gov.cn/",
    )
    _publish(province, "河北省政务服务网元旦值班安排", kind="notice", body="元旦期间窗口照常办理。")
    assert _down(national, province, city) == (2, 3)  # the city: two passed on + the province's own
    assert _down(national, province, city) == (0, 0)

    assert _titles(province) == {
        "关于居民身份证跨省通办的公告": "national",
        "河北省政务服务网元旦值班安排": "hebei",
    }
    assert _titles(city) == _titles(province)
    assert _titles(city, "column") == {"全国一体化政务服务平台": "national"}
    with province.uow() as session:
        log = session.scalars(select(ExchangeApplied).where(ExchangeApplied.topic == notices.NOTICE_TOPIC))
        assert {(e.outcome, e.forwarded) for e in log} == {("applied", True)}

    # The pages: home lists it with where it came from, the list and the notice itself.
    home = province.client.get("/")
    assert home.status_code == 200
    assert "关于居民身份证跨省通办的公告" in home.text and "河北省政务服务网元旦值班安排" in home.text
    assert 'href="https://gjzwfw.www.gov.cn/"' in home.text
    listing = city.client.get("/notices")
    assert listing.status_code == 200 and "本平台 ·" not in listing.text  # the city published nothing
    assert "河北省政务服务平台（测试） ·" in listing.text  # the province's, with where it came from
    match = re.search(r'href="/notices/([0-9a-f]{32})">关于居民身份证', listing.text)
    assert match is not None
    page = city.client.get(f"/notices/{match.group(1)}")
    assert page.status_code == 200 and "<p>请提前预约。</p>" in page.text and "北京时间" in page.text

    # The mobile API: the same list as data.
    answer = city.client.get("/api/v1/mobile/notices")
    assert answer.status_code == 200 and answer.headers["X-Total-Count"] == "2"
    assert {(n["title"], n["local"], n["origin_name"]) for n in answer.json()} == {
        ("关于居民身份证跨省通办的公告", False, "国家政务服务平台（测试）"),
        ("河北省政务服务网元旦值班安排", False, "河北省政务服务平台（测试）"),
    }
    assert (
        city.client.get("/api/v1/mobile/notices?kind=column").json()[0]["url"] == "https://gjzwfw.www.gov.cn/"
    )

    # Changed and withdrawn at the national node: both come down; a withdrawn notice is gone from pages.
    with national.uow() as session:
        notices.change(session, national.settings, first, title="关于居民身份证跨省通办的公告（修订）",
                       body=BODY, actor="cli")  # fmt: skip
    _down(national, province, city)
    assert "关于居民身份证跨省通办的公告（修订）" in _titles(city)
    with national.uow() as session:
        notices.withdraw(session, national.settings, first, actor="cli")
    _down(national, province, city)
    assert set(_titles(city)) == {"河北省政务服务网元旦值班安排"}
    assert city.client.get(f"/notices/{match.group(1)}").status_code == 404
    gone = city.client.get(f"/api/v1/mobile/notices/{match.group(1)}")
    assert gone.status_code == 404 and gone.json()["code"] == "portal.notice_not_found"

    # A lower node changes nothing that came from above.
    with province.uow() as session:
        received = session.scalar(select(PortalNotice).where(PortalNotice.origin == "national"))
        assert received is not None
        with pytest.raises(NotOurs):
            notices.withdraw(session, province.settings, received.id, actor="cli")


def test_the_offered_style_is_shown_once_adopted(tiers: tuple[Node, Node, Node]) -> None:
    national, province, city = tiers
    national.settings.portal = PortalSettings(
        title="国家政务服务平台", header_colour="#0b3d91", footer="国务院办公厅主办"
    )
    with national.uow() as session:
        notices.offer_style(session, national.settings, actor="cli")
    _down(national, province, city)
    assert "#0b3d91" not in province.client.get("/").text  # offered, not adopted
    with city.uow() as session:
        assert [o.origin for o in notices.offers(session)] == ["national"]  # passed on too
    with province.uow() as session:
        notices.adopt_style(session, "national", actor="cli")
    home = province.client.get("/").text
    assert "--brand: #0b3d91" in home and "国务院办公厅主办" in home and "国家政务服务平台" in home
    with province.uow() as session:
        notices.adopt_style(session, None, actor="cli")
    assert "#0b3d91" not in province.client.get("/").text


def test_bad_entries_are_refused_in_plain_chinese(tiers: tuple[Node, Node, Node]) -> None:
    national, _province, _city = tiers
    with pytest.raises(PortalError) as refused, national.uow() as session:
        notices.publish(
            session, national.settings, kind="column", title="链接", url="javascript:alert(1)", actor="cli"
        )
    assert "链接地址" in refused.value.detail
    with pytest.raises(PortalError) as refused, national.uow() as session:
        notices.publish(session, national.settings, kind="notice", title="  ", actor="cli")
    assert "标题" in refused.value.detail and "正文" in refused.value.detail
    assert not notices.readable_on_white("#ffcc00") and notices.readable_on_white("#b5121b")


LOGO = (Path(__file__).resolve().parents[2] / "src/zhengwu/portal/static/icon-192.png").read_bytes()


def test_the_logo_travels_with_the_style_as_bytes(tiers: tuple[Node, Node, Node]) -> None:
    national, province, city = tiers
    national.settings.portal = PortalSettings(title="国家政务服务平台", header_colour="#0b3d91")
    with national.uow() as session:
        sent = notices.offer_style(session, national.settings, actor="cli", logo=LOGO)
    assert sent["logo_url"] == "" and sent["logo_type"] == "image/png"
    _down(national, province, city)
    with province.uow() as session:
        notices.adopt_style(session, "national", actor="cli")
    home = province.client.get("/").text
    found = re.search(r'<img src="(/portal/style/national/logo\?v=\d+)"', home)
    assert found is not None, "the province shows the logo from its own address"
    served = province.client.get(found.group(1))
    assert (
        served.status_code == 200 and served.content == LOGO and served.headers["content-type"] == "image/png"
    )
    assert served.headers["x-content-type-options"] == "nosniff"
    # The province passes its adopted look on: the city receives the same bytes in the province's offer.
    with province.uow() as session:
        notices.offer_style(session, province.settings, actor="cli")
    _down(national, province, city)
    with city.uow() as session:
        assert {o.origin: notices.offered_logo(session, o.origin) for o in notices.offers(session)} == {
            "national": (LOGO, "image/png"), province.settings.node_id: (LOGO, "image/png")}  # fmt: skip
        notices.adopt_style(session, province.settings.node_id, actor="cli")
    assert city.client.get(f"/portal/style/{province.settings.node_id}/logo").content == LOGO
    assert city.client.get("/portal/style/nowhere/logo").status_code == 404


@dataclass(frozen=True)
class _Row:
    row: dict[str, Any]
    row_guid: str = "g1"
    sender: str = "national"
    origin: str = "national"
    business_key: str = "national"
    operation: str = "U"
    order: int = 1


def test_a_logo_that_is_not_a_small_png_or_jpeg_is_refused(tiers: tuple[Node, Node, Node]) -> None:
    _national, province, _city = tiers
    base = {"origin": "national", "origin_name": "国家", "header_colour": "#0b3d91",
            "offered_at": "2026-12-06T08:00:00+00:00"}  # fmt: skip
    svg = base64.b64encode(b"<svg xmlns='http://www.w3.org/2000/svg'><script/></svg>").decode()
    big = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 70_000).decode()
    lying = base64.b64encode(LOGO).decode()
    rows = [
        _Row({**base, "logo": svg, "logo_type": "image/svg+xml"}, row_guid="svg"),
        _Row({**base, "logo": big, "logo_type": "image/png"}, row_guid="big"),
        _Row({**base, "logo": lying, "logo_type": "image/jpeg"}, row_guid="lying"),
        _Row({**base, "logo": "不是base64"}, row_guid="garbled"),
    ]
    with province.uow() as session:
        refused = notices.style_applier(province.settings)(session, rows)  # type: ignore[arg-type]
        assert set(refused) == {"svg", "big", "lying", "garbled"}
        assert all(r.reason.startswith("页面样式无法采用") for r in refused.values())
        assert "PNG 或 JPEG" in refused["svg"].reason and "64 KB" in refused["big"].reason
        assert "不符" in refused["lying"].reason
        assert notices.offers(session) == []
