"""The virus scanner behind the upload hook: a ClamAV daemon (clamd) asked over its INSTREAM protocol,
on a unix socket or ``tcp://host:port`` (``ZHENGWU_CASES__CLAMD_SOCKET``).

INSTREAM is small enough to speak directly (no client library): the command ``zINSTREAM\\0``, the file as
chunks each preceded by its length as a 4-byte big-endian integer, a zero-length chunk to end, then one
NUL-terminated line: ``stream: OK``, ``stream: <signature> FOUND`` or ``<reason> ERROR``.

An unreachable, hung or failing daemon refuses the upload (503) by default; an operator may choose to let
files through unscanned instead (``ZHENGWU_CASES__SCAN_FAIL_OPEN=true``), which is logged for each file.
"""

from __future__ import annotations

import socket
import struct
from typing import Final

from zhengwu.cases.errors import ScannerUnavailable
from zhengwu.kernel.logging import get_logger

log = get_logger("zhengwu.cases.clamav")

CHUNK: Final = 64 * 1024
MAX_REPLY: Final = 4096
#: What the applicant reads after "文件未通过安全检查：" (the signature's name goes to the log only).
INFECTED: Final = "检测到病毒或恶意代码，文件未保存"


class ClamdScanner:
    """A ``MaterialScanner`` asking clamd; one connection per file."""

    def __init__(self, address: str, *, timeout: float = 30.0, fail_open: bool = False) -> None:
        self.address = address
        self.timeout = timeout
        self.fail_open = fail_open

    def _connect(self) -> socket.socket:
        if self.address.startswith("tcp://"):
            host, _, port = self.address[6:].rpartition(":")
            return socket.create_connection((host.strip("[]"), int(port)), timeout=self.timeout)
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.settimeout(self.timeout)
        try:
            conn.connect(self.address)
        except OSError:
            conn.close()
            raise
        return conn

    def ask(self, data: bytes) -> str:
        """clamd's answer line for ``data`` (OSError when it cannot be had)."""
        with self._connect() as conn:
            conn.sendall(b"zINSTREAM\0")
            view = memoryview(data)
            for start in range(0, len(view), CHUNK):
                piece = view[start : start + CHUNK]
                conn.sendall(struct.pack(">I", len(piece)) + piece)
            conn.sendall(struct.pack(">I", 0))
            reply = b""
            while b"\0" not in reply and len(reply) < MAX_REPLY:
                got = conn.recv(MAX_REPLY)
                if not got:
                    break
                reply += got
        return reply.split(b"\0", 1)[0].decode("utf-8", "replace").strip()

    def scan(self, data: bytes) -> str | None:
        """None when clamd finds the file clean; the reason shown to the applicant when it finds a
        signature; ScannerUnavailable (or None when failing open) when clamd cannot say."""
        try:
            answer = self.ask(data)
        except (OSError, ValueError) as exc:
            self._unavailable(f"{type(exc).__name__}: {exc}")
            return None
        if answer.endswith(" FOUND"):
            log.warning("material_infected", signature=answer.removeprefix("stream:").strip()[:-6].strip())
            return INFECTED
        if answer.endswith(": OK"):
            return None
        self._unavailable(answer[:200] or "empty answer")
        return None

    def _unavailable(self, why: str) -> None:
        """Log that the file goes unscanned (failing open), or refuse it."""
        if self.fail_open:
            log.warning("material_not_scanned", reason=why)
            return None
        log.error("material_scanner_unavailable", reason=why)
        raise ScannerUnavailable()
