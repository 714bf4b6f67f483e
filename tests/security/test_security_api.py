"""GET /api/v1/security/events for the security administrator; the node's own signals become events."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from security_kit import transaction
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhengwu.identity import service as identity
from zhengwu.identity.deps import COOKIE
from zhengwu.kernel.logging import get_logger
from zhengwu.kernel.node import node_of
from zhengwu.orgs.models import Department
from zhengwu.security import service, signals, wiring
from zhengwu.security.models import SecurityEvent

pytestmark = pytest.mark.db


def _staff(session: Session, roles: list[str], *, factor: bool = True) -> str:
    office = session.scalar(select(Department).where(Department.credit_code == "11130000MB0000001X"))
    if office is None:
        office = Department(
            credit_code="11130000MB0000001X", name="河北省网络安全中心", division_code="130000", level=2
        )
        session.add(office)
        session.flush()
    account = identity.register_staff(
        session, name="安全管理员", login_name=f"sec{len(roles)}{int(factor)}{roles[0]}", password="Sec-Passw0rd-2026",
        department_id=office.id, roles=roles,
    )  # fmt: skip
    token = identity.start_session(session, account, amr=["pwd", "otp"] if factor else ["pwd"]).token
    session.flush()
    return str(token)


def _get(client: Any, token: str, url: str = "/api/v1/security/events") -> Any:
    client.cookies.clear()
    client.cookies.set(COOKIE, token)
    return client.get(url)


def test_the_security_administrator_reads_events_page_by_page(
    client: Any, session: Session, tmp_path: Path
) -> None:
    log = tmp_path / "audit.json"
    log.write_text("".join(transaction(n, second=n) + "\n" for n in range(3)))
    service.ingest_waf(session, log, bus=None)
    token = _staff(session, ["security_admin"])
    answer = _get(client, token, "/api/v1/security/events?limit=2&min_severity=high")
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-total-count"] == "3" and 'rel="next"' in answer.headers["link"]
    first = answer.json()[0]
    assert first["event_type"] == "waf.blocked" and first["severity_label"] == "高"
    assert first["type_label"] == "Web 应用防火墙拦截了请求" and first["detail"]["rules"] == [
        "942100",
        "949110",
    ]
    assert _get(client, token, "/api/v1/security/events?min_severity=urgent").status_code == 422


def test_the_platform_administrator_and_a_missing_factor_are_refused(client: Any, session: Session) -> None:
    platform = _get(client, _staff(session, ["platform_admin"]))
    assert platform.status_code == 403 and platform.json()["code"] == "security.forbidden"
    assert _get(client, _staff(session, ["security_admin"], factor=False)).status_code == 401


def test_marked_log_lines_become_events_summarised_by_kind(app: Any, session: Session) -> None:
    node = node_of(app)
    buffer = node.services.provide(signals.SIGNAL_BUFFER)
    signals.attach(buffer)
    try:
        log = get_logger("zhengwu.security")
        for _ in range(3):
            log.warning("rate_limited", limiter="identity.login", security_event=True)
        get_logger("zhengwu.exchange.receiving").warning(
            "exchange_document_refused",
            code="exchange.signature_invalid",
            sender="hebei",
            security_event=True,
        )
        log.warning("rate_limited", limiter="identity.login")  # not marked: not a signal
        logging.getLogger("zhengwu.other").warning("plain stdlib line")
    finally:
        signals.detach(buffer)
    assert wiring.flush(node) == 2
    rows = {r.event_type: r for r in session.scalars(select(SecurityEvent))}
    assert (
        rows["node.rate_limited"].count == 3
        and rows["node.rate_limited"].detail["limiter"] == "identity.login"
    )
    refused = rows["exchange.document_refused"]
    assert refused.severity == "high" and refused.detail["sender"] == "hebei" and refused.count == 1
    assert wiring.flush(node) == 0  # taken once


def test_an_overflowing_buffer_counts_what_it_could_not_keep() -> None:
    buffer = signals.SignalBuffer(capacity=2)
    for _ in range(5):
        buffer.emit(logging.LogRecord("zhengwu.security", logging.WARNING, __file__, 1,
                                      {"event": "rate_limited", "security_event": True}, None, None))  # fmt: skip
    lines, overflowed = buffer.take()
    assert len(lines) == 2 and overflowed == 3


def test_the_overflow_becomes_an_event_of_its_own(session: Session) -> None:
    line = signals.Signal("rate_limited", service.utcnow(), ())
    assert signals.store(session, [line], 7, bus=None) == 2
    overflow = session.scalar(
        select(SecurityEvent).where(SecurityEvent.event_type == "security.signals_overflowed")
    )
    assert overflow is not None and overflow.count == 7


def test_a_running_server_stores_its_signals_at_the_latest_when_it_stops(app: Any, session: Session) -> None:
    from fastapi.testclient import TestClient

    with TestClient(app):  # the lifespan attaches the buffer and starts the flusher
        get_logger("zhengwu.identity.audit").warning(
            "identity_account_locked", security_event=True, reason="mfa"
        )
    (locked,) = session.scalars(select(SecurityEvent).where(SecurityEvent.event_type == "identity.locked"))
    assert locked.severity == "medium" and locked.detail == {
        "signal": "identity_account_locked",
        "reason": "mfa",
    }
    assert signals.SignalBuffer() not in logging.getLogger("zhengwu").handlers
    assert not any(isinstance(h, signals.SignalBuffer) for h in logging.getLogger("zhengwu").handlers)


def test_a_request_stores_the_signals_collected_before_it(
    app: Any, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi.testclient import TestClient

    monkeypatch.setattr(wiring, "FLUSH_SECONDS", 0.0)  # due at once: no waiting in a test
    with TestClient(app) as running:
        get_logger("zhengwu.security").warning("rate_limited", limiter="catalog.search", security_event=True)
        assert running.get("/_status").status_code == 200
        stored = session.scalars(select(SecurityEvent).where(SecurityEvent.event_type == "node.rate_limited"))
        assert [e.detail["limiter"] for e in stored] == ["catalog.search"]  # before the server stops
