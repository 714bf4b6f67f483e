"""The composition root: settings → node → each capability's install → bridges → subscribers → app.

This is the only module that wires capabilities together.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, ProcessCollector
from sqlalchemy import MetaData
from sqlalchemy.orm import Session

import zhengwu
from zhengwu.exchange.topics import TopicRegistry
from zhengwu.kernel import admission, fastpath, gcpolicy, openapi, pagecache, routeindex
from zhengwu.kernel.assets import GuardContext
from zhengwu.kernel.config import Settings
from zhengwu.kernel.db import Base, make_engine
from zhengwu.kernel.events import EventBus
from zhengwu.kernel.files import FileStore
from zhengwu.kernel.http import CorrelationMiddleware, SecurityHeadersMiddleware, install_error_handlers
from zhengwu.kernel.limits import BodyLimitMiddleware
from zhengwu.kernel.logging import configure_logging
from zhengwu.kernel.node import Node, attach
from zhengwu.kernel.session import make_session_factory

if TYPE_CHECKING:
    from zhengwu.exchange.runtime import ExchangeRuntime


def import_models() -> MetaData:
    """Import every capability's models so that the metadata is complete (Alembic, tests)."""
    import zhengwu.audit.models
    import zhengwu.cases.models
    import zhengwu.cases.webhooks.models
    import zhengwu.catalog.models
    import zhengwu.exchange.models
    import zhengwu.identity.models
    import zhengwu.identity.oidc.models
    import zhengwu.kernel.events
    import zhengwu.kernel.idempotency
    import zhengwu.kernel.ratelimit
    import zhengwu.kernel.stamps
    import zhengwu.licenses.datamodels
    import zhengwu.licenses.grant_models
    import zhengwu.licenses.models
    import zhengwu.licenses.sharing_models
    import zhengwu.ops.models
    import zhengwu.orgs.models
    import zhengwu.pki.models
    import zhengwu.portal.models
    import zhengwu.seals.models
    import zhengwu.security.models  # noqa: F401

    return Base.metadata


def exchange_topics(settings: Settings) -> TopicRegistry:
    """The exchange's topic registry from every capability's declarations (``<capability>/topics.py`` or
    its wiring): the exchange never imports the capabilities whose rows it carries."""
    from zhengwu.audit import topics as audit
    from zhengwu.cases import topics as cases
    from zhengwu.catalog import topics as catalog
    from zhengwu.exchange import wiring as exchange
    from zhengwu.identity import upward as identity
    from zhengwu.licenses import feedback as licenses_feedback
    from zhengwu.licenses import topics as licenses
    from zhengwu.ops import topics as ops
    from zhengwu.portal import topics as portal
    from zhengwu.security import topics as security

    return exchange.registry_of(
        [
            *exchange.declarations(settings),
            *catalog.declarations(settings),
            *audit.declarations(settings),
            *licenses.declarations(settings),
            *licenses_feedback.declarations(settings),
            *ops.declarations(settings),
            *cases.declarations(settings),
            *security.declarations(settings),
            *identity.declarations(settings),
            *portal.declarations(settings),
        ]
    )


