"""The share view a QR code or link leads to (``/licenses/share#<token>``): a page without data whose
script sends the token from the URL fragment in the body of ``POST /api/v1/licenses/shares/redeem`` and
shows the answer. It serves shares for anyone; a share for a named department or client is redeemed by
that system with its credentials, and the page says so."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from zhengwu.kernel.assets import static_asset

router = APIRouter(tags=["licenses 电子证照"])
_STATIC: Final = Path(__file__).parent / "static"

_PAGE: Final = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>查看共享的电子证照</title>
<style>body{font-family:sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;line-height:1.6}
strong{display:inline-block;min-width:9rem}</style></head>
<body><h1>查看共享的电子证照</h1>
<div id="result" aria-live="polite">正在查询…</div>
<p><small>持证人可以随时撤销共享；撤销或过期后本页不再显示证照。</small></p>
<script src="/licenses/static/share.js"></script>
</body></html>"""


@router.get("/licenses/share", response_class=HTMLResponse, include_in_schema=False)
def share_view() -> HTMLResponse:
    """The page itself holds no data (the token stays in the fragment)."""
    return HTMLResponse(_PAGE, headers={"Cache-Control": "public, max-age=3600"})


@router.get("/licenses/static/share.js", include_in_schema=False)
async def share_script(request: Request) -> Response:
    """The page's script (a file, so that the Content-Security-Policy allows it)."""
    return await static_asset(request, _STATIC / "share.js", "text/javascript; charset=utf-8")
