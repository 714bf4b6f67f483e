"""Managing an enterprise's agents (经办人): who may, the agents in force, and withdrawing an agent's
authorisation (撤销经办授权).

The enterprise manages its agents: its own legal-person account, or a person holding an authorisation in
force for it as 管理员 or 法定代表人. It grants one (经办人授权) to a registered real-name person named by
name and identity number (both must match; one refusal for either). Withdrawing takes effect at once
everywhere that reads the authorisations (``agent_authorizations`` is read at every use: applying, acting
on and seeing the enterprise's cases): the agent's sessions stop acting for the enterprise, the tokens
department systems and apps obtained while the agent acted for it are revoked (the enterprise's claims
went with them), the consents that released the enterprise's data to those apps are withdrawn, the
withdrawal is an audited identity event, and the national 法人账号信息 row is sent again with ``revoked``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from zhengwu.identity import upward
from zhengwu.identity.audit import NO_META, RequestMeta, record_auth_event
from zhengwu.identity.errors import (
    AgentAuthorizationNotFound,
    AgentGrantInvalid,
    AgentPersonNotFound,
    AgentsNotManaged,
)
from zhengwu.identity.models import (
    Account,
    AccountKind,
    AgentAuthorization,
    AgentRole,
    LegalEntity,
    UserSession,
)
from zhengwu.identity.oidc.models import OidcAuthorizationCode, OidcConsent, OidcGrant
from zhengwu.identity.oidc.revocation import revoke_grants
from zhengwu.identity.service import agent_authorizations, find_account_by_citizen_id, grant_agent
from zhengwu.kernel.clock import BEIJING, utcnow

#: Roles of an authorisation that manage the enterprise's other agents.
MANAGING_ROLES = frozenset({AgentRole.ADMIN, AgentRole.LEGAL_REP})
ROLE_LABELS = {AgentRole.ADMIN: "管理员", AgentRole.AGENT: "经办人", AgentRole.LEGAL_REP: "法定代表人"}
#: Roles an enterprise grants itself (法定代表人 comes from the registry, not from a grant).
GRANTABLE_ROLES = (AgentRole.AGENT, AgentRole.ADMIN)
#: The scope whose consent released the enterprise's data to an app (identity.oidc.claims).
ENTERPRISE_SCOPE = "enterprise"


@dataclass(frozen=True, slots=True)
class AgentRow:
    """One agent in force of an enterprise, as a manager sees it."""

    authorization_id: str
    account_id: str
    name: str
    role: str
    role_label: str
    valid_from: datetime
    valid_until: datetime | None


def managed_entities(db: Session, account: Account) -> list[LegalEntity]:
    """The enterprises whose agents ``account`` manages."""
    found = {e.id: e for a, e in agent_authorizations(db, account.id) if a.role in MANAGING_ROLES}
    if account.kind == AccountKind.LEGAL and account.legal_entity_id:
        own = db.get(LegalEntity, account.legal_entity_id)
        if own is not None:
            found[own.id] = own
    return sorted(found.values(), key=lambda e: e.name)


def _managed(db: Session, account: Account, entity_id: str) -> LegalEntity:
    entity = next((e for e in managed_entities(db, account) if e.id == entity_id), None)
    if entity is None:
        raise AgentsNotManaged()
    return entity


def agents_of(db: Session, account: Account, entity_id: str) -> tuple[LegalEntity, list[AgentRow]]:
    """The enterprise and its agents in force (AgentsNotManaged unless ``account`` manages it)."""
    entity = _managed(db, account, entity_id)
    now = utcnow()
    rows = db.execute(
        select(AgentAuthorization, Account)
        .join(Account, Account.id == AgentAuthorization.account_id)
        .where(AgentAuthorization.legal_entity_id == entity.id)
        .order_by(AgentAuthorization.valid_from)
    ).all()
    return entity, [
        AgentRow(
            a.id,
            person.id,
            person.display_name,
            a.role,
            ROLE_LABELS.get(a.role, "经办人"),
            a.valid_from,
            a.valid_until,
        )
        for a, person in rows
        if a.active_at(now)
    ]


def grant_agent_for(
    db: Session,
    *,
    by: Account,
    entity_id: str,
    name: str,
    id_number: str,
    role: str = AgentRole.AGENT,
    valid_until: date | None = None,
    meta: RequestMeta = NO_META,
) -> AgentAuthorization:
    """Authorise the registered person with ``name`` and ``id_number`` to act for the enterprise ``by``
    manages, as 经办人 or 管理员, until the end of ``valid_until`` (Beijing time) or without end; a
    person already authorised gets the new role and term."""
    entity = _managed(db, by, entity_id)
    if role not in GRANTABLE_ROLES:
        raise AgentGrantInvalid("授权角色应为经办人或管理员")
    until = None
    if valid_until is not None:
        until = datetime.combine(valid_until, time(23, 59, 59), BEIJING).astimezone(UTC)
        if until <= utcnow():
            raise AgentGrantInvalid("授权截止日期应晚于今天")
    agent = find_account_by_citizen_id(db, id_number)
    if agent is None or agent.display_name.strip() != name.strip():
        raise AgentPersonNotFound()
    if agent.id == by.id:
        raise AgentGrantInvalid("不能给自己授权")
    return grant_agent(
        db, entity=entity, agent=agent, role=role, valid_until=until, granted_by=by.id, meta=meta
    )


def _clear_app_grants(db: Session, agent_id: str, entity_id: str, now: datetime) -> dict[str, int]:
    """Revoke what apps obtained while the agent acted for the enterprise: their tokens (the access
    tokens on the deny list until they expire, the refresh tokens dead), the codes not yet exchanged, and
    the consents that released the enterprise's data to them."""
    grants = list(
        db.scalars(
            select(OidcGrant).where(OidcGrant.account_id == agent_id, OidcGrant.acting_for == entity_id)
        )
    )
    revoked = revoke_grants(db, grants, "agent_withdrawn")
    codes = db.execute(
        update(OidcAuthorizationCode)
        .where(
            OidcAuthorizationCode.account_id == agent_id,
            OidcAuthorizationCode.acting_for == entity_id,
            OidcAuthorizationCode.used_at.is_(None),
        )
        .values(used_at=now)
        .execution_options(synchronize_session="fetch")
    )
    relied = {g.consent_id for g in grants if g.consent_id}
    withdrawn = 0
    if relied:
        for consent in db.scalars(
            select(OidcConsent).where(OidcConsent.id.in_(relied), OidcConsent.status == "granted")
        ):
            if ENTERPRISE_SCOPE in (consent.scopes or []):
                consent.status, consent.withdrawn_at = "withdrawn", now
                consent.withdrawn_reason = "经办授权已撤销"
                withdrawn += 1
    db.flush()
    return {"tokens": revoked, "codes": int(getattr(codes, "rowcount", 0) or 0), "consents": withdrawn}


