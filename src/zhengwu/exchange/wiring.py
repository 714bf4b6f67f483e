"""Composition helpers: the default topic registry and installing the exchange into an app."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhengwu.exchange import routes, verification
from zhengwu.exchange.models import ExchangeCredential, ExchangeFeedback
from zhengwu.exchange.national import RowError
from zhengwu.exchange.runtime import ExchangeRuntime
from zhengwu.exchange.servicekeys import AUTHORIZER, RUNTIME
from zhengwu.exchange.topics import TopicRegistry
from zhengwu.identity.servicekeys import OIDC
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.codes import validate_catalog_code, validate_license_id, validate_task_code, validate_uscc
from zhengwu.kernel.config import Settings
from zhengwu.kernel.errors import DomainError
from zhengwu.kernel.node import Node
from zhengwu.kernel.session import unit_of_work

_TASK_TABLES = ("up_task_general_basic", "up_task_public_basic", "up_task_directory", "dn_task_general_basic")


def _code_check(
    column: str, validator: Callable[..., Any], label: str
) -> Callable[[Mapping[str, Any]], Iterable[RowError]]:
    def check(row: Mapping[str, Any]) -> Iterable[RowError]:
        value = row.get(column)
        if value in (None, ""):
            return []
        verdict = validator(value)
        if verdict.ok:
            return []
        return [RowError(f"invalid_{column}", f"{label}（{column}）无效：{verdict.reason_zh}", column)]

    return check


def default_topics(settings: Settings) -> TopicRegistry:
    """National tables by convention, national code checks, and the license registry index."""
    registry = TopicRegistry()
    for table in _TASK_TABLES:
        registry.check_table(table, _code_check("catalog_code", validate_catalog_code, "基本编码"))
        if table != "up_task_directory":
            registry.check_table(table, _code_check("task_code", validate_task_code, "实施编码"))
    registry.check_table("up_task_general_material", _code_check("task_code", validate_task_code, "实施编码"))
    registry.check_table(
        "up_lic_data", _code_check("certificate_source_id", validate_license_id, "电子证照标识")
    )
    registry.check_table("up_lic_data", _code_check("issue_dept_code", validate_uscc, "证照颁发机构代码"))
    registry.on_table("up_lic_data", verification.license_registry_apply(settings))
    # The catalog's child rows carry their stable identity in ``row_key`` (catalog.events); its basic,
    # extend and directory rows can be rebuilt from the current catalog when an operator resends them.
    for family in ("general", "public"):
        for table in ("material", "fee_project", "questions"):
            registry.register(f"catalog.up_task_{family}_{table}", key_column="row_key")
        registry.register(f"catalog.up_task_{family}_basic", refresh=_catalog_refresh("basic"))
        registry.register(f"catalog.up_task_{family}_extend", refresh=_catalog_refresh("extend"))
    registry.register("catalog.up_task_directory", refresh=_catalog_refresh("directory"))
    return registry


def _catalog_refresh(kind: str) -> Callable[[Session, str], dict[str, Any] | None]:
    """The current national row of a catalog item (None when it no longer exists)."""

    def refresh(session: Session, key: str) -> dict[str, Any] | None:
        from zhengwu.catalog import national as catalog_national
        from zhengwu.catalog import service as catalog_service

        try:
            if kind == "directory":
                return catalog_national.directory_snapshot(catalog_service.get_directory(session, key))
            snapshot = catalog_national.task_snapshot(catalog_service.get_task(session, key))
        except DomainError:
            return None
        if kind == "basic":
            return catalog_national.basic_payload(snapshot)
        return catalog_national.extend_payload(snapshot)

    return refresh


def health(runtime: ExchangeRuntime) -> Callable[[], dict[str, Any]]:
    """``/_status`` probe: uplink certificate and expiry, open abnormal feedback."""

    def probe() -> dict[str, Any]:
        with unit_of_work(runtime.session_factory) as session:
            uplink = session.scalars(
                select(ExchangeCredential)
                .where(ExchangeCredential.purpose == "uplink", ExchangeCredential.status == "active")
                .limit(1)
            ).first()
            open_feedback = session.scalar(
                select(func.count()).select_from(ExchangeFeedback).where(ExchangeFeedback.status == "open")
            )
        days = (uplink.not_after - utcnow()).days if uplink is not None and uplink.not_after else None
        needs_uplink = bool(runtime.settings.upstream_url) and runtime.settings.exchange.transport == "http"
        return {
            "ok": (not needs_uplink or uplink is not None) and (days is None or days > 0),
            "transport": runtime.settings.exchange.transport,
            "joined": uplink is not None,
            "certificate_days_left": days,
            "open_feedback": int(open_feedback or 0),
        }

    return probe


def install(node: Node, registry: TopicRegistry) -> ExchangeRuntime:
    """Register the runtime, its health probe and, when the node has a provider, the client authoriser."""
    runtime = node.services.put(
        RUNTIME, ExchangeRuntime.create(node.settings, node.session_factory, registry)
    )
    node.health_probes["exchange"] = health(runtime)
    oidc = node.services.get(OIDC)
    if oidc is not None:
        from zhengwu.exchange.auth import oidc_authorizer

        node.services.put(AUTHORIZER, oidc_authorizer(oidc))
    return runtime


def mount(app: FastAPI, node: Node) -> None:
    """Include the node-to-node, operator, verification and page routers."""
    app.include_router(routes.node_router)
    app.include_router(routes.api_router)
    app.include_router(routes.verify_router)
    app.include_router(routes.page_router)
