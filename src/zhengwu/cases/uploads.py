"""Uploaded materials: the media types a case accepts, checked against the file's own leading bytes,
the size limit, and the node's virus-scan hook (``cases.servicekeys.SCANNER``) before the file goes into
the content-addressed store."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from zhengwu.cases.errors import MaterialRejected, MaterialTypeUnsupported
from zhengwu.cases.servicekeys import SCANNER
from zhengwu.kernel.node import Node

MAX_MATERIAL_BYTES: Final = 10 * 1024 * 1024
#: Media type → the leading bytes its files start with.
SIGNATURES: Final[Mapping[str, tuple[bytes, ...]]] = {
    "application/pdf": (b"%PDF-",),
    "application/ofd": (b"PK\x03\x04",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
}


def store(node: Node, media_type: str, data: bytes) -> str:
    """Check an upload and store it; its SM3 (what an application names the material by)."""
    kind = media_type.split(";", 1)[0].strip().lower()
    if kind not in SIGNATURES:
        raise MaterialTypeUnsupported(extra={"accepted": sorted(SIGNATURES)})
    if not data:
        raise MaterialRejected("上传的文件为空")
    if len(data) > MAX_MATERIAL_BYTES:
        raise MaterialRejected(
            f"材料不能超过{MAX_MATERIAL_BYTES // (1024 * 1024)}MB", code="cases.material_too_large"
        )
    if not data.startswith(SIGNATURES[kind]):
        raise MaterialRejected("文件内容与声明的类型不符", code="cases.material_mismatch")
    scanner = node.services.get(SCANNER)
    if scanner is not None:
        reason = scanner.scan(data)
        if reason is not None:
            raise MaterialRejected(f"文件未通过安全检查：{reason}", code="cases.material_infected")
    return node.files.put(data)
