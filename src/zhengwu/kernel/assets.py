"""Static assets (stylesheets, scripts) served by the node, checked before they leave it.

Anti-tamper (issue 15): a script or stylesheet altered on the server would run in every visitor's
browser, so the node refuses to serve an asset whose bytes differ from the release's signed manifest.
The kernel only offers the port: the security capability installs the guard that knows the manifest
(``security.assets``), and every capability serves its assets through ``static_asset``. Without a guard
on the node (tests of lower layers, a node whose release was never sealed) assets are served as they are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final, Protocol

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from zhengwu.kernel.errors import DomainError
from zhengwu.kernel.node import ServiceKey, node_of


class AssetGuard(Protocol):
    """Decides whether the bytes of a released file may be served."""

    def refusal(self, session: Session, path: Path, content: bytes) -> str | None:
        """None when ``content`` may be served as ``path``; otherwise why not (English, for the log)."""
        ...


ASSET_GUARD: Final[ServiceKey[AssetGuard]] = ServiceKey("kernel.asset_guard")


class AssetTampered(DomainError):
    """The asset's bytes are not the released ones: it is not served."""

    status_code = 503
    code = "asset_integrity_failed"
    default_detail = "页面资源未通过完整性校验，暂停提供，请联系网站运维人员"


def static_asset(
    request: Request,
    session: Session,
    path: Path,
    media_type: str,
    *,
    max_age: int = 3600,
    headers: dict[str, str] | None = None,
) -> Response:
    """The asset's bytes, after the node's guard accepted exactly those bytes (read once: no race).

    ``headers`` replace the default ``Cache-Control`` (a service worker is revalidated on every load)."""
    content = path.read_bytes()
    guard = node_of(request).services.get(ASSET_GUARD)
    if guard is not None:
        reason = guard.refusal(session, path, content)
        if reason is not None:
            raise AssetTampered(detail_en=f"{path.name}: {reason}")
    sent = headers if headers is not None else {"Cache-Control": f"public, max-age={max_age}"}
    return Response(content, media_type=media_type, headers=sent)
