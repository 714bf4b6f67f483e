"""Ops on the node: the outbox gauge; ``/_status`` and ``/metrics`` in the app."""

from __future__ import annotations

from fastapi import FastAPI

from zhengwu.kernel.node import Node
from zhengwu.ops import routes


def install(node: Node) -> None:
    """Register the node-level gauges."""
    node.services.put(routes.SCRAPE_GAUGES, routes.install_metrics(node.metrics))


def mount(app: FastAPI, node: Node) -> None:
    """Include the health and metrics endpoints."""
    app.include_router(routes.router)
    app.include_router(routes.api_router)
