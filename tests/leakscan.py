"""The log scan of conventions §2: no personal data, tokens or keys in logs or error bodies.

Installed on the root logger for the whole test session (tests/conftest.py); every formatted line
is searched for checksum-valid ID numbers and credit codes, free-standing mobile numbers, JWTs and
private keys. Kept in its own module so tests can import it without importing a conftest.
"""

from __future__ import annotations

import logging
import re

LEAK_LOG: list[str] = []

_LEAK_PATTERNS = {
    "citizen id": re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])"),
    "credit code": re.compile(r"(?<![0-9A-Z])[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}(?![0-9A-Z])"),
    # Not inside hex strings (trace ids, fingerprints): only a free-standing 11-digit mobile number.
    "phone": re.compile(r"(?<![0-9A-Za-z])1[3-9]\d{9}(?![0-9A-Za-z])"),
    "jwt": re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"),
    "pem": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
}


class _LeakScanner(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:
            return
        for kind, pattern in _LEAK_PATTERNS.items():
            match = pattern.search(line)
            if match and _is_real_leak(kind, match.group(0)):
                LEAK_LOG.append(f"{kind}: {record.name}: {line[:300]}")


def _is_real_leak(kind: str, value: str) -> bool:
    # Only checksum-valid identifiers count, so that random hex or counters do not trip the scan.
    if kind == "citizen id":
        weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
        total = sum(int(c) * w for c, w in zip(value[:17], weights, strict=True))
        return "10X98765432"[total % 11] == value[17].upper()
    if kind == "credit code":
        alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
        total = sum(alphabet.index(c) * pow(3, i, 31) for i, c in enumerate(value[:17]))
        return alphabet[(31 - total % 31) % 31] == value[17]
    return True


_scanner = _LeakScanner()


def install_scanner() -> None:
    """Attach the scanner to the root logger at DEBUG, quieting third-party chatter."""
    root = logging.getLogger()
    _scanner.setLevel(logging.DEBUG)
    if _scanner not in root.handlers:
        root.addHandler(_scanner)
    root.setLevel(logging.DEBUG)
    for noisy in (
        "asyncio",
        "urllib3",
        "httpcore",
        "httpx",
        "jieba",
        "PIL",
        "faker",
        "alembic",
        "sqlalchemy",
    ):
        logging.getLogger(noisy).setLevel(logging.WARNING)
