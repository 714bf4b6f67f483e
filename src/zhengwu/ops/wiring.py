"""Ops on the node: the node-level and per-capability metrics; ``/_status`` and ``/metrics`` in the app."""

from __future__ import annotations

from fastapi import FastAPI

from zhengwu.kernel.node import Node
from zhengwu.ops import metrics, pages, routes, samples, walarchive


def install(node: Node) -> None:
    """Register the node-level gauges and the per-capability metrics."""
    node.services.put(routes.SCRAPE_GAUGES, routes.install_metrics(node.metrics))
    metrics.install(node)
    node.services.put(samples.RING, samples.Ring(node.settings.ops.samples))
    # Exported on every node (enabled 0 without an archive), so one rule file serves SQLite nodes too.
    node.services.put(walarchive.GAUGES, walarchive.install_gauges(node.metrics))
    if node.engine.dialect.name == "postgresql":
        node.health_probes["wal_archive"] = walarchive.probe(node)


def subscribe(node: Node) -> None:
    """Count the domain events operators watch (main.subscribe)."""
    metrics.subscribe(node)


def mount(app: FastAPI, node: Node) -> None:
    """Include the health and metrics endpoints."""
    app.include_router(routes.router)
    app.include_router(routes.api_router)
    app.include_router(pages.router)
    app.router.lifespan_context = samples.lifespan(app.router.lifespan_context, node)
