"""The node PKI on the node: its ``/_status`` probe; the CRL, CA-certificate and TSA endpoints in the app."""

from __future__ import annotations

from fastapi import FastAPI

from zhengwu.kernel.node import Node
from zhengwu.pki import authority


def install(node: Node) -> None:
    """Register the ``pki`` health probe (reads only; CRLs are re-issued when served or used)."""

    def probe() -> dict[str, object]:
        with node.session_factory() as session:
            return authority.health(session)

    node.health_probes["pki"] = probe


def mount(app: FastAPI, node: Node) -> None:
    """Publish the PKI endpoints."""
    from zhengwu.pki import routes

    app.include_router(routes.router)
