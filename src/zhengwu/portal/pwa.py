"""The portal as an installable web app (PWA): the web app manifest, icons, the service worker, its
registration script and the offline page.

The service worker (``static/sw.js``) keeps the static shell and the offline page, fetched without
cookies, and of the personal pages only 扫码亮证 (what the holder shows anyone anyway), for no longer than
the session it was shown in would last unused, renewed by every page of that session
(``pages.offline_headers``); it stores no other page
and no API answer. Everything here is public and holds no data; the pages work the same without JavaScript.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from zhengwu.kernel.assets import static_asset
from zhengwu.kernel.node import node_of
from zhengwu.portal.pages import TEMPLATES

router = APIRouter(include_in_schema=False)
_STATIC: Final = Path(__file__).parent / "static"
ICONS: Final = ("icon-192.png", "icon-512.png", "icon-192-maskable.png", "icon-512-maskable.png")
_SHELL_CACHE: Final = {"Cache-Control": "public, max-age=3600"}


def manifest(request: Request) -> dict[str, Any]:
    """The web app manifest of this node (its name and header colour)."""
    settings = node_of(request).settings
    name = settings.portal.title or settings.node_name
    icons = []
    for icon in ICONS:
        side = icon.split("-")[1].removesuffix(".png")
        icons.append({"src": f"/portal/static/{icon}", "sizes": f"{side}x{side}", "type": "image/png",
                      "purpose": "maskable" if "maskable" in icon else "any"})  # fmt: skip
    return {
        "name": name,
        "short_name": name[:12],
        "description": "在线办事、我的办件、我的证照",
        "lang": "zh-CN",
        "dir": "ltr",
        "start_url": "/?source=pwa",
        "scope": "/",
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": settings.portal.header_colour,
        "icons": icons,
    }


@router.get("/manifest.webmanifest")
def web_manifest(request: Request) -> JSONResponse:
    """The manifest that makes the portal installable (name, icons, colours, start page)."""
    return JSONResponse(manifest(request), media_type="application/manifest+json", headers=_SHELL_CACHE)


# Served through kernel.assets: refused when the bytes are not the sealed release's (anti-tamper); a
# tampered service worker would otherwise sit in every visitor's browser.
@router.get("/sw.js")
async def service_worker(request: Request) -> Response:
    """The service worker, at the root so that its scope is the whole portal; revalidated on every load."""
    return await static_asset(request, _STATIC / "sw.js", "text/javascript; charset=utf-8",
                              headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/"})  # fmt: skip


@router.get("/portal/static/pwa.js")
async def registration_script(request: Request) -> Response:
    """The few lines that register the service worker (a file: the Content-Security-Policy allows it)."""
    return await static_asset(
        request, _STATIC / "pwa.js", "text/javascript; charset=utf-8", headers=_SHELL_CACHE
    )


@router.get("/portal/static/{name}.png")
async def icon(name: str, request: Request) -> Response:
    """The app icons (red square with 政; the maskable ones keep it inside the safe zone)."""
    if f"{name}.png" not in ICONS:
        return HTMLResponse("没有这个文件", status_code=404)
    return await static_asset(request, _STATIC / f"{name}.png", "image/png", headers=_SHELL_CACHE)


@router.get("/offline", response_class=HTMLResponse)
def offline_page(request: Request) -> HTMLResponse:
    """The page the service worker shows without a network: the same for everyone, no session in it."""
    settings = node_of(request).settings
    look = settings.portal
    context = {
        "csrf_token": "",
        "node_name": look.title or settings.node_name,
        "logo_url": look.logo_url,
        "header_colour": look.header_colour,
        "footer": look.footer,
        "account": None,
        "care": 0,
        "here": "/",
        "login_url": "/identity/login",
    }
    return TEMPLATES.TemplateResponse(request, "portal/offline.html", context, headers=_SHELL_CACHE)
