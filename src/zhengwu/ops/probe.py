"""Synthetic journey probe (合成巡检): walks a citizen's public journey against a running node over HTTP —
home page → search → a service guide → public license verification — and reports pass or fail and the time
of each step. ``zhengwu ops probe`` runs it once; the worker runs it every ``ZHENGWU_OPS__PROBE_MINUTES``
and records the result (``ops_probe_run``), which ``/metrics`` and ``/_status`` show.

The verification step asks about a well-formed identifier no node issues: the answer must be the minimal
"not valid" answer (it is a real verification: the node records it as a usage of licenses, caller public).
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

import httpx
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.config import Settings
from zhengwu.kernel.session import unit_of_work
from zhengwu.ops.models import ProbeRun

#: Well-formed (check character included) and never issued: serial PROBE0000 of a test issuer.
PROBE_LICENSE: Final = "1.2.156.3005.2.11100000000013338W011.11430000006122244L.PROBE0000.001.L"
PROBE_HOLDER: Final = "PROBE00000"
KEPT: Final = timedelta(days=7)
_ITEM = re.compile(r'href="/items/([0-9A-Za-z]+)"')


@dataclass
class Step:
    """One step of the journey."""

    name: str
    label: str
    ok: bool = False
    status: int | None = None
    seconds: float = 0.0
    detail: str = ""


@dataclass
class Result:
    """The whole journey: ok when every step that ran passed."""

    url: str
    started_at: datetime
    steps: list[Step] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.steps if s.detail != "skipped")

    @property
    def seconds(self) -> float:
        return round(sum(s.seconds for s in self.steps), 3)

    def as_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "started_at": self.started_at.isoformat(),
            "ok": self.ok,
            "seconds": self.seconds,
            "steps": [asdict(s) for s in self.steps],
        }


def _timed(client: httpx.Client, step: Step, method: str, path: str, **kwargs: Any) -> httpx.Response | None:
    started = time.perf_counter()
    try:
        response = client.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        step.seconds = round(time.perf_counter() - started, 3)
        step.detail = f"连接失败：{type(exc).__name__}"
        return None
    step.seconds = round(time.perf_counter() - started, 3)
    step.status = response.status_code
    return response


def _says_not_valid(answer: httpx.Response) -> bool:
    try:
        body = answer.json()
    except ValueError:  # a proxy's error page, not the node's answer
        return False
    return isinstance(body, dict) and body.get("valid") is False


def run(
    url: str, *, query: str = "办理", timeout: float = 10.0, transport: httpx.BaseTransport | None = None
) -> Result:
    """Walk the journey against the node at ``url``; never raises for what the node answers."""
    result = Result(url=url.rstrip("/"), started_at=utcnow())
    with httpx.Client(
        base_url=result.url, timeout=timeout, follow_redirects=False, transport=transport
    ) as client:
        home = Step("home", "首页")
        result.steps.append(home)
        answer = _timed(client, home, "GET", "/")
        home.ok = answer is not None and answer.status_code == 200 and "<html" in answer.text
        search = Step("search", "搜索事项")
        result.steps.append(search)
        answer = _timed(client, search, "GET", "/search", params={"q": query})
        search.ok = answer is not None and answer.status_code == 200
        found = _ITEM.search(answer.text) if search.ok and answer is not None else None
        guide = Step("guide", "办事指南")
        result.steps.append(guide)
        if found is None:
            guide.ok, guide.detail = search.ok, "skipped" if search.ok else "搜索失败"
        else:
            answer = _timed(client, guide, "GET", f"/items/{found.group(1)}")
            guide.ok = answer is not None and answer.status_code == 200
        verify = Step("verify", "电子证照公开核验")
        result.steps.append(verify)
        answer = _timed(
            client,
            verify,
            "POST",
            "/api/v1/licenses/verify",
            json={"identifier": PROBE_LICENSE, "holder_code": PROBE_HOLDER},
        )
        verify.ok = answer is not None and answer.status_code == 200 and _says_not_valid(answer)
    for step in result.steps:
        if not step.ok and not step.detail:
            step.detail = f"HTTP {step.status}"
    return result


def record(session: Session, result: Result) -> ProbeRun:
    """Keep ``result`` (and forget runs older than a week), in the caller's transaction."""
    row = ProbeRun(
        started_at=result.started_at,
        url=result.url[:500],
        ok=result.ok,
        seconds=result.seconds,
        steps=[asdict(s) for s in result.steps],
    )
    session.add(row)
    session.execute(delete(ProbeRun).where(ProbeRun.started_at < utcnow() - KEPT))
    return row


def latest(session: Session) -> ProbeRun | None:
    """The newest recorded run."""
    return session.scalars(select(ProbeRun).order_by(ProbeRun.started_at.desc()).limit(1)).first()


def target(settings: Settings) -> str:
    """Where the worker's probe goes: the probe URL, else the node's public URL."""
    return settings.ops.probe_url or settings.public_url


def run_if_due(factory: sessionmaker[Session], settings: Settings) -> Result | None:
    """Run and record the probe when ``ZHENGWU_OPS__PROBE_MINUTES`` passed since the last run (worker)."""
    minutes = settings.ops.probe_minutes
    if minutes == 0:
        return None
    with unit_of_work(factory) as session:
        last = latest(session)
        if last is not None and utcnow() - last.started_at < timedelta(minutes=minutes):
            return None
    result = run(target(settings), query=settings.ops.probe_query, timeout=settings.ops.probe_timeout_seconds)
    with unit_of_work(factory) as session:
        record(session, result)
    return result
