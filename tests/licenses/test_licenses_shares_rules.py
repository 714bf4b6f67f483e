"""Rules of shares, copies and the department services that need no database."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from zhengwu.identity.oidc.schemas import SCOPE_PATTERN
from zhengwu.kernel.config import Settings
from zhengwu.licenses import copies, services, shares, tickets, usage
from zhengwu.licenses.errors import LicenseError
from zhengwu.licenses.machine import ServiceClient, type_scope
from zhengwu.licenses.models import License, LicenseUsage
from zhengwu.licenses.sharing_models import LicenseShare
from zhengwu.licenses.sharing_schemas import ServiceUse, ShareCreate
from zhengwu.seed.licenses import demo_types

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def _share(status: str, expires: datetime) -> LicenseShare:
    return LicenseShare(status=status, expires_at=expires)


def test_a_granted_share_expires_and_others_keep_their_status() -> None:
    assert shares.status_of(_share("granted", NOW + timedelta(seconds=1)), NOW) == "granted"
    assert shares.status_of(_share("granted", NOW), NOW) == "expired"
    assert shares.status_of(_share("revoked", NOW + timedelta(days=1)), NOW) == "revoked"
    assert shares.status_of(_share("superseded", NOW - timedelta(days=1)), NOW) == "superseded"
    assert set(shares.STATUS_LABELS) == {"granted", "revoked", "superseded", "expired"}


def test_tokens_are_random_and_stored_under_a_keyed_digest() -> None:
    one, two = tickets.new_token("zls"), tickets.new_token("zls")
    assert one != two and one.startswith("zls_") and len(one) <= tickets.MAX_TOKEN_CHARS
    a = Settings(security={"secret_key": "a" * 40})
    b = Settings(security={"secret_key": "b" * 40})
    assert tickets.digest(a, one) == tickets.digest(a, f" {one} ")
    assert tickets.digest(a, one) != tickets.digest(b, one) and one not in tickets.digest(a, one)


def test_every_demo_type_has_a_scope_a_client_can_be_registered_for() -> None:
    for spec in demo_types():
        scope = type_scope(spec.code)
        assert re.fullmatch(SCOPE_PATTERN, scope), scope


@given(st.sampled_from([t.code for t in demo_types()]), st.sampled_from([t.code for t in demo_types()]))
def test_a_client_uses_exactly_the_types_it_holds(held: str, asked: str) -> None:
    client = ServiceClient("c", "系统", frozenset({"licenses.use", type_scope(held)}), None, None, None)
    assert client.may_use(asked) is (held == asked)
    assert client.display == "系统" and client.actor == "client:c"


def test_a_share_names_its_verifier_unless_it_is_for_anyone() -> None:
    until = NOW.isoformat()
    ShareCreate(audience_kind="anyone", purpose="租房", expires_at=until)
    ShareCreate(audience_kind="client", audience="zw01", purpose="开户", expires_at=until, grants=["face"])
    with pytest.raises(ValidationError):
        ShareCreate(audience_kind="anyone", audience="zw01", purpose="租房", expires_at=until)
    with pytest.raises(ValidationError):
        ShareCreate(audience_kind="department", purpose="租房", expires_at=until)
    with pytest.raises(ValidationError):
        ShareCreate(audience_kind="anyone", purpose="租房", expires_at="2026-12-05T12:00:00")  # no zone


def test_a_department_call_states_purpose_and_item_or_case() -> None:
    ServiceUse(purpose="办理", case_number="SB-1")
    with pytest.raises(ValidationError):
        ServiceUse(purpose="办理")
    with pytest.raises(ValidationError):
        ServiceUse(purpose="办理", item_code="123")  # not a 实施编码
    with pytest.raises(LicenseError):
        services.Use(" ", case_number="SB-1")
    with pytest.raises(LicenseError):
        services.Use("办理")


def test_the_usage_log_names_callers_without_ids() -> None:
    assert usage.who(LicenseUsage(caller="client:zw01", caller_name="某局·某系统")) == "某局·某系统"
    assert usage.who(LicenseUsage(caller="holder:abc")) == "持证人本人"
    assert usage.who(LicenseUsage(caller="public")) == "公众核验"
    assert usage.who(LicenseUsage(caller="client:zw01")) == "部门业务系统"
    assert usage.operation_label("share_redeem") == "使用共享" and usage.operation_label("x") == "x"


def test_an_annotation_names_the_issuer_purpose_and_expiry_in_beijing_time() -> None:
    lic = License(issuer_name="河北省人力资源和社会保障厅")
    lines = copies.annotation_lines(
        lic, "此件由{issuer}提供，仅供办理政务服务事项时使用", "申请公租房", NOW + timedelta(hours=20), NOW
    )
    assert lines == [
        "【加注件】",
        "此件由河北省人力资源和社会保障厅提供，仅供办理政务服务事项时使用，有效期至2026年12月06日16时",
        "制作事由：申请公租房",
        "制作时间：2026年12月05日20时00分",
    ]
