"""What a client learns about a person: claims per scope, consent records and the release log.

Conventions §5–6: each client gets its own ``sub``; the ID number is released only to entitled clients
(and every read is audited by the core's ``reveal_citizen_id``); a department system receives personal
claims only under a versioned, revocable consent, and a withdrawn consent is refused on the next use.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhengwu.audit.reads import record_read
from zhengwu.identity import service as core
from zhengwu.identity.audit import RequestMeta, record_auth_event
from zhengwu.identity.models import Account, UserSession
from zhengwu.identity.oidc.clients import RegisteredClient
from zhengwu.identity.oidc.errors import ConsentNotFound
from zhengwu.identity.oidc.models import OidcClaimRelease, OidcConsent
from zhengwu.identity.oidc.secrets import NodeKeys
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.logging import current_trace_id

# Scopes that release personal data and therefore need consent from the person.
CONSENT_SCOPES = ("profile", "phone", "email", "citizen_id", "enterprise")
SCOPE_LABELS = {
    "profile": "姓名和实名等级",
    "phone": "手机号码",
    "email": "电子邮箱",
    "citizen_id": "身份证号码",
    "enterprise": "所代理企业的名称、统一社会信用代码和经办角色",
    "offline_access": "在您离线时保持访问",
}


def consent_scopes(scope: str) -> list[str]:
    """The personal-data scopes in a scope string, in a stable order."""
    parts = set(scope.split())
    return [s for s in CONSENT_SCOPES if s in parts]


def active_consent(db: Session, account_id: str, client_id: str) -> OidcConsent | None:
    """The newest granted consent of a person for a client."""
    return db.scalar(
        select(OidcConsent)
        .where(
            OidcConsent.account_id == account_id,
            OidcConsent.client_id == client_id,
            OidcConsent.status == "granted",
        )
        .order_by(OidcConsent.version.desc())
        .limit(1)
    )


def covering_consent(
    db: Session, account_id: str, client: RegisteredClient, scope: str
) -> OidcConsent | None:
    """A granted consent that covers every personal scope requested, or ``None``."""
    wanted = consent_scopes(scope)
    consent = active_consent(db, account_id, client.client_id)
    if consent is None or not set(wanted) <= set(consent.scopes):
        return None
    return consent


def purpose_text(client: RegisteredClient, scopes: list[str]) -> str:
    """The purpose shown to the person and stored with the consent."""
    items = "、".join(SCOPE_LABELS.get(s, s) for s in scopes) or "登录状态"
    return f"向「{client.name}」提供您的{items}，用于登录和办理业务"[:300]


def grant_consent(
    db: Session, account_id: str, client: RegisteredClient, scope: str, *, meta: RequestMeta | None = None
) -> OidcConsent:
    """Record a new consent version (the previous one is superseded, not edited)."""
    scopes = consent_scopes(scope)
    previous = active_consent(db, account_id, client.client_id)
    version = (
        db.scalar(
            select(func.max(OidcConsent.version)).where(
                OidcConsent.account_id == account_id, OidcConsent.client_id == client.client_id
            )
        )
        or 0
    ) + 1
    if previous is not None:
        scopes = sorted(set(scopes) | set(previous.scopes), key=CONSENT_SCOPES.index)
    consent = OidcConsent(
        account_id=account_id,
        client_id=client.client_id,
        version=version,
        scopes=scopes,
        purpose=purpose_text(client, scopes),
        status="granted",
        granted_at=utcnow(),
    )
    db.add(consent)
    db.flush()
    if previous is not None:
        previous.status = "superseded"
        previous.superseded_by = consent.id
    record_auth_event(
        db,
        "oidc_consent_granted",
        success=True,
        account_id=account_id,
        client_id=client.client_id,
        meta=meta or RequestMeta(),
        detail={"consent_id": consent.id, "version": version, "scopes": scopes},
    )
    return consent


def withdraw_consent(
    db: Session, account_id: str, consent_id: str, *, reason: str, meta: RequestMeta | None = None
) -> OidcConsent:
    """Withdraw a person's own consent; tokens that relied on it stop working."""
    consent = db.get(OidcConsent, consent_id)
    if consent is None or consent.account_id != account_id:
        raise ConsentNotFound()
    if consent.status == "granted":
        consent.status = "withdrawn"
        consent.withdrawn_at = utcnow()
        consent.withdrawn_reason = reason
        db.flush()
        record_auth_event(
            db,
            "oidc_consent_withdrawn",
            success=True,
            account_id=account_id,
            client_id=consent.client_id,
            meta=meta or RequestMeta(),
            detail={"consent_id": consent.id, "version": consent.version},
        )
    return consent


