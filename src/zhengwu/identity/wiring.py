"""Identity on the node: its configuration, notifier, probe, metrics and OIDC provider; its API and pages
in the app. Bridges it expects (real-name verifier, item requirements) are wired by ``main.bridge``.

Routers are imported by ``mount`` only: a CLI command installs the node without paying for them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from prometheus_client.core import CounterMetricFamily, Metric
from sqlalchemy.exc import SQLAlchemyError

from zhengwu.identity import passwords
from zhengwu.identity.audit import AUTH_EVENTS
from zhengwu.identity.context import IdentityContext
from zhengwu.identity.models import Account, UserSession
from zhengwu.identity.notifier import make_notifier
from zhengwu.identity.oidc import wiring as oidc
from zhengwu.identity.servicekeys import CONTEXT, NOTIFIER
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.metrics import register
from zhengwu.kernel.node import Node


def install(node: Node) -> None:
    """Register the context, the notifier, the ``identity`` probe, the password-hash metrics and the
    provider."""
    ctx = configure(node)
    node.services.put(NOTIFIER, make_notifier(ctx.notifier, ctx.data_dir))
    node.health_probes["identity"] = health_probe(node)
    node.metrics.register(PasswordHashCollector())
    register(node, AUTH_EVENTS)
    oidc.install(node)


def configure(node: Node) -> IdentityContext:
    """Put the identity context built from the node's settings on the node (tests of services on a
    bare node use this alone)."""
    return node.services.put(CONTEXT, IdentityContext.from_settings(node.settings))


def mount(app: FastAPI, node: Node) -> None:
    """Include the identity API, the staff API and the pages, then the provider's endpoints."""
    from zhengwu.identity import agentroutes, pages, routes, staff

    app.include_router(routes.router)
    app.include_router(routes.read_router)
    app.include_router(agentroutes.read_router)
    app.include_router(agentroutes.router)
    app.include_router(staff.router)
    app.include_router(staff.read_router)
    app.include_router(pages.router)
    oidc.mount(app, node)


class PasswordHashCollector:
    """Prometheus collector of :data:`passwords.METER` (argon2 work of this worker process)."""

    def collect(self) -> Iterator[Metric]:
        """The two counters, read at scrape time."""
        meter = passwords.METER
        yield CounterMetricFamily(
            "zhengwu_identity_password_hashes", "argon2id hashes and verifications", value=meter.count
        )
        yield CounterMetricFamily(
            "zhengwu_identity_password_hash_cpu_seconds",
            "CPU seconds spent in argon2id hashing and verification",
            value=meter.cpu_seconds,
        )


def health_probe(node: Node) -> Callable[[], dict[str, Any]]:
    """/_status section: open sessions, locked accounts, chained audit events, notifier kind."""

    def probe() -> dict[str, Any]:
        from sqlalchemy import func, select

        from zhengwu.audit import chain
        from zhengwu.identity.audit import AUTH_CHAIN

        now = utcnow()
        try:
            with node.session_factory() as db:
                sessions = db.scalar(
                    select(func.count()).select_from(UserSession).where(UserSession.ended_at.is_(None))
                )
                locked = db.scalar(
                    select(func.count()).select_from(Account).where(Account.locked_until > now)
                )
                head = chain.head(db, AUTH_CHAIN)
        except SQLAlchemyError as exc:
            return {"ok": False, "error": type(exc).__name__}
        return {
            "ok": True,
            "open_sessions": int(sessions or 0),
            "locked_accounts": int(locked or 0),
            "audit_events": head.seq,
            "notifier": type(node.services.provide(NOTIFIER)).__name__,
        }

    return probe
