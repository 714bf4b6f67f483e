"""Helpers of the share, copy and department-service tests: holders with sessions, a license of theirs,
and department systems holding client-credentials tokens (tests/licenses/test_licenses_shares*.py …)."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy.orm import Session

from licenses_kit import INSURANCE_FACE, PERSON, Issuing
from zhengwu.identity import service as identity
from zhengwu.seed.synthetic import nth_citizen_id, nth_phone

API = "/api/v1/licenses"
ITEM = "11450721MB155808114000104002000"


def person(session: Session, number: str = PERSON, name: str = "演示用户") -> Any:
    """A natural person's account."""
    account = identity.register_natural_person(
        session,
        name=name,
        id_number=number,
        phone=nth_phone(int(number[-5:-1])),
        password=None,
        limit_rate=False,
    )
    session.flush()
    return account


def login(client: Any, session: Session, account: Any | None) -> None:
    """Put ``account``'s fresh session on the test client (None: anonymous)."""
    client.cookies.clear()
    if account is not None:
        token = str(identity.start_session(session, account, amr=["pwd"]).token)
        session.flush()
        client.cookies.set("zw_session", token)


def insurance(issuing: Issuing, holder: str = PERSON) -> Any:
    """A valid 社会保险参保证明 of ``holder``."""
    from zhengwu.licenses import service

    lic = service.issue_license(
        issuing.session, issuing.settings, type_code=issuing.type_code("社会保险参保证明"),
        department_id=issuing.department.id, holder_name="演示用户", holder_code=holder, face=INSURANCE_FACE,
        actor="test",
    )  # fmt: skip
    issuing.session.flush()
    return lic


def machine(
    client: Any, session: Session, *, department_id: str | None, scope: str, name: str = ""
) -> tuple[str, str]:
    """A department system of the node: (client id, a client-credentials access token for ``scope``)."""
    from zhengwu.identity.oidc import service as oidc_service
    from zhengwu.identity.oidc.schemas import ClientCreate
    from zhengwu.identity.oidc.tokens import access_token
    from zhengwu.identity.servicekeys import OIDC
    from zhengwu.kernel.node import node_of

    runtime = node_of(client.app).services.provide(OIDC)
    row, _ = oidc_service.create_client(
        session,
        runtime.node_keys,
        ClientCreate(
            name=name or f"业务系统{secrets.token_hex(2)}",
            grant_types=["client_credentials"],
            scope=scope,
            department_id=department_id,
            audience=f"{runtime.issuer}{API}",
        ),
        actor=None,
    )
    session.flush()
    # Minted with the node's key as the token endpoint would (the e2e test goes through /oidc/token): the
    # endpoint's issuance recorder writes in a thread of its own, which the tests' one shared connection
    # cannot serve beside a request.
    issued = access_token(runtime.key_material(), issuer=runtime.issuer, client_id=row.client_id,
                          subject=row.client_id, audience=f"{runtime.issuer}{API}", scope=scope, ttl=600)  # fmt: skip
    return str(row.client_id), issued.value


def other_person(session: Session) -> Any:
    """Somebody else."""
    return person(session, nth_citizen_id(5151), "另一用户")


def grant(
    session: Session,
    client_id: str,
    type_code: str,
    operations: tuple[str, ...] = ("query", "download", "verify"),
) -> Any:
    """A grant in force (用证授权) of ``client_id`` for ``type_code``, made by the platform's console."""
    from zhengwu.licenses import grants

    made = grants.add(session, client_id=client_id, type_code=type_code, operations=operations,
                      purpose="测试授权", actor="cli:test")  # fmt: skip
    session.flush()
    return made