def list_consents(db: Session, account_id: str) -> list[OidcConsent]:
    """A person's consent records, newest first."""
    return list(
        db.scalars(
            select(OidcConsent)
            .where(OidcConsent.account_id == account_id)
            .order_by(OidcConsent.granted_at.desc(), OidcConsent.version.desc())
        )
    )


def list_releases(db: Session, account_id: str, *, limit: int = 100) -> list[OidcClaimRelease]:
    """Which clients received the person's data, newest first (conventions §3)."""
    return list(
        db.scalars(
            select(OidcClaimRelease)
            .where(OidcClaimRelease.account_id == account_id)
            .order_by(OidcClaimRelease.released_at.desc())
            .limit(limit)
        )
    )


def userinfo(
    db: Session,
    node_keys: NodeKeys,
    client: RegisteredClient,
    account: Account,
    *,
    scope: str,
    acting_for: str | None,
    user_session: UserSession | None,
    consent_id: str | None,
    meta: RequestMeta | None = None,
) -> dict[str, Any]:
    """Claims for ``scope``; the release is logged with its consent; ID number reads are audited."""
    scopes = set(scope.split())
    view = SimpleNamespace(
        acting_for=acting_for,
        auth_level=user_session.auth_level if user_session is not None else account.real_name_level,
        auth_time=user_session.auth_time if user_session is not None else utcnow(),
        amr=list(user_session.amr) if user_session is not None else [],
    )
    base = core.account_claims(db, account, session=cast(UserSession, view))
    claims: dict[str, Any] = {"sub": node_keys.pairwise_sub(account.id, client.sector)}
    if "profile" in scopes:
        claims["name"] = base.get("name")
        claims["real_name_level"] = base.get("real_name_level")
        claims["account_type"] = base.get("kind")
    if "email" in scopes and base.get("email"):
        claims["email"] = base["email"]
    if "phone" in scopes:
        phone = core.reveal_phone(
            db,
            account,
            reader=f"oidc:{client.client_id}",
            purpose="userinfo phone_number",
            meta=meta or RequestMeta(),
        )
        if phone:
            claims["phone_number"] = phone
            claims["phone_number_verified"] = True
    if "enterprise" in scopes and base.get("acting_for"):
        entity = dict(base["acting_for"])
        entity.pop("id", None)  # internal identifiers stay inside the node
        claims["acting_for"] = entity
    if "citizen_id" in scopes and client.may_receive_citizen_id and account.citizen_id_enc is not None:
        claims["citizen_id"] = core.reveal_citizen_id(
            db,
            account,
            reader=f"oidc:{client.client_id}",
            purpose=f"userinfo for {client.name}"[:200],
            meta=meta or RequestMeta(),
        )
        claims["cert_type"] = account.cert_type or "111"
    released = sorted(k for k in claims if k != "sub")
    if released:
        record_read(db, account.id, f"client:{client.client_id}", f"userinfo for {client.name}",
                    "userinfo:" + ",".join(released))  # fmt: skip
    db.add(
        OidcClaimRelease(
            account_id=account.id,
            client_id=client.client_id,
            consent_id=consent_id,
            channel="userinfo",
            claims=released,
            trace_id=current_trace_id(),
        )
    )
    db.flush()
    return claims
