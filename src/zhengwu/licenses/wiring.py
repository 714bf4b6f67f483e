"""Licenses on the node: nothing kept between requests (seals, files and the bus are the node's); the API
in the app. The outbox topic is declared in ``licenses.topics`` and collected by ``main.exchange_topics``."""

from __future__ import annotations

from fastapi import FastAPI

from zhengwu.kernel.node import Node


def install(node: Node) -> None:
    """Licenses keeps nothing on the node: its services take the session, settings and bus they need."""


def mount(app: FastAPI, node: Node) -> None:
    """Include the license types, issuance, verification and holder API."""
    from zhengwu.licenses import routes, routes_shares, share_page

    app.include_router(share_page.router)
    app.include_router(routes_shares.router)  # before /{license_id}: its fixed paths come first
    app.include_router(routes.router)
