"""The one exception type of the PKI library."""

from __future__ import annotations


class PkiError(ValueError):
    """Malformed, oversized or unsupported PKI input, or a build request that breaks a PKI rule."""

    def __init__(self, message: str, message_zh: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.message_zh = message_zh or message
