"""The API of an enterprise's agents (identity.agents): list them, grant an authorisation, withdraw one.
For the enterprise's own legal-person account and its administrators; the session is the credential."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from zhengwu.identity import agents
from zhengwu.identity.deps import RequiredSession, request_meta
from zhengwu.identity.schemas import (
    AgentGrantRequest,
    AgentRead,
    AgentWithdrawn,
    AgentWithdrawRequest,
    EnterpriseAgentsRead,
)
from zhengwu.identity.web import require_json
from zhengwu.kernel.openapi import errors
from zhengwu.kernel.session import DbSession

PREFIX = "/api/v1/identity/enterprises"
read_router = APIRouter(prefix=PREFIX, tags=["identity"])
router = APIRouter(prefix=PREFIX, tags=["identity"], dependencies=[Depends(require_json)])


@read_router.get("", response_model=list[EnterpriseAgentsRead], summary="我管理的企业及其经办人")
def managed(db: DbSession, auth: RequiredSession) -> list[EnterpriseAgentsRead]:
    """The enterprises whose agents the person manages, each with its agents in force."""
    return [_read(db, auth, e.id) for e in agents.managed_entities(db, auth.account)]


@read_router.get(
    "/{legal_entity_id}/agents",
    response_model=EnterpriseAgentsRead,
    summary="企业的经办人",
    responses=errors(403),
)
def list_agents(legal_entity_id: str, db: DbSession, auth: RequiredSession) -> EnterpriseAgentsRead:
    """An enterprise's agents in force (403 unless the person manages its agents)."""
    return _read(db, auth, legal_entity_id)


@router.post(
    "/{legal_entity_id}/agents",
    response_model=AgentRead,
    status_code=201,
    summary="经办人授权",
    responses=errors(403, 404, 422),
)
def grant(
    legal_entity_id: str, data: AgentGrantRequest, request: Request, db: DbSession, auth: RequiredSession
) -> AgentRead:
    """Authorise a registered real-name person (name and identity number in the body, both must match)
    to act for the enterprise as 经办人 or 管理员; a person already authorised gets the new role and term."""
    done = agents.grant_agent_for(
        db, by=auth.account, entity_id=legal_entity_id[:32], name=data.name, id_number=data.id_number,
        role=data.role, valid_until=data.valid_until, meta=request_meta(request),
    )  # fmt: skip
    _, rows = agents.agents_of(db, auth.account, done.legal_entity_id)
    return AgentRead.model_validate(
        next(r for r in rows if r.authorization_id == done.id), from_attributes=True
    )


@router.post(
    "/{legal_entity_id}/agents/{authorization_id}/withdraw",
    response_model=AgentWithdrawn,
    summary="撤销经办授权",
    responses=errors(403, 404),
)
def withdraw(
    legal_entity_id: str,
    authorization_id: str,
    data: AgentWithdrawRequest,
    request: Request,
    db: DbSession,
    auth: RequiredSession,
) -> AgentWithdrawn:
    """Withdraw an agent's authorisation: from now on the agent cannot apply or act for the enterprise."""
    done = agents.withdraw_agent(
        db, by=auth.account, entity_id=legal_entity_id[:32], authorization_id=authorization_id[:32],
        reason=data.reason, meta=request_meta(request),
    )  # fmt: skip
    assert done.revoked_at is not None
    return AgentWithdrawn(authorization_id=done.id, legal_entity_id=done.legal_entity_id,
                          account_id=done.account_id, revoked_at=done.revoked_at)  # fmt: skip


def _read(db: DbSession, auth: RequiredSession, entity_id: str) -> EnterpriseAgentsRead:
    entity, rows = agents.agents_of(db, auth.account, entity_id[:32])
    return EnterpriseAgentsRead(
        legal_entity_id=entity.id,
        name=entity.name,
        agents=[AgentRead.model_validate(r, from_attributes=True) for r in rows],
    )
