"""Images people upload for the portal (app icons, a style's logo): checked by their own bytes and size.

Only PNG and JPEG: an SVG can carry script, and the pages serve these from the node itself.
"""

from __future__ import annotations

from typing import Final

from zhengwu.portal.errors import PortalError

MAX_IMAGE_BYTES: Final = 64 * 1024
_SIGNATURES: Final = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"))


def image_type(data: bytes, *, what: str, declared: str | None = None) -> str:
    """The content type of a PNG or JPEG image no larger than 64 KiB; a refusal in words otherwise.

    ``declared`` (a request's Content-Type) must agree with the bytes when given."""
    if not data:
        raise PortalError(f"{what}是空文件", detail_en="empty image")
    if len(data) > MAX_IMAGE_BYTES:
        raise PortalError(f"{what}不能超过 64 KB", detail_en="image too large")
    found = next((kind for magic, kind in _SIGNATURES if data.startswith(magic)), None)
    if found is None:
        raise PortalError(f"{what}只能是 PNG 或 JPEG 图片", detail_en="not a png or jpeg")
    if declared is not None and declared.split(";")[0].strip().lower() != found:
        raise PortalError(f"{what}的类型与文件内容不符", detail_en="content type does not match the bytes")
    return found
