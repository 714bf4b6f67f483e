"""Anti-tamper (防篡改): an SM3 manifest of the installed package's code, templates and static assets,
signed with the node's key when an operator seals a release, and checked against the files later.

The manifest lists every file under the ``zhengwu`` package (caches excluded) with its SM3 digest. The
signature covers the canonical JSON of the node, the time and the file list, so a manifest edited to
match a tampered file no longer verifies. A check reports changed, added and removed files; any
finding becomes a security event (``integrity.changed``, or ``integrity.manifest_invalid`` for a
manifest that does not verify).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import zhengwu
from zhengwu.audit.chain import canonical_bytes
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.crypto import sm3

#: Never part of the release: bytecode caches differ per host and per run.
SKIPPED_PARTS: Final = frozenset({"__pycache__"})
SKIPPED_SUFFIXES: Final = (".pyc", ".pyo")


def package_root() -> Path:
    """The installed ``zhengwu`` package directory."""
    return Path(zhengwu.__file__).resolve().parent


def digest_files(root: Path) -> dict[str, str]:
    """Relative POSIX path → SM3 hex of every released file under ``root``."""
    found: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        if not path.is_file() or SKIPPED_PARTS.intersection(path.parts) or path.suffix in SKIPPED_SUFFIXES:
            continue
        found[path.relative_to(root).as_posix()] = sm3(path.read_bytes()).hex()
    return found


def signed_body(node: str, sealed_at: str, files: dict[str, str]) -> bytes:
    """The bytes the manifest's signature covers."""
    return canonical_bytes({"node": node, "sealed_at": sealed_at, "files": files})


def seal(root: Path, node: str, thumbprint: str, sign: Callable[[bytes], bytes]) -> dict[str, Any]:
    """A signed manifest of ``root`` as it is now."""
    files = digest_files(root)
    sealed_at = utcnow().isoformat(timespec="microseconds")
    return {
        "node": node,
        "sealed_at": sealed_at,
        "version": zhengwu.__version__,
        "thumbprint": thumbprint,
        "files": files,
        "signature": sign(signed_body(node, sealed_at, files)).hex(),
    }


@dataclass
class IntegrityReport:
    """What a check found."""

    manifest_ok: bool
    problem: str | None = None
    sealed_at: str | None = None
    checked: int = 0
    changed: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        """True when the manifest verifies and no file differs."""
        return self.manifest_ok and not (self.changed or self.added or self.removed)

    def as_dict(self) -> dict[str, Any]:
        """The report for --json."""
        return {"intact": self.intact, **{k: getattr(self, k) for k in self.__dataclass_fields__}}


def check(root: Path, manifest_path: Path, verify: Callable[[str, bytes, bytes], bool]) -> IntegrityReport:
    """Verify the manifest's signature, then compare every file with it."""
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        files, node, sealed_at = manifest["files"], str(manifest["node"]), str(manifest["sealed_at"])
        signature, thumbprint = bytes.fromhex(manifest["signature"]), str(manifest["thumbprint"])
        datetime.fromisoformat(sealed_at)
        if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
            raise TypeError("files")
    except FileNotFoundError:
        return IntegrityReport(
            manifest_ok=False, problem="清单不存在：请先执行 zhengwu security integrity --seal"
        )
    except (OSError, ValueError, KeyError, TypeError):
        return IntegrityReport(manifest_ok=False, problem="清单格式无效")
    if not verify(thumbprint, signature, signed_body(node, sealed_at, files)):
        return IntegrityReport(
            manifest_ok=False, problem="清单签名无效（清单被改动或非本节点签署）", sealed_at=sealed_at
        )
    current = digest_files(root)
    return IntegrityReport(
        manifest_ok=True,
        sealed_at=sealed_at,
        checked=len(current),
        changed=sorted(p for p in files.keys() & current.keys() if files[p] != current[p]),
        added=sorted(current.keys() - files.keys()),
        removed=sorted(files.keys() - current.keys()),
    )
