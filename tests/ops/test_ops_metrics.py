"""Per-capability metrics: counters follow committed domain events and service calls (never a rollback),
gauges follow the database at scrape time, the pool follows the engine."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from sqlalchemy import text as text_
from sqlalchemy import update

from cases_kit import Casework, login
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.metrics import CounterSpec, count
from zhengwu.kernel.node import node_of

TRIAL = CounterSpec("zhengwu_test_trials", "Trials", ("outcome",))


def _value(text: str, series: str) -> float | None:
    """The value of one exposed series (``name{labels}`` exactly as exposed), or None."""
    match = re.search(rf"^{re.escape(series)} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else None


def test_a_count_waits_for_the_commit_and_a_rollback_drops_it(client: Any) -> None:
    node = node_of(client.app)
    with node.session_factory() as session:
        count(session, TRIAL, outcome="kept")
        text = client.get("/metrics").text
        assert _value(text, 'zhengwu_test_trials_total{outcome="kept"}') is None
        session.commit()
    with node.session_factory() as session:
        session.execute(text_("SELECT 1"))  # a service counts inside the transaction of its writes
        count(session, TRIAL, outcome="dropped")
        session.rollback()
        count(session, TRIAL, outcome="kept")
        session.commit()
    text = client.get("/metrics").text
    assert _value(text, 'zhengwu_test_trials_total{outcome="kept"}') == 2.0
    assert _value(text, 'zhengwu_test_trials_total{outcome="dropped"}') is None


def test_logins_and_their_failures_are_counted(client: Any) -> None:
    series = 'zhengwu_identity_auth_events_total{event="login",outcome="failure"}'
    before = _value(client.get("/metrics").text, series) or 0.0
    for _ in range(2):
        refused = client.post(
            "/api/v1/identity/login", json={"identifier": "nobody", "password": "wrong-1234"}
        )
        assert refused.status_code in (400, 401)
    assert _value(client.get("/metrics").text, series) == before + 2


def test_public_license_verifications_are_counted(client: Any) -> None:
    from zhengwu.ops.probe import PROBE_HOLDER, PROBE_LICENSE

    series = 'zhengwu_license_uses_total{operation="verify_id",result="no_match"}'
    before = _value(client.get("/metrics").text, series) or 0.0
    asked = client.post(
        "/api/v1/licenses/verify", json={"identifier": PROBE_LICENSE, "holder_code": PROBE_HOLDER}
    )
    assert asked.status_code == 200 and asked.json()["valid"] is False
    assert _value(client.get("/metrics").text, series) == before + 1


def test_cases_are_counted_by_event_and_by_status(client: Any, casework: Casework) -> None:
    login(client, casework.citizen_token)
    made = client.post("/api/v1/cases", json=casework.body())
    assert made.status_code == 201, made.text
    case_no = made.json()["case_no"]
    login(client, casework.handler_token)
    accepted = client.post(f"/api/v1/cases/{case_no}/actions", json={"action": "accept", "opinion": "受理"})
    assert accepted.status_code == 200, accepted.text
    text = client.get("/metrics").text
    assert _value(text, "zhengwu_cases_submitted_total") == 1.0
    assert _value(text, 'zhengwu_case_transitions_total{action="accept",status="accepted"}') == 1.0
    assert _value(text, 'zhengwu_cases{status="accepted"}') == 1.0
    assert _value(text, "zhengwu_cases_overdue") == 0.0
    from zhengwu.cases.models import Case

    casework.session.execute(
        update(Case).where(Case.case_no == case_no).values(deadline=(utcnow() - timedelta(days=3)).date())
    )
    casework.session.flush()
    assert _value(client.get("/metrics").text, "zhengwu_cases_overdue") == 1.0


def test_worker_heartbeats_say_whether_a_worker_runs(client: Any, clock: Any) -> None:
    from zhengwu.ops import liveness

    node = node_of(client.app)
    assert _value(client.get("/metrics").text, "zhengwu_workers_alive") == 0.0
    with node.session_factory() as session:
        liveness.beat(session, "host-a:1", utcnow(), 3)
        session.commit()
    text = client.get("/metrics").text
    assert _value(text, "zhengwu_workers_alive") == 1.0
    assert _value(text, 'zhengwu_worker_heartbeat_age_seconds{worker="host-a:1"}') == 0.0
    clock.advance(minutes=4)
    text = client.get("/metrics").text
    assert _value(text, "zhengwu_workers_alive") == 0.0
    assert _value(text, 'zhengwu_worker_heartbeat_age_seconds{worker="host-a:1"}') == 240.0


def test_the_pool_and_license_families_are_exported(client: Any) -> None:
    text = client.get("/metrics").text
    for family in (
        "zhengwu_db_pool_size",
        "zhengwu_db_pool_checked_out",
        "zhengwu_db_pool_overflow",
        "zhengwu_licenses_issued_total",
        "zhengwu_license_uses_total",
        "zhengwu_exchange_received_lag_seconds",
    ):
        assert f"# TYPE {family.removesuffix('_total')}" in text, family
    assert (_value(text, "zhengwu_db_pool_checked_out") or 0.0) >= 0.0
