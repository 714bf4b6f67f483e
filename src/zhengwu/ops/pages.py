"""The ops page (运行监控, ``GET /ops``): the node's own numbers as charts for operators without Grafana.

Server-rendered, zh-CN, 北京时间; the charts are inline SVG drawn from the server process's ring of samples
(ops.samples). Guarded by the staff-rights policy (right ``ops.monitor``, second factor)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

import zhengwu
from zhengwu.identity.policy import StaffPrincipal, guard
from zhengwu.kernel.assets import guarded_templates
from zhengwu.kernel.clock import BEIJING, utcnow
from zhengwu.kernel.node import CurrentNode
from zhengwu.kernel.session import DbSession
from zhengwu.ops import charts, liveness, probe, rights, samples

router = APIRouter(tags=["ops 运维"])
_templates = guarded_templates(Path(__file__).parent / "templates")
Monitor = Annotated[StaffPrincipal, Depends(guard(rights.MONITOR))]


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "尚无备份"
    if seconds < 60:
        return f"{seconds:.0f} 秒"
    if seconds < 3600:
        return f"{seconds / 60:.0f} 分钟"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} 小时"
    return f"{seconds / 86400:.1f} 天"


@router.get("/ops", response_class=HTMLResponse, include_in_schema=False)
def ops_page(request: Request, session: DbSession, node: CurrentNode, _staff: Monitor) -> HTMLResponse:
    """Current state and trends of this node."""
    ring = node.services.provide(samples.RING)
    points = ring.samples()
    now = samples.take(session, node.metrics)  # the current values, not kept (GET writes nothing)
    history = [*points, now] if not points or points[-1].at < now.at else points
    rates = samples.rates(history)

    def series(key: str) -> list[tuple[Any, float]]:
        return [(p["at"], float(p[key])) for p in rates]

    def gauge(pick: Any) -> list[tuple[Any, float]]:
        return [(s.at, float(pick(s))) for s in history if pick(s) is not None]

    charts_shown = [
        ("请求速率", "次/秒", series("rps"), "#0969da"),
        ("平均响应时间", "毫秒", series("latency_ms"), "#8250df"),
        ("上报积压（最久一条）", "秒", gauge(lambda s: s.outbox_lag), "#bf8700"),
        ("待上报与放弃投递", "条", gauge(lambda s: s.outbox_pending + s.dead_letters), "#cf222e"),
        ("最近备份距今", "秒", gauge(lambda s: s.backup_age), "#1a7f37"),
        ("在办办件", "件", gauge(lambda s: s.cases_open), "#0550ae"),
        ("超期办件", "件", gauge(lambda s: s.cases_overdue), "#a40e26"),
        ("登录成功", "次/分钟", series("logins"), "#1a7f37"),
        ("登录失败", "次/分钟", series("login_failures"), "#cf222e"),
    ]
    alive = sum(1 for *_, ok in liveness.beats(session) if ok)
    last = probe.latest(session)
    if last is None:
        probe_text = "尚未运行"
    else:
        at = last.started_at.astimezone(BEIJING).strftime("%m月%d日 %H:%M")
        probe_text = f"{'通过' if last.ok else '失败'}（{at}，{last.seconds:.2f} 秒）"
    settings = node.settings
    return _templates.TemplateResponse(
        request,
        "ops.html",
        {
            "node_name": settings.node_name,
            "version": zhengwu.__version__,
            "generated": utcnow().astimezone(BEIJING).strftime("%Y年%m月%d日 %H:%M:%S"),
            "sample_seconds": settings.ops.sample_seconds,
            "kept": settings.ops.samples,
            "now": {
                "outbox_pending": now.outbox_pending,
                "outbox_lag": now.outbox_lag,
                "outbox_lag_text": _duration(now.outbox_lag) if now.outbox_pending else "无",
                "dead_letters": now.dead_letters,
                "backup_text": _duration(now.backup_age),
                "backup_bad": now.backup_age is None or now.backup_age > 3600,
                "cases_open": now.cases_open,
                "cases_overdue": now.cases_overdue,
            },
            "workers_alive": alive,
            "probe_text": probe_text,
            "probe_bad": last is not None and not last.ok,
            "charts": [
                {"caption": f"{title}（{unit}）", "svg": Markup(charts.line_chart(title, unit, pts, colour))}  # noqa: S704 - built with escape()
                for title, unit, pts, colour in charts_shown
            ],
        },
    )
