"""数字证书登录: login and step-up with an SM2 certificate from a CA trusted ``--for login`` (level 5).

The CA, the people's keys and their certificates are made here with kernel.pki, as an external CA (a
provincial 数字证书认证中心) would issue them; the node trusts that CA through the seals trust store.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cert_kit import (
    API,
    CREDIT_CODE,
    END,
    IDENTIFY_CODE,
    START,
    Ca,
    answer_challenge,
    b64,
    identify_code,
    make_ca,
)
from zhengwu.identity import certlogin
from zhengwu.identity import service as identity
from zhengwu.identity.context import of
from zhengwu.identity.models import Account, AuthEvent
from zhengwu.kernel.codes.uscc import complete_uscc, org_check_digit
from zhengwu.kernel.crypto import SM2PrivateKey
from zhengwu.kernel.pki import load_certificate
from zhengwu.kernel.pki.crl import RevokedCertificate
from zhengwu.kernel.pki.issuance import CertProfile, issue_certificate
from zhengwu.pki import authority
from zhengwu.seed.synthetic import nth_citizen_id, nth_phone

PASSWORD = "Demo-Passw0rd"


@pytest.fixture
def ca(session: Session) -> Ca:
    """A CA the node trusts for certificate login, with its current CRL."""
    made = make_ca()
    authority.add_trust_anchors(session, made.cert.der, purposes=["login"], actor="test", crl=made.crl())
    session.flush()
    return made


Prove = Callable[..., Any]


@pytest.fixture
def prove(client: Any) -> Prove:
    """Answer a challenge at login (or ``path``) with a key and its certificate."""
    return partial(answer_challenge, client)


def _person(session: Session, n: int, level: int = 2) -> Account:
    from zhengwu.identity.levels import RealNameLevel

    account = identity.register_natural_person(
        session,
        name="证书用户",
        id_number=nth_citizen_id(n),
        phone=nth_phone(n),
        password=PASSWORD,
        real_name_level=RealNameLevel(level),
    )
    session.flush()
    return account


def _refusals(session: Session, event: str = "login") -> list[str]:
    rows = session.scalars(
        select(AuthEvent).where(AuthEvent.event_type == event, AuthEvent.success.is_(False))
    ).all()
    return [r.detail.get("reason") for r in rows if r.detail.get("method") == "certificate"]


def test_a_citizen_logs_in_with_a_ukey_certificate_at_level_five(
    client: Any, session: Session, ca: Ca, prove: Prove
) -> None:
    person = _person(session, 7001)
    key, cert = ca.issue("证书用户", extensions={IDENTIFY_CODE: identify_code(nth_citizen_id(7001))})
    response = prove(key, cert)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["mfa_required"] is False and body["session"]["auth_level"] == 5
    assert body["session"]["amr"] == ["hwk"] and body["account"]["real_name_level"] == 5
    assert "set-cookie" in response.headers and nth_citizen_id(7001) not in response.text
    me = client.get(f"{API}/me").json()
    assert me["session"]["auth_level"] == 5
    session.refresh(person)
    assert person.real_name_level == 5
    raised = session.scalar(select(AuthEvent).where(AuthEvent.event_type == "real_name_level"))
    assert raised is not None and raised.detail["to"] == 5 and raised.detail["actor"] == "certificate"
    # UKey middleware often returns r‖s instead of DER: both verify.
    assert prove(key, cert, raw=True).status_code == 200


def test_replayed_expired_forged_and_foreign_signatures_are_refused(
    client: Any, session: Session, ca: Ca, prove: Prove, monkeypatch: pytest.MonkeyPatch
) -> None:
    _person(session, 7002)
    key, cert = ca.issue("证书用户", extensions={IDENTIFY_CODE: identify_code(nth_citizen_id(7002))})
    challenge = client.post(f"{API}/certificate/challenge", json={}).json()
    assert prove(key, cert, challenge=challenge).status_code == 200
    replay = prove(key, cert, challenge=challenge)
    assert replay.status_code == 401 and replay.json()["code"] == "identity.certificate_refused"
    assert "已使用" in replay.json()["detail"]
    fresh = client.post(f"{API}/certificate/challenge", json={}).json()
    forged = dict(
        fresh, challenge=fresh["challenge"][:-2] + ("AA" if fresh["challenge"][-2:] != "AA" else "BB")
    )
    assert prove(key, cert, challenge=forged).status_code == 401
    stale, _ = certlogin.new_challenge(of(session).keys, now=datetime.now(UTC).timestamp() - 600)
    old = {"challenge": stale, "message": certlogin.message("http://127.0.0.1:8000", stale).decode()}
    assert prove(key, cert, challenge=old).status_code == 401
    other_key = SM2PrivateKey.generate()
    assert prove(key, cert, sign=other_key.sign).status_code == 401
    elsewhere = client.post(f"{API}/certificate/challenge", json={}).json()
    relayed = certlogin.message("https://phishing.example", elsewhere["challenge"])
    assert prove(key, cert, challenge=elsewhere, sign=lambda _: key.sign(relayed)).status_code == 401
    reasons = _refusals(session)
    assert reasons.count("challenge_reused") == 1 and reasons.count("challenge_invalid") == 2
    assert reasons.count("signature_invalid") == 2


def test_untrusted_revoked_expired_and_unusable_certificates_are_refused(
    client: Any, session: Session, ca: Ca, prove: Prove
) -> None:
    _person(session, 7003)
    ext = {IDENTIFY_CODE: identify_code(nth_citizen_id(7003))}
    stranger = make_ca("未受信任的认证中心")
    refused = prove(*stranger.issue("证书用户", extensions=ext))
    assert refused.status_code == 401 and "不受本平台信任" in refused.json()["detail"]
    key, cert = ca.issue("证书用户", extensions=ext)
    ca.revoked.append(RevokedCertificate(cert.serial_number, datetime.now(UTC) - timedelta(minutes=5)))
    authority.add_trust_anchors(session, ca.cert.der, purposes=["login"], actor="test", crl=ca.crl(2))
    session.flush()
    revoked = prove(key, cert)
    assert revoked.status_code == 401 and "吊销" in revoked.json()["detail"]
    expired = ca.issue(
        "证书用户", extensions=ext, not_before=START, not_after=datetime.now(UTC) - timedelta(days=1)
    )
    assert "过期" in prove(*expired).json()["detail"]
    nobody = ca.issue("没有身份信息的证书")
    assert "身份证号码" in prove(*nobody).json()["detail"]
    assert {"chain_issuer_not_found", "chain_revoked", "chain_expired", "no_identity"} <= set(
        _refusals(session)
    )


def test_without_a_login_ca_the_service_says_so(client: Any, session: Session, prove: Prove) -> None:
    _person(session, 7004)
    lone = make_ca()
    response = prove(*lone.issue("证书用户", extensions={IDENTIFY_CODE: identify_code(nth_citizen_id(7004))}))
    assert response.status_code == 503 and response.json()["code"] == "identity.certificate_login_unavailable"


def test_unregistered_people_are_told_to_register_and_enterprises_log_in_as_themselves(
    client: Any, session: Session, ca: Ca, prove: Prove
) -> None:
    unknown = prove(*ca.issue("未注册用户", extensions={IDENTIFY_CODE: identify_code(nth_citizen_id(7005))}))
    assert unknown.status_code == 404 and "尚未注册" in unknown.json()["detail"]
    code = complete_uscc("91130100MA0CERT0" + org_check_digit("MA0CERT0"))
    enterprise = identity.register_legal_person(
        session, credit_code=code, name="石家庄证书科技有限公司", legal_rep_name="张三", password=PASSWORD
    )
    session.flush()
    key, cert = ca.issue(
        "石家庄证书科技有限公司",
        extensions={CREDIT_CODE: code.encode()},
        subject={"O": "石家庄证书科技有限公司"},
    )
    response = prove(key, cert)
    assert response.status_code == 200, response.text
    assert response.json()["account"]["id"] == enterprise.id and response.json()["session"]["auth_level"] == 5


def test_step_up_needs_the_logged_in_person_s_own_certificate(
    client: Any, session: Session, ca: Ca, prove: Prove
) -> None:
    _person(session, 7006, level=3)
    assert (
        client.post(f"{API}/login", json={"identifier": nth_phone(7006), "password": PASSWORD}).json()[
            "session"
        ]["auth_level"]
        == 3
    )
    _person(session, 7007)
    other = ca.issue("别人", extensions={IDENTIFY_CODE: identify_code(nth_citizen_id(7007))})
    refused = prove(*other, path="/step-up/certificate")
    assert refused.status_code == 401 and "不属于当前登录用户" in refused.json()["detail"]
    own = ca.issue("证书用户", extensions={IDENTIFY_CODE: identify_code(nth_citizen_id(7006))})
    stepped = prove(*own, path="/step-up/certificate")
    assert stepped.status_code == 200, stepped.text
    assert stepped.json()["auth_level"] == 5 and "hwk" in stepped.json()["amr"]
    assert _refusals(session, "step_up") == ["other_subject"]


def test_a_sub_ca_chain_with_a_crl_from_the_distribution_point(
    client: Any, session: Session, ca: Ca, prove: Prove
) -> None:
    _person(session, 7008)
    sub_key = SM2PrivateKey.generate()
    sub_cert = issue_certificate(
        issuer=ca.cert,
        issuer_signer=ca.key,
        subject={"C": "CN", "CN": "河北CA个人证书子CA"},
        public_key=sub_key.public_key,
        profile=CertProfile.ISSUING_CA,
        not_before=START,
        not_after=END,
    )
    sub = Ca(sub_key, sub_cert, [])
    url = "http://crl.hebca.example/sub.crl"
    fetched: list[str] = []
    authority.reset_crl_cache(lambda u: (fetched.append(u), sub.crl())[1])
    try:
        key, cert = sub.issue(
            "证书用户", extensions={IDENTIFY_CODE: identify_code(nth_citizen_id(7008))}, crl_urls=(url,)
        )
        assert prove(key, cert).status_code == 401  # the sub-CA is unknown without the chain
        response = prove(key, cert, chain=(sub_cert,))
        assert response.status_code == 200, response.text
        assert fetched == [url]
    finally:
        authority.reset_crl_cache()


@pytest.mark.parametrize(
    ("subject", "extensions", "kind"),
    [
        ({}, {IDENTIFY_CODE: b"\x13\x12" + nth_citizen_id(1).encode()}, "natural"),  # a bare PrintableString
        ({}, {IDENTIFY_CODE: b"\x0c\x14SF" + nth_citizen_id(1).encode()}, "natural"),  # a prefix, UTF8String
        ({"SERIALNUMBER": nth_citizen_id(1)}, {}, "natural"),
        ({"SERIALNUMBER": f"ID:{nth_citizen_id(1)}"}, {}, "natural"),
        ({"OU": "91130100MA0CERTXX0"}, {}, None),  # not a valid credit code: ignored
        ({"SERIALNUMBER": "WRONG-CHECK-DIGIT"}, {}, None),
    ],
)
def test_whom_a_certificate_names(
    subject: dict[str, str], extensions: dict[str, bytes], kind: str | None
) -> None:
    fixed_id = nth_citizen_id(1)
    if subject.get("SERIALNUMBER") == "WRONG-CHECK-DIGIT":
        subject = {"SERIALNUMBER": fixed_id[:-1] + ("1" if fixed_id[-1] != "1" else "2")}
    _, cert = make_ca().issue("某人", extensions=extensions, subject=subject)
    named = certlogin.certificate_subject(load_certificate(cert.der))
    if kind is None:
        assert named is None
    else:
        assert named is not None and named.kind == kind and named.number == fixed_id


def _page_token(client: Any, next_url: str = "/identity/account") -> str:
    import re

    page = client.get(f"/identity/login/certificate?next={next_url}")
    assert page.status_code == 200
    found = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
    assert found is not None
    return found.group(1)


def _fields(client: Any, key: SM2PrivateKey, cert: Any, token: str, **overrides: str) -> dict[str, str]:
    """The certificate page's form, answering a fresh challenge with ``key``."""
    got = client.post(f"{API}/certificate/challenge", json={}).json()
    return {
        "csrf_token": token,
        "next": "/identity/account",
        "challenge": got["challenge"],
        "certificate": b64(cert.der),
        "chain": "",
        "signature": b64(key.sign(got["message"].encode())),
        **overrides,
    }


