"""Anti-tamper on a running node: the periodic check of the installed files and the guard that refuses to
use a static asset or template whose bytes are not the released ones (``kernel.assets``).

Both trust only a manifest signed with this node's TSA key (``zhengwu security integrity --seal``).
A node whose release was never sealed has nothing to compare with: the guard serves assets as they are
and the worker skips its check (``zhengwu security report`` shows the missing manifest).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from sqlalchemy.orm import Session, sessionmaker

from zhengwu.kernel.config import Settings
from zhengwu.kernel.crypto import sm3
from zhengwu.kernel.db import read_only_transactions
from zhengwu.kernel.logging import get_logger
from zhengwu.kernel.node import Node, node_in
from zhengwu.kernel.session import unit_of_work
from zhengwu.pki.tsa import signature_check
from zhengwu.security import integrity, service

log = get_logger("zhengwu.security.tamper")

MANIFEST_NAME: Final = "integrity-manifest.json"


def manifest_path(settings: Settings) -> Path:
    """Where ``security integrity --seal`` writes the node's manifest."""
    return settings.data_dir / MANIFEST_NAME


def periodic_check(factory: sessionmaker[Session], settings: Settings) -> integrity.IntegrityReport | None:
    """The worker's check (every ``ZHENGWU_SECURITY__INTEGRITY_MINUTES``): a finding becomes a security event.

    The files are read and hashed outside any write transaction; only a finding takes the write lock.
    """
    path = manifest_path(settings)
    if settings.security.integrity_minutes == 0 or not path.exists():
        return None
    with read_only_transactions(), unit_of_work(factory) as session:
        report = integrity.check(integrity.package_root(), path, signature_check(session))
    if not report.intact:
        with unit_of_work(factory) as session:
            service.integrity_finding(session, report.as_dict(), bus=node_in(session).bus)
        log.warning("integrity_check_failed", changed=len(report.changed), added=len(report.added),
                    removed=len(report.removed), manifest_ok=report.manifest_ok)  # fmt: skip
    return report


@dataclass(frozen=True, slots=True)
class _Manifest:
    """A manifest file as loaded: its digests, or None when it does not verify."""

    stamp: tuple[int, int]  # (mtime_ns, size) of the file it was read from
    files: dict[str, str] | None


class ManifestGuard:
    """The node's asset guard: a static asset or template is used only when its SM3 is the manifest's.

    The manifest is read and its signature checked once per version of the file (mtime and size), in a
    read-only unit of its own. A manifest that does not verify refuses every file: nothing says which
    bytes are the released ones. A refusal is logged as a security signal (``asset_refused``), stored
    as the event ``integrity.asset_refused`` by the signal buffer — never a write inside the request
    that is being refused — once per (file, digest) and process.
    """

    def __init__(self, node: Node) -> None:
        self._node = node
        self._path = manifest_path(node.settings)
        self._root = integrity.package_root()
        self._lock = threading.Lock()
        self._loaded: _Manifest | None = None
        self._reported: set[tuple[str, str]] = set()
        # The bytes last judged per path and the answer, under the manifest they were judged by: the
        # same bytes object asked again (an asset served from kernel.assets' kept copy) gets the same
        # answer without resolving the path and hashing it again, 0.25 ms per request for the portal's
        # stylesheet. A refusal was logged when it was first found (once per file and digest anyway).
        self._judged: dict[Path, tuple[bytes, str | None]] = {}
        self._judged_by: _Manifest | None = None

    def refusal(self, path: Path, content: bytes) -> str | None:
        """None when ``content`` is what the release holds for ``path``; otherwise why it is refused."""
        manifest = self._manifest()
        if manifest is None:
            return None
        with self._lock:
            judged = self._judged.get(path) if self._judged_by is manifest else None
        if judged is not None and judged[0] is content:
            return judged[1]
        reason = self._judge(manifest, path, content)
        with self._lock:
            if self._judged_by is not manifest:  # another version of the manifest: start over
                self._judged, self._judged_by = {}, manifest
            self._judged[path] = (content, reason)
        return reason

    def _judge(self, manifest: _Manifest, path: Path, content: bytes) -> str | None:
        try:
            name = path.resolve().relative_to(self._root).as_posix()
        except ValueError:
            name = path.name
        digest = sm3(content).hex()
        if manifest.files is None:
            reason = "the anti-tamper manifest does not verify"
        elif name not in manifest.files:
            reason = "the file is not in the signed manifest"
        elif manifest.files[name] != digest:
            reason = "the file differs from the signed manifest"
        else:
            return None
        with self._lock:
            first = (name, digest) not in self._reported
            self._reported.add((name, digest))
        if first:
            log.error("asset_refused", security_event=True, file=name, reason=reason)
        return reason

    def _manifest(self) -> _Manifest | None:
        try:
            stat = self._path.stat()
        except FileNotFoundError:
            return None
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if self._loaded is not None and self._loaded.stamp == stamp:
                return self._loaded
        loaded = _Manifest(stamp, self._verified_files())
        with self._lock:
            self._loaded = loaded
        return loaded

    def _verified_files(self) -> dict[str, str] | None:
        try:
            manifest = json.loads(self._path.read_text(encoding="utf-8"))
            files, node, sealed_at = manifest["files"], str(manifest["node"]), str(manifest["sealed_at"])
            signature, thumbprint = bytes.fromhex(manifest["signature"]), str(manifest["thumbprint"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if not isinstance(files, dict):
            return None
        body = integrity.signed_body(node, sealed_at, files)
        with read_only_transactions(), unit_of_work(self._node.session_factory) as session:
            if not signature_check(session)(thumbprint, signature, body):
                return None
        return {str(k): str(v) for k, v in files.items()}
