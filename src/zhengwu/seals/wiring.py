"""Seals on the node: nothing kept between requests (the PKI and the bus are the node's); the API in the app."""

from __future__ import annotations

from fastapi import FastAPI

from zhengwu.kernel.node import Node


def install(node: Node) -> None:
    """Seals keeps nothing on the node: its services take the session, settings and bus they need."""


def mount(app: FastAPI, node: Node) -> None:
    """Include the seal registry, signing and verification API."""
    from zhengwu.seals import routes

    app.include_router(routes.router)