def _form(client: Any, key: SM2PrivateKey, cert: Any, token: str, **overrides: str) -> Any:
    fields = _fields(client, key, cert, token, **overrides)
    return client.post("/identity/login/certificate", data=fields, follow_redirects=False)


def test_the_certificate_login_page_logs_in_through_the_ukey_agent(
    client: Any, session: Session, ca: Ca
) -> None:
    page = client.get("/identity/login/certificate?next=/identity/account")
    assert page.status_code == 200 and "数字证书登录" in page.text
    assert 'data-agent="http://127.0.0.1:18088/zhengwu/v1/sign"' in page.text
    assert '<script src="/identity/static/certlogin.js" defer></script>' in page.text
    script = client.get("/identity/static/certlogin.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert "/api/v1/identity/certificate/challenge" in script.text
    assert "使用数字证书（UKey）登录" in client.get("/identity/login").text

    person = _person(session, 7101)
    key, cert = ca.issue("证书用户", extensions={IDENTIFY_CODE: identify_code(nth_citizen_id(7101))})
    token = _page_token(client)
    done = _form(client, key, cert, token)
    assert done.status_code == 303 and done.headers["location"] == "/identity/account"
    assert "zw_session=" in done.headers["set-cookie"]
    me = client.get(f"{API}/me").json()
    assert me["session"]["auth_level"] == 5 and me["session"]["amr"] == ["hwk"]
    session.refresh(person)
    assert person.real_name_level == 5


def test_the_certificate_login_page_refuses_bad_answers_in_chinese(
    client: Any, session: Session, ca: Ca
) -> None:
    _person(session, 7102)
    key, cert = ca.issue("证书用户", extensions={IDENTIFY_CODE: identify_code(nth_citizen_id(7102))})
    token = _page_token(client)
    forged = _form(client, key, cert, token, signature=b64(SM2PrivateKey.generate().sign(b"x")))
    assert (
        forged.status_code == 401
        and "出现问题" in forged.text
        and "zw_session=" not in forged.headers.get("set-cookie", "")
    )
    garbled = _form(client, key, cert, token, certificate="不是证书")
    assert garbled.status_code == 422 and "证书应为 Base64 编码" in garbled.text
    empty = _form(client, key, cert, token, challenge="")
    assert empty.status_code == 422 and "证书登录数据不完整或有误" in empty.text
    no_csrf = _form(client, key, cert, "0" * 40)
    assert no_csrf.status_code == 403
    assert client.get(f"{API}/me").status_code == 401
    assert _refusals(session).count("signature_invalid") == 1


def test_step_up_by_certificate_on_the_pages(client: Any, session: Session, ca: Ca) -> None:
    import re

    _person(session, 7103)
    key, cert = ca.issue("证书用户", extensions={IDENTIFY_CODE: identify_code(nth_citizen_id(7103))})
    anonymous = client.get("/identity/step-up/certificate", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/identity/login?next=")
    login = client.post(f"{API}/login", json={"identifier": nth_phone(7103), "password": PASSWORD})
    assert login.status_code == 200 and login.json()["session"]["auth_level"] == 2
    assert (
        "/identity/step-up/certificate?next=" in client.get("/identity/step-up?next=/identity/account").text
    )
    page = client.get("/identity/step-up/certificate?next=/identity/account")
    assert page.status_code == 200 and "数字证书二次认证" in page.text
    assert 'action="/identity/step-up/certificate"' in page.text
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text).group(1)  # type: ignore[union-attr]
    # Somebody else's certificate does not raise this session.
    _person(session, 7104)
    other_key, other = ca.issue("证书用户", extensions={IDENTIFY_CODE: identify_code(nth_citizen_id(7104))})
    refused = client.post("/identity/step-up/certificate", data=_fields(client, other_key, other, token))
    assert refused.status_code in (401, 403) and "该证书不属于当前登录用户" in refused.text
    done = client.post(
        "/identity/step-up/certificate", data=_fields(client, key, cert, token), follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"] == "/identity/account"
    me = client.get(f"{API}/me").json()
    assert me["session"]["auth_level"] == 5 and "hwk" in me["session"]["amr"]
