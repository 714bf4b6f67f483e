"""The composition root: settings → engine → app with every capability's router and subscriber.

This is the only module that wires capabilities together.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, ProcessCollector
from sqlalchemy import MetaData

import zhengwu
from zhengwu.exchange.topics import TopicRegistry
from zhengwu.kernel import openapi
from zhengwu.kernel.config import Settings
from zhengwu.kernel.db import Base, make_engine
from zhengwu.kernel.events import EventBus
from zhengwu.kernel.files import FileStore
from zhengwu.kernel.http import CorrelationMiddleware, SecurityHeadersMiddleware, install_error_handlers
from zhengwu.kernel.limits import BodyLimitMiddleware
from zhengwu.kernel.logging import configure_logging
from zhengwu.kernel.session import make_session_factory


def import_models() -> MetaData:
    """Import every capability's models so that the metadata is complete (Alembic, tests)."""
    import zhengwu.catalog.models
    import zhengwu.exchange.models
    import zhengwu.identity.models
    import zhengwu.identity.oidc.models
    import zhengwu.kernel.events
    import zhengwu.kernel.idempotency
    import zhengwu.licenses.models  # licenses
    import zhengwu.orgs.models
    import zhengwu.pki.models
    import zhengwu.seals.models  # noqa: F401

    return Base.metadata


def exchange_topics(settings: Settings) -> TopicRegistry:
    """Every capability's exchange topics (the server and ``zhengwu worker`` share this registry)."""
    from zhengwu.exchange.wiring import default_topics
    from zhengwu.licenses import topics as licenses_topics  # licenses

    registry = default_topics(settings)
    licenses_topics.declare(registry)  # licenses
    return registry


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


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build a node's ASGI application from its settings."""
    settings = settings or Settings()
    configure_logging(settings.log_level, json_output=settings.log_json)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    import_models()

    engine = make_engine(settings.database_url)
    registry = CollectorRegistry()
    # process_cpu_seconds_total, resident memory, open files of this worker (Linux /proc).
    ProcessCollector(registry=registry)

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
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = make_session_factory(engine)
    app.state.files = FileStore(settings.data_dir / "files")
    app.state.bus = EventBus()
    app.state.started_at = time.monotonic()
    app.state.git_commit = git_commit()
    app.state.metrics_registry = registry
    probes: dict[str, Callable[[], dict[str, Any]]] = {}
    app.state.health_probes = probes

    install_error_handlers(app)
    openapi.install(app)
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(
        SecurityHeadersMiddleware,
        connect_src=(_origin(settings.identity.ukey_agent_url),),
        hsts=settings.public_url.startswith("https://"),
    )
    app.add_middleware(CorrelationMiddleware, registry=registry)

    from zhengwu.catalog import jobs as catalog_jobs
    from zhengwu.catalog import routes as catalog_routes
    from zhengwu.identity import routes as identity_routes
    from zhengwu.ops import routes as ops_routes
    from zhengwu.orgs import routes as orgs_routes
    from zhengwu.pki import routes as pki_routes
    from zhengwu.seals import routes as seals_routes

    app.state.outbox_gauge = ops_routes.install_metrics(registry)
    app.include_router(ops_routes.router)
    app.include_router(orgs_routes.router)
    app.include_router(catalog_routes.router)
    catalog_jobs.install(app)
    pki_routes.install(app)
    app.include_router(seals_routes.router)
    from zhengwu.licenses import routes as licenses_routes  # licenses

    app.include_router(licenses_routes.router)  # licenses
    identity_routes.install(app)
    from zhengwu.identity.oidc import wiring as oidc_wiring

    oidc_wiring.install(app)
    app.state.bus.subscribe("UserLoggedOut", oidc_wiring.logout_subscriber(app))
    from zhengwu.exchange import wiring as exchange_wiring

    exchange_wiring.install(app, settings, exchange_topics(settings))
    from zhengwu.exchange.realname import ExchangeRealNameVerifier, runtime_getter

    # Identity's real-name level 3 asks the registries through the exchange (identity never imports it).
    app.state.real_name_verifier = ExchangeRealNameVerifier(runtime_getter(app))
    from zhengwu.catalog.service import access_demand

    # Items demand a real-name level and an authentication age at login; the catalog owns them.
    app.state.item_requirements = access_demand
    return app