def git_commit() -> str | None:
    """The commit this code was built from, if it runs from a checkout."""
    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(  # noqa: S603 - fixed argv, no shell
            ["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],  # noqa: S607
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _origin(url: str) -> str:
    """scheme://host[:port] of a URL (what a Content-Security-Policy source names)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def build_node(settings: Settings) -> Node:
    """The node of this process: settings, database, bus, files, clock and metrics (no capability yet).

    Logging and the data directory are the server's and the worker's business: a CLI command keeps its
    stderr logging and must not create the data directory it was wrongly pointed at (cli.main explains)."""
    import_models()
    engine = make_engine(settings.database_url)
    registry = CollectorRegistry()
    # process_cpu_seconds_total, resident memory, open files of this worker (Linux /proc).
    ProcessCollector(registry=registry)
    return Node(
        settings=settings,
        engine=engine,
        session_factory=make_session_factory(engine),
        bus=EventBus(),
        files=FileStore(settings.data_dir / "files"),
        metrics=registry,
        git_commit=git_commit(),
    )


def _capabilities() -> list[Capability]:
    """Every capability's wiring, lowest layer first (a capability may use what a lower one installed)."""
    from zhengwu.cases import wiring as cases
    from zhengwu.catalog import wiring as catalog
    from zhengwu.identity import wiring as identity
    from zhengwu.licenses import wiring as licenses
    from zhengwu.ops import wiring as ops
    from zhengwu.orgs import wiring as orgs
    from zhengwu.pki import wiring as pki
    from zhengwu.portal import wiring as portal
    from zhengwu.seals import wiring as seals
    from zhengwu.security import wiring as security

    return [ops, orgs, pki, identity, catalog, seals, licenses, cases, portal, security]


def install(node: Node) -> Node:
    """Each capability registers its services, health probes and metrics on the node; then the bridges
    between capabilities and the event subscriptions. The server, the CLI and the worker all do this."""
    for capability in _capabilities():
        capability.install(node)
    from zhengwu.exchange import wiring as exchange

    exchange.install(node, exchange_topics(node.settings))
    bridge(node)
    subscribe(node)
    return node


def bridge(node: Node) -> None:
    """Adapters across capabilities, wired here so that a lower capability never imports a higher one."""
    from zhengwu.catalog.service import access_demand
    from zhengwu.exchange.realname import ExchangeRealNameVerifier
    from zhengwu.exchange.servicekeys import RUNTIME as EXCHANGE
    from zhengwu.identity.requirements import ItemRequirements
    from zhengwu.identity.servicekeys import ITEM_REQUIREMENTS, REAL_NAME_VERIFIER

    def exchange_runtime() -> ExchangeRuntime:
        runtime = node.services.provide(EXCHANGE)
        runtime.rebind(node.session_factory)  # tests swap the node's factory after it is built
        return runtime

    # Identity's real-name level 3 asks the registries through the exchange.
    node.services.put(REAL_NAME_VERIFIER, ExchangeRealNameVerifier(exchange_runtime))
    # Materials name the license type that satisfies them; the licenses own the types.
    from zhengwu.catalog.licensetypes import LICENSE_TYPES
    from zhengwu.licenses.lookup import type_names

    node.services.put(LICENSE_TYPES, type_names)
    # An upper node sends a license's status change to the lower node that reported it.
    from zhengwu.exchange.service import reported_value
    from zhengwu.licenses.servicekeys import REPORTED_AREA, ReportedArea

    def reported_area(session: Session, identifier: str) -> str | None:
        return reported_value(session, "up_lic_data", identifier, "certificate_area_code")

    area: ReportedArea = reported_area
    node.services.put(REPORTED_AREA, area)
    # A person verification read names the person's account here, if they have one; identity owns them.
    from zhengwu.exchange.servicekeys import PERSON_ACCOUNT, PersonAccount
    from zhengwu.identity.service import find_account_by_citizen_id

    def person_account(session: Session, id_number: str) -> str | None:
        account = find_account_by_citizen_id(session, id_number)
        return account.id if account is not None else None

    person: PersonAccount = person_account
    node.services.put(PERSON_ACCOUNT, person)
    # Items demand a real-name level and an authentication age at login; the catalog owns them.
    requirements: ItemRequirements = access_demand
    node.services.put(ITEM_REQUIREMENTS, requirements)


def subscribe(node: Node) -> None:
    """Typed event subscriptions across capabilities (a publisher never knows its subscribers)."""
    from zhengwu.cases import wiring as cases
    from zhengwu.exchange import wiring as exchange
    from zhengwu.identity.oidc import wiring as oidc
    from zhengwu.ops import wiring as ops

    oidc.subscribe(node)
    exchange.subscribe(node)
    cases.subscribe(node)
    ops.subscribe(node)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build a node's ASGI application from its settings."""
    settings = settings or Settings()
    configure_logging(settings.log_level, json_output=settings.log_json)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    node = install(build_node(settings))
    app = FastAPI(
        title=f"zhengwu — {settings.node_name}",
        version=zhengwu.__version__,
        # kernel.openapi serves the docs page (no CDN, no inline script) and completes the document.
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
        openapi_url="/api/openapi.json",
        # Nodes export Prometheus metrics (/metrics) and JSON logs with trace ids; FastAPI's native
        # OpenTelemetry hooks are off, which also spares every request the check for a configured
        # provider (about 15 µs, measured on the token endpoint).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    attach(app, node)
    install_error_handlers(app)
    openapi.install(app)
    # Innermost: queues requests before they reach a thread or a connection (kernel.admission).
    admission.install(app, settings.admission, node.engine)
    app.add_middleware(BodyLimitMiddleware)
    # The node's anti-tamper guard for the template loader (kernel.assets), per request.
    app.add_middleware(GuardContext, node=node)
    # Anonymous visitors' public pages from kept bytes, before the guard, admission and the routes; inside
    # the security headers and the request metrics, which every answer gets (kernel.pagecache).
    from zhengwu.identity.deps import COOKIE, SECURE_COOKIE

    app.add_middleware(pagecache.PageCache, node=node, private_cookies=(COOKIE, SECURE_COOKIE))
    # Hot routes a capability answers itself when the request is clean, inside the security headers and
    # the request metrics, before everything else (kernel.fastpath, ADR 17).
    app.add_middleware(fastpath.FastRouteMiddleware, node=node)
    app.add_middleware(
        SecurityHeadersMiddleware,
        connect_src=(_origin(settings.identity.ukey_agent_url),),
        hsts=settings.public_url.startswith("https://"),
    )
    app.add_middleware(CorrelationMiddleware, registry=node.metrics)
    for capability in _capabilities():
        capability.mount(app, node)
    from zhengwu.exchange import wiring as exchange

    exchange.mount(app, node)
    # Last, once every router is in: requests skip the routers that cannot hold their path.
    routeindex.index_routes(app)
    # Outermost start-up step: freeze what start-up built out of the collector's walks (kernel.gcpolicy).
    app.router.lifespan_context = gcpolicy.lifespan(app.router.lifespan_context)
    return app


class Capability(Protocol):
    """What main expects of ``<capability>/wiring.py``."""

    def install(self, node: Node) -> None:
        """Register the capability's services, probes and metrics on the node."""

    def mount(self, app: FastAPI, node: Node) -> None:
        """Include the capability's routers (and lifespan hooks) in the app."""