def withdraw_agent(
    db: Session,
    *,
    by: Account,
    entity_id: str,
    authorization_id: str,
    reason: str | None = None,
    meta: RequestMeta = NO_META,
) -> AgentAuthorization:
    """Withdraw an agent's authorisation for the enterprise ``by`` manages; at once the agent can no
    longer apply or act for it, and none of the agent's sessions acts for it any more."""
    entity = _managed(db, by, entity_id)
    authorization = db.scalar(
        select(AgentAuthorization).where(
            AgentAuthorization.id == authorization_id, AgentAuthorization.legal_entity_id == entity.id
        )
    )
    now = utcnow()
    if authorization is None or not authorization.active_at(now):
        raise AgentAuthorizationNotFound()
    agent = db.get(Account, authorization.account_id)
    if agent is None:  # pragma: no cover - the foreign key keeps the account
        raise AgentAuthorizationNotFound()
    authorization.revoked_at = now
    db.execute(
        update(UserSession)
        .where(UserSession.account_id == agent.id, UserSession.acting_for == entity.id)
        .values(acting_for=None)
        .execution_options(synchronize_session="fetch")
    )
    db.flush()
    cleared = _clear_app_grants(db, agent.id, entity.id, now)
    upward.emit_corporator_account(
        db, authorization, entity=entity, agent=agent, channel="web", operation="U"
    )
    record_auth_event(
        db,
        "agent_withdrawn",
        success=True,
        account_id=agent.id,
        meta=meta,
        detail={
            "legal_entity_id": entity.id,
            "authorization_id": authorization.id,
            "role": authorization.role,
            "by": by.id,
            "reason": (reason or "")[:200] or None,
            "cleared": cleared,
        },
    )
    return authorization
