"""Identity on the node: its configuration, notifier, probe, metrics and OIDC provider; its API and pages
in the app. Bridges it expects (real-name verifier, item requirements) are wired by ``main.bridge``."""

from __future__ import annotations

from fastapi import FastAPI

from zhengwu.identity import routes, staff
from zhengwu.identity.context import configure
from zhengwu.identity.notifier import make_notifier
from zhengwu.identity.oidc import wiring as oidc
from zhengwu.identity.servicekeys import NOTIFIER
from zhengwu.kernel.node import Node


def install(node: Node) -> None:
    """Register the notifier, the ``identity`` probe, the password-hash metrics and the provider."""
    ctx = configure(node.settings)
    node.services.put(NOTIFIER, make_notifier(ctx.notifier, ctx.data_dir))
    node.health_probes["identity"] = routes.health_probe(node)
    node.metrics.register(routes.PasswordHashCollector())
    oidc.install(node)


def mount(app: FastAPI, node: Node) -> None:
    """Include the identity API, the staff API and the pages, then the provider's endpoints."""
    from zhengwu.identity import pages

    app.include_router(routes.router)
    app.include_router(routes.read_router)
    app.include_router(staff.router)
    app.include_router(staff.read_router)
    app.include_router(pages.router)
    oidc.mount(app, node)
