"""PNG preview of a license: the sealed file itself rasterised (seals' OFD drawing, poppler's pdftoppm),
so the preview shows the face, the 2-D code and the seal stamp exactly as issued. Without pdftoppm the
route answers 503 ``seals.preview_unavailable`` (docs/operations.md lists poppler-utils)."""

from __future__ import annotations

from typing import Final

from zhengwu.kernel.config import Settings
from zhengwu.licenses import service
from zhengwu.licenses.models import License
from zhengwu.seals.ofd.preview import render_preview

DPI: Final = 96


def preview_png(settings: Settings, lic: License, *, dpi: int = DPI) -> bytes:
    """PNG of the first page of the license's sealed OFD."""
    return render_preview(service.license_file(settings, lic), page=1, dpi=dpi)
