"""Orgs on the node: no services of its own; the department API in the app."""

from __future__ import annotations

from fastapi import FastAPI

from zhengwu.kernel.node import Node


def install(node: Node) -> None:
    """Orgs keeps nothing on the node (its service functions take a session)."""


def mount(app: FastAPI, node: Node) -> None:
    """Include the department API."""
    from zhengwu.orgs import routes

    app.include_router(routes.router)
