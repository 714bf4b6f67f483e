"""Upward user data: outbox records shaped as the national ``up_uc_*`` rows (standards §4.1).

Plain identity numbers never leave: rows carry ``cert_key`` (federation-keyed SM3), and phones travel
masked until the national 统一身份认证 interface specification says otherwise.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhengwu.identity.models import Account, AccountKind, AgentAuthorization, LegalEntity
from zhengwu.identity.protection import mask_phone
from zhengwu.kernel.clock import to_beijing_compact, utcnow
from zhengwu.kernel.config import Settings
from zhengwu.kernel.events import emit
from zhengwu.kernel.topics import Census, Declaration

TOPIC_USER = "up_uc_province_user"
TOPIC_CORP_IDENTITY = "up_uc_corporator_identity"
TOPIC_CORP_ACCOUNT = "up_uc_corporator_account"
TOPIC_GOV_STAFF = "up_uc_gov_staff"


def declarations(settings: Settings) -> list[Declaration]:
    """The natural persons' accounts counted for the connection progress report (应上尽上)."""
    del settings
    return [Census("users", natural_persons)]


def natural_persons(db: Session) -> dict[str, int]:
    """Natural persons' accounts (each has its ``up_uc_province_user`` row); users have no department."""
    count = db.scalar(select(func.count()).select_from(Account).where(Account.kind == AccountKind.NATURAL))
    return {"": int(count or 0)}


def _cut(text: str | None, length: int) -> str | None:
    """Names are cut to the national send length (docs/national-tables.md); identifiers never are."""
    return text[:length] if text else text


def emit_province_user(
    db: Session,
    account: Account,
    *,
    region: str,
    sex: str | None,
    birthday: str | None,
    phone: str | None,
    operation: str = "I",
) -> None:
    """Queue the 自然人信息资料表 row of a natural person (same transaction as the change)."""
    payload: dict[str, Any] = {
        "user_id": account.id,
        "cert_type": account.cert_type or "111",
        "cert_key": account.cert_key,
        "user_name": _cut(account.display_name, 64),
        # GB/T 2261.1: 1 男 2 女.
        "user_sex": {"M": "1", "F": "2"}.get(sex or "", "0"),
        "user_birthday": birthday,
        "user_mobile": mask_phone(phone) if phone else None,
        "user_mail": account.email,
        "user_real_lvl": str(account.real_name_level),
        "user_region": region,
        "create_time": to_beijing_compact(account.created_at or utcnow()),
    }
    emit(db, TOPIC_USER, payload, key=account.id, operation=operation)


def _credit_code(db: Session, entity: LegalEntity) -> str:
    from zhengwu.identity.context import of
    from zhengwu.identity.protection import decrypt_field

    # The organisation's public identifier: the national row requires it (相关法人标识 NN).
    return decrypt_field(of(db).keys, entity.credit_code_enc, purpose="identity_legal_entity.credit_code")


def emit_corporator_identity(db: Session, entity: LegalEntity, *, operation: str = "I") -> None:
    """Queue the 法人身份信息 row of a legal entity."""
    payload: dict[str, Any] = {
        "corp_id": entity.id,
        "certificate_sno": _credit_code(db, entity),
        "certificate_key": entity.certificate_key,
        "corp_name": _cut(entity.name, 128),
        "corp_type": entity.corp_type,
        "corp_status": entity.status,
        "legal_name": _cut(entity.legal_rep_name, 64),
        "legal_cert_type": "111" if entity.legal_rep_cert_index else None,
        "real_lvl": str(entity.real_name_level),
        "create_time": to_beijing_compact(entity.created_at or utcnow()),
    }
    emit(db, TOPIC_CORP_IDENTITY, payload, key=entity.id, operation=operation)


def emit_corporator_account(
    db: Session,
    authorization: AgentAuthorization,
    *,
    entity: LegalEntity,
    agent: Account,
    channel: str,
    operation: str = "I",
) -> None:
    """Queue the 法人账号信息 row of an agent (经办人) authorisation."""
    payload: dict[str, Any] = {
        "acct_id": authorization.id,
        "acct_type": authorization.role,
        "certificate_sno": _credit_code(db, entity),
        "certificate_key": entity.certificate_key,
        "agent_name": _cut(agent.display_name, 64),
        "agent_cert_type": agent.cert_type or "111",
        "agent_cert_key": agent.cert_key,
        "agent_channel": channel,
        "agent_eff_date": authorization.valid_from.strftime("%Y%m%d"),
        "agent_exp_date": authorization.valid_until.strftime("%Y%m%d") if authorization.valid_until else None,
        # 信任标识账号: the agent's account as the other tiers know it (its cert_key), and its hash.
        "trust_acct_no": agent.id,
        "trust_acct_no_key": agent.cert_key,
        "revoked": authorization.revoked_at is not None,
    }
    emit(db, TOPIC_CORP_ACCOUNT, payload, key=authorization.id, operation=operation)
