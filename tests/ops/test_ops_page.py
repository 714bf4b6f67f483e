"""The ops page: guarded by the staff-rights policy (ops.monitor, second factor), zh-CN, 北京时间, charts as
inline SVG from the ring of samples; the chart drawing itself."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from cases_kit import Casework, login
from zhengwu.kernel.node import node_of
from zhengwu.ops import charts, samples


def _sample(at: datetime, requests: float, seconds: float) -> samples.Sample:
    return samples.Sample(at, requests, seconds, 0, 0, 3, 120.0, 1, None, 2, 0)


def test_rates_between_samples() -> None:
    t0 = datetime(2026, 12, 6, 1, 0, tzinfo=UTC)
    points = samples.rates(
        [
            _sample(t0, 100, 10),
            _sample(t0 + timedelta(seconds=60), 220, 16),
            _sample(t0 + timedelta(seconds=120), 220, 16),
        ]
    )
    assert [round(p["rps"], 3) for p in points] == [2.0, 0.0]
    assert round(points[0]["latency_ms"], 1) == 50.0 and points[1]["latency_ms"] == 0.0


def test_a_chart_is_svg_in_beijing_time_and_escapes_its_labels() -> None:
    t0 = datetime(2026, 12, 6, 1, 0, tzinfo=UTC)  # 09:00 in Beijing
    svg = charts.line_chart("<请求>", "次/秒", [(t0, 1.0), (t0 + timedelta(minutes=30), 3.0)])
    assert svg.startswith("<svg") and "<polyline" in svg and "<请求>" not in svg and "&lt;请求&gt;" in svg
    assert "09:00" in svg and "09:30（北京时间）" in svg and ">3</text>" in svg
    assert "采样不足" in charts.line_chart("请求", "次/秒", [(t0, 1.0)])


def test_the_page_needs_the_right_and_shows_the_node(client: Any, casework: Casework) -> None:
    assert client.get("/ops").status_code == 401
    login(client, casework.handler_token)  # a department's case handler: staff, but not an operator
    assert client.get("/ops").status_code == 403
    login(client, casework.staff(["platform_admin"]))
    node = node_of(client.app)
    ring = node.services.provide(samples.RING)
    t0 = datetime.now(UTC) - timedelta(minutes=10)
    for i in range(5):
        ring.add(_sample(t0 + timedelta(minutes=i), 100 * i, 2 * i))
    page = client.get("/ops")
    assert page.status_code == 200, page.text
    html = page.text
    assert '<html lang="zh-CN">' in html and "运行监控" in html and "北京时间" in html
    assert len(re.findall(r"<svg class=\"chart\"", html)) == 9
    assert html.count("<polyline") >= 2  # request rate and latency from the ring
    assert "运行中的后台进程" in html and "尚无备份" in html


def test_the_sampler_takes_the_node_numbers_into_the_ring(client: Any) -> None:
    node = node_of(client.app)
    ring = node.services.provide(samples.RING)
    before = len(ring.samples())
    assert client.get("/_status").status_code == 200  # one request counted by this process
    samples.sample_now(node)
    taken = ring.samples()
    assert len(taken) == before + 1
    last = taken[-1]
    assert last.requests >= 1 and last.outbox_pending >= 0 and last.backup_age is None
    assert last.cases_open == 0 and last.cases_overdue == 0
