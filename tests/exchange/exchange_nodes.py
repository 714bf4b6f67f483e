"""Helpers for two-node exchange tests: in-process nodes and the join dance."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from zhengwu.exchange import join
from zhengwu.exchange.runtime import ExchangeRuntime
from zhengwu.exchange.servicekeys import RUNTIME
from zhengwu.exchange.transports.http import HttpTransport
from zhengwu.identity.oidc import service as oidc_service
from zhengwu.identity.oidc.schemas import ClientCreate
from zhengwu.identity.oidc.secrets import NodeKeys
from zhengwu.identity.servicekeys import OIDC
from zhengwu.kernel.config import Settings, Tier
from zhengwu.kernel.node import node_of
from zhengwu.kernel.session import unit_of_work

NATIONAL_URL = "http://national.test"
ALL_SCOPES = "verify:person verify:legal_person verify:license"


@dataclass
class Node:
    """One in-process node."""

    settings: Settings
    app: Any
    client: TestClient
    runtime: ExchangeRuntime

    def uow(self) -> Any:
        """A unit of work on this node's database."""
        return unit_of_work(self.runtime.session_factory)


def make_node(settings: Settings, factory: sessionmaker[Session]) -> Node:
    """Create an app for ``settings`` whose sessions use ``factory``."""
    from zhengwu.main import create_app

    app = create_app(settings)
    node_of(app).use_sessions(factory)
    runtime: ExchangeRuntime = node_of(app).services.provide(RUNTIME)
    runtime.rebind(factory)
    node_of(app).services.provide(
        OIDC
    ).ensure_signing_key()  # the start-up's job; this client runs no lifespan
    client = TestClient(app, raise_server_exceptions=False, base_url=settings.public_url)
    return Node(settings, app, client, runtime)


def node_settings(tmp: Path, database_url: str, *, national: bool, **extra: Any) -> Settings:
    """Settings of a test node (national 000000 or Hebei 130000)."""
    exchange = {"retry_base_seconds": 0.01, "retry_max_seconds": 0.05, "frontdb_settle_seconds": 0.0}
    exchange.update(extra.pop("exchange", {}))
    return Settings(
        data_dir=tmp / ("national" if national else "hebei"),
        database_url=database_url,
        tier=Tier.NATIONAL if national else Tier.PROVINCE,
        division_code="000000" if national else "130000",
        node_id="national" if national else "hebei",
        node_name="国家政务服务平台（测试）" if national else "河北省政务服务平台（测试）",
        public_url=NATIONAL_URL if national else "http://hebei.test",
        upstream_url=None if national else NATIONAL_URL,
        log_level="DEBUG",
        exchange=exchange,
        **extra,
    )


def join_nodes(province: Node, national: Node) -> None:
    """Run the whole join: request, approve on the national node, install on the province node."""
    first = join.join(province.runtime, client=national.client)
    assert first.status == "requested"
    with national.uow() as session:
        join.approve(session, national.runtime, province.settings.node_id)
    second = join.join(province.runtime, client=national.client)
    assert second.status == "joined", second


def http_transport(province: Node, national: Node) -> HttpTransport:
    """The province's signed HTTP transport, wired to the national app."""
    return HttpTransport(province.settings, province.runtime.credentials, client=national.client)


def token(node: Node, scope: str = ALL_SCOPES, grant_scope: str | None = None) -> str:
    with node.uow() as session:
        row, secret = oidc_service.create_client(
            session,
            NodeKeys(node.settings.security.secret_key.get_secret_value()),
            ClientCreate(name="演示核验客户端", grant_types=["client_credentials"], scope=scope),
            actor="test",
            allow_http=True,
        )
    answer = node.client.post(
        "/oidc/token",
        data={"grant_type": "client_credentials", "scope": grant_scope or scope},
        auth=(row.client_id, secret or ""),
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


BUSINESS_FACE = {"name": "石家庄演示科技有限公司", "kind": "有限责任公司", "legal_rep": "演示用户", "capital": "100",
                 "founded": "2020-05-01", "address": "河北省石家庄市长安区演示路1号", "scope": "软件开发"}  # fmt: skip


def issue_business_license(node: Node, *, division: str, department_name: str) -> str:
    """A business licence issued on ``node`` by a market-regulation department of ``division`` (its PKI,
    the department, its seal and the demo license types set up first); its identifier."""
    from zhengwu.licenses import service
    from zhengwu.orgs import service as orgs
    from zhengwu.orgs.schemas import DepartmentCreate
    from zhengwu.pki import authority
    from zhengwu.seals import service as seals
    from zhengwu.seed import government_credit_code
    from zhengwu.seed.licenses import seed_license_types
    from zhengwu.seed.synthetic import enterprise_credit_code

    code = government_credit_code(division, 778)
    with node.uow() as session:
        authority.init_pki(session, node.settings)
        department = orgs.add_department(
            session, DepartmentCreate(credit_code=code, name=department_name, division_code=division)
        )
        seals.create_seal(session, node.settings, department_credit_code=code,
                          name=f"{department_name}行政审批专用章", actor="test")  # fmt: skip
        seed_license_types(session)
        type_code = next(t.code for t in service.list_types(session) if t.name == "营业执照")
        lic = service.issue_license(session, node.settings, type_code=type_code, department_id=department.id,
                                    holder_name=BUSINESS_FACE["name"], holder_code=enterprise_credit_code("130100", 7),
                                    face=dict(BUSINESS_FACE), actor="test")  # fmt: skip
        return str(lic.identifier)
