"""Content-addressed file store under the data directory (materials, OFD files, previews).

Files are named by their SM3 digest, so identical content is stored once and a stored file can be
checked for integrity at any time.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Final

_HEX: Final = frozenset("0123456789abcdef")


class FileStore:
    """Stores blobs at ``<root>/ab/cd/<sm3-hex>``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, digest: str) -> Path:
        if len(digest) != 64 or not _HEX.issuperset(digest):
            raise ValueError("not an SM3 hex digest")
        return self.root / digest[:2] / digest[2:4] / digest

    def put(self, data: bytes) -> str:
        """Store ``data``; returns its SM3 hex digest (idempotent)."""
        digest = hashlib.new("sm3", data).hexdigest()
        path = self._path(digest)
        if path.exists():
            return digest
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write to a temp file then rename: a crash never leaves a truncated blob under its final name.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest

    def get(self, digest: str) -> bytes:
        """Read a blob; raises FileNotFoundError if absent and ValueError if it fails its digest."""
        data = self._path(digest).read_bytes()
        if hashlib.new("sm3", data).hexdigest() != digest:
            raise ValueError(f"stored file {digest[:12]}… is corrupt")
        return data

    def exists(self, digest: str) -> bool:
        """True when the blob is stored."""
        return self._path(digest).exists()
