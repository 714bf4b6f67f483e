"""Verification services (共享核验): authorised clients only, minimum answers without echo, rate limits,
an audit row per query, answered by the national registries directly or by a province over the exchange
with a short cache."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from exchange_nodes import Node, token
from sqlalchemy import select, update

from zhengwu.exchange.models import VerificationAudit, VerificationCache
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.events import emit
from zhengwu.seed import registries as registry_seed

pytestmark = pytest.mark.db


def ask(node: Node, kind: str, body: dict[str, Any], bearer: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    return node.client.post(f"/api/v1/verify/{kind}", json=body, headers=headers)


@pytest.fixture
def seeded(national: Node) -> Node:
    with national.uow() as session:
        added = registry_seed.seed_registries(session, national.settings, people_count=50, companies_count=10)
    assert added == {"people": 50, "companies": 10, "licenses": 10}
    return national


def test_national_answers_from_its_registries(seeded: Node) -> None:
    national = seeded
    bearer = token(national)
    person = registry_seed.people(50)[7]
    good = ask(
        national, "person", {"name": person.name, "id_number": person.id_number, "purpose": "测试"}, bearer
    )
    assert good.status_code == 200 and good.json()["match"] is True and good.json()["status"] == "正常"
    assert person.name not in good.text and person.id_number not in good.text  # never echoed
    wrong = ask(national, "person", {"name": "演示冒名", "id_number": person.id_number}, bearer)
    assert wrong.json()["match"] is False and wrong.json()["status"] is None

    company = registry_seed.companies(10)[3]
    body = {
        "credit_code": company.credit_code,
        "name": company.name,
        "legal_representative": company.legal_representative,
    }
    answer = ask(national, "legal-person", body, bearer).json()
    assert answer["match"] and answer["status"] == "存续" and answer["entity_type"] == company.entity_type
    answer = ask(national, "legal-person", {**body, "legal_representative": "演示他人"}, bearer).json()
    assert answer["match"] is False

    lic = registry_seed.licenses(registry_seed.companies(10))[3]
    by_name = ask(national, "license", {"identifier": lic.identifier, "holder": lic.holder}, bearer).json()
    by_code = ask(
        national, "license", {"identifier": lic.identifier, "holder": lic.holder_code}, bearer
    ).json()
    assert by_name["match"] and by_code["match"] and by_name["license_type"] == lic.license_type

    with national.uow() as session:
        audits = list(session.scalars(select(VerificationAudit)))
    assert len(audits) == 6 and {a.answered_by for a in audits} == {"registry"}
    assert all(person.id_number not in (a.query_index + (a.purpose or "")) for a in audits)


def test_invalid_query_is_refused_without_echo(seeded: Node) -> None:
    bearer = token(seeded)
    answer = ask(seeded, "person", {"name": "演示", "id_number": "110101199003070000"}, bearer)
    assert answer.status_code == 422 and "110101199003070000" not in answer.text
    assert (
        ask(seeded, "person", {"name": "演示", "id_number": "1" * 18, "extra": 1}, bearer).status_code == 422
    )


def test_only_authorised_clients(seeded: Node) -> None:
    person = registry_seed.people(1)[0]
    body = {"name": person.name, "id_number": person.id_number}
    assert ask(seeded, "person", body, None).status_code == 401
    assert ask(seeded, "person", body, "not-a-token").status_code == 401
    narrow = token(seeded, scope="verify:license")
    denied = ask(seeded, "person", body, narrow)
    assert denied.status_code == 403 and denied.json()["code"] == "exchange.verification_forbidden"


@pytest.mark.parametrize("store", ["database", "memory"])
def test_rate_limited(seeded: Node, store: str) -> None:
    seeded.runtime.settings.security.rate_limit_store = store  # type: ignore[assignment]
    seeded.runtime.settings.exchange.verify_rate_per_minute = 6  # burst of 1
    seeded.runtime.extras.pop("verify_limiter", None)
    bearer = token(seeded)
    person = registry_seed.people(1)[0]
    body = {"name": person.name, "id_number": person.id_number}
    assert ask(seeded, "person", body, bearer).status_code == 200
    limited = ask(seeded, "person", body, bearer)
    assert limited.status_code == 429 and limited.json()["code"] == "exchange.verification_rate_limited"
    with seeded.uow() as session:
        outcomes = sorted(a.outcome for a in session.scalars(select(VerificationAudit)))
    assert outcomes == ["match", "refused"]


def test_province_asks_upward_with_a_short_cache(joined: tuple[Node, Node]) -> None:
    province, national = joined
    with national.uow() as session:
        registry_seed.seed_registries(session, national.settings, people_count=20, companies_count=2)
    province.runtime.extras["verify_client"] = national.client
    bearer = token(province)
    person = registry_seed.people(20)[5]
    body = {"name": person.name, "id_number": person.id_number}
    first = ask(province, "person", body, bearer)
    assert first.status_code == 200 and first.json()["match"] is True
    second = ask(province, "person", body, bearer)
    assert second.json()["match"] is True
    with province.uow() as session:
        assert [a.answered_by for a in session.scalars(select(VerificationAudit).order_by(VerificationAudit.at))] == [
            "upstream", "cache",
        ]  # fmt: skip
    with national.uow() as session:
        asked = list(session.scalars(select(VerificationAudit)))
    assert len(asked) == 1 and asked[0].caller_node == "hebei" and asked[0].answered_by == "registry"
    # After the cache expires the province asks again; when the upstream is down it says so (503).
    with province.uow() as session:
        session.execute(update(VerificationCache).values(expires_at=utcnow() - timedelta(seconds=1)))

    class Down(httpx.Client):
        def post(self, *args: Any, **kwargs: Any) -> httpx.Response:
            raise httpx.ConnectError("down")

    province.runtime.extras["verify_client"] = Down()
    down = ask(province, "person", body, bearer)
    assert down.status_code == 503 and person.name not in down.text


def test_uploaded_licenses_become_verifiable(joined: tuple[Node, Node]) -> None:
    from exchange_nodes import http_transport

    from zhengwu.exchange.relay import Relay

    province, national = joined
    companies = registry_seed.companies(2)
    lic = registry_seed.licenses(companies)[1]
    row = {"certificate_source_id": lic.identifier, "certificate_name": "演示营业执照", "certificate_number": "2",
           "certificate_type": lic.license_type, "certificate_type_code": registry_seed.license_type_code(),
           "certificate_holder": lic.holder, "certificate_holder_code": lic.holder_code,
           "issue_dept": "演示局", "issue_dept_code": lic.identifier.split(".")[6], "issue_date": "20240101",
           "certificate_area_code": "130000"}  # fmt: skip
    with province.uow() as session:
        emit(session, "licenses.up_lic_data", row, key=lic.identifier)
    assert Relay(province.runtime, http_transport(province, national)).run_once().acknowledged == 1
    bearer = token(national)
    answer = ask(national, "license", {"identifier": lic.identifier, "holder": lic.holder}, bearer).json()
    assert answer["match"] is True and answer["license_type"] == lic.license_type


def test_a_person_verified_here_sees_the_query_in_their_data_use_log(seeded: Node) -> None:
    from zhengwu.audit.models import AuditRead
    from zhengwu.identity import service as identity
    from zhengwu.portal.privacypages import data_use

    national = seeded
    bearer = token(national)
    holder, stranger = registry_seed.people(50)[7], registry_seed.people(50)[8]
    with national.uow() as session:
        account = identity.register_natural_person(session, name=holder.name, id_number=holder.id_number,
                                                   phone="13900009999", password=None)  # fmt: skip
        account_id = account.id
    # Whatever the answer: a matching name, a wrong one; a person without an account here has no log.
    for name in (holder.name, "演示冒名"):
        body = {"name": name, "id_number": holder.id_number, "purpose": "社保待遇资格认证"}
        assert ask(national, "person", body, bearer).status_code == 200
    assert ask(national, "person", {"name": stranger.name, "id_number": stranger.id_number}, bearer).json()[
        "match"
    ]
    with national.uow() as session:
        reads = list(session.scalars(select(AuditRead).where(AuditRead.what == "verification.real_name")))
        assert [(r.subject_account_id, r.purpose) for r in reads] == [(account_id, "社保待遇资格认证")] * 2
        assert all(r.reader.startswith("client:") for r in reads)
        shown, total = data_use(session, identity.get_account(session, account_id), offset=0, limit=10)
    assert total >= 2 and "读取了您的姓名和身份证号码（共享核验：与人口库比对）" in [r["what"] for r in shown]
    assert all(holder.id_number not in str(r) for r in shown)
