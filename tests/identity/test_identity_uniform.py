"""Answers that could tell whether an account, an ID number or a phone exists read the same (ADR 0014).

Login: a run of failed attempts answers the same sequence for an unknown identifier as for a real
account (wrong password, lock, rate limit, end of the lock). Registration: a new ID number, a registered
one and a phone bound to another account get the same answer; the owner is told through the notifier.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhengwu.identity.models import Account, AuthEvent
from zhengwu.identity.notifier import FileNotifier
from zhengwu.kernel import clock
from zhengwu.kernel.node import node_of
from zhengwu.seed.synthetic import nth_citizen_id, nth_phone

API = "/api/v1/identity"
PASSWORD = "Demo-Passw0rd"


def _register(client: Any, n: int, *, phone: int | None = None, name: str = "演示用户一") -> Any:
    body = {
        "name": name,
        "id_number": nth_citizen_id(n),
        "phone": nth_phone(phone or n),
        "password": PASSWORD,
    }
    return client.post(f"{API}/register/natural", json=body)


def _answers(
    client: Any, identifier: str, attempts: int, password: str = "Wrong-Passw0rd"
) -> list[tuple[int, str]]:
    answers = []
    for _ in range(attempts):
        response = client.post(f"{API}/login", json={"identifier": identifier, "password": password})
        answers.append((response.status_code, response.json()["code"]))
    return answers


@pytest.fixture
def later() -> Iterator[Any]:
    """Move the clock forward (restored afterwards)."""

    def move(minutes: int) -> None:
        moment = clock.utcnow() + timedelta(minutes=minutes)
        clock.set_clock(lambda: moment)

    yield move
    clock.set_clock(None)


def test_a_failed_login_run_reads_the_same_for_known_and_unknown_identifiers(client: Any, later: Any) -> None:
    assert _register(client, 41).status_code == 202
    known = _answers(client, nth_phone(41), 7)
    unknown = _answers(client, nth_phone(42), 7)  # nobody has this number
    assert known == unknown
    assert known[:4] == [(401, "identity.invalid_credentials")] * 4
    assert known[4:] == [(423, "identity.account_locked")] * 3
    # The right password does not open a locked account, and an unknown identifier answers alike.
    assert _answers(client, nth_phone(41), 1, PASSWORD) == _answers(client, nth_phone(42), 1, PASSWORD)
    later(16)  # the lock is over for both; fresh failures count from zero again
    assert (
        _answers(client, nth_phone(41), 2)
        == _answers(client, nth_phone(42), 2)
        == [(401, "identity.invalid_credentials")] * 2
    )


def test_registration_answers_alike_and_tells_the_owner(client: Any, app: Any, session: Session) -> None:
    fresh = _register(client, 43)
    known_id = _register(client, 43, phone=44, name="冒名者")  # the ID number is registered
    known_phone = _register(client, 45, phone=43)  # the phone is bound to the first account
    assert fresh.status_code == known_id.status_code == known_phone.status_code == 202
    assert fresh.json() == known_id.json() == known_phone.json()
    assert session.scalar(select(func.count()).select_from(Account)) == 1
    sent = FileNotifier(node_of(app).settings.data_dir).messages()
    assert [(m["to"], m["subject"]) for m in sent] == [(nth_phone(43), "注册提醒")] * 2
    assert "身份证号码" in sent[0]["body"] and "手机号码" in sent[1]["body"]
    assert all(nth_citizen_id(43) not in m["body"] for m in sent)
    notices = session.scalars(select(AuthEvent).where(AuthEvent.event_type == "registration_notice")).all()
    assert [n.success for n in notices] == [True, True]
    # The existing owner can still log in with their own password; the second password opens nothing.
    login = client.post(f"{API}/login", json={"identifier": nth_citizen_id(43), "password": PASSWORD})
    assert login.status_code == 200
