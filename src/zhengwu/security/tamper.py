"""Anti-tamper on a running node: the periodic check of the installed files and the guard that refuses to
serve a static asset whose bytes are not the released ones (``kernel.assets``).

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

from zhengwu.audit.apart import write_apart
from zhengwu.kernel.config import Settings
from zhengwu.kernel.crypto import sm3
from zhengwu.kernel.db import read_only_transactions
from zhengwu.kernel.logging import get_logger
from zhengwu.kernel.node import node_in
from zhengwu.kernel.session import unit_of_work
from zhengwu.pki.tsa import signature_check
from zhengwu.security import integrity, service
from zhengwu.security.service import NewEvent
from zhengwu.security.severity import Severity

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
    """The node's asset guard: an asset is served only when its SM3 is the manifest's.

    The manifest is read and its signature checked once per version of the file (mtime and size). A
    manifest that does not verify refuses every asset: nothing says which bytes are the released ones.
    Each refusal of a (file, digest) pair is recorded once per process as a security event.
    """

    def __init__(self, settings: Settings) -> None:
        self._path = manifest_path(settings)
        self._root = integrity.package_root()
        self._lock = threading.Lock()
        self._loaded: _Manifest | None = None
        self._reported: set[tuple[str, str]] = set()

    def refusal(self, session: Session, path: Path, content: bytes) -> str | None:
        """None when ``content`` is what the release holds for ``path``; otherwise why it is refused."""
        manifest = self._manifest(session)
        if manifest is None:
            return None
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
        self._report(session, name, digest, reason)
        return reason

    def _manifest(self, session: Session) -> _Manifest | None:
        try:
            stat = self._path.stat()
        except FileNotFoundError:
            return None
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if self._loaded is not None and self._loaded.stamp == stamp:
                return self._loaded
        files = self._verified_files(session)
        loaded = _Manifest(stamp, files)
        with self._lock:
            self._loaded = loaded
        return loaded

    def _verified_files(self, session: Session) -> dict[str, str] | None:
        try:
            manifest = json.loads(self._path.read_text(encoding="utf-8"))
            files, node, sealed_at = manifest["files"], str(manifest["node"]), str(manifest["sealed_at"])
            signature, thumbprint = bytes.fromhex(manifest["signature"]), str(manifest["thumbprint"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if not isinstance(files, dict):
            return None
        body = integrity.signed_body(node, sealed_at, files)
        if not signature_check(session)(thumbprint, signature, body):
            return None
        return {str(k): str(v) for k, v in files.items()}

    def _report(self, session: Session, name: str, digest: str, reason: str) -> None:
        with self._lock:
            if (name, digest) in self._reported:
                return
            self._reported.add((name, digest))
        log.error("asset_refused", asset=name, reason=reason)
        new = NewEvent(
            event_type="integrity.asset_refused", severity=Severity.HIGH, source="integrity",
            summary=f"拒绝提供未通过完整性校验的页面资源：{name}",
            detail={"file": name, "sm3": digest, "reason": reason},
        )  # fmt: skip
        bus = node_in(session).bus
        write_apart(session, lambda apart: service.record(apart, new, bus=bus))
