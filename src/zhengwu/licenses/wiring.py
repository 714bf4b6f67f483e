"""Licenses on the node: nothing kept between requests (seals, files and the bus are the node's); the API
in the app. The outbox topic is declared in ``licenses.topics`` and collected by ``main.exchange_topics``."""

from __future__ import annotations

from fastapi import FastAPI

from zhengwu.kernel.node import Node


def install(node: Node) -> None:
    """Licenses keeps nothing on the node but its usage counter: its services take the session, settings and
    bus they need."""
    from zhengwu.kernel.metrics import register
    from zhengwu.licenses.service import LICENSE_USES

    register(node, LICENSE_USES)


def mount(app: FastAPI, node: Node) -> None:
    """Include the license types, issuance, verification and holder API."""
    from zhengwu.licenses import routes, routes_data, routes_grants, routes_shares, share_page

    app.include_router(share_page.router)
    # Before /{license_id}, which would otherwise take /abnormal, /shares/redeem and /downloads.
    app.include_router(routes_data.router)
    app.include_router(routes_data.status_router)
    app.include_router(routes_grants.router)
    app.include_router(routes_shares.router)
    app.include_router(routes.router)
