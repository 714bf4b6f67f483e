"""Secret tokens of shares and one-time downloads: random, shown once, stored only as a keyed SM3 digest
(a stolen table lets nobody redeem anything)."""

from __future__ import annotations

import secrets
from typing import Final

from zhengwu.kernel.config import Settings
from zhengwu.kernel.crypto import hmac_sm3

TOKEN_BYTES: Final = 24
MAX_TOKEN_CHARS: Final = 100


def new_token(prefix: str) -> str:
    """A fresh token (``prefix`` tells a share from a download when someone pastes one)."""
    return f"{prefix}_{secrets.token_urlsafe(TOKEN_BYTES)}"


def digest(settings: Settings, token: str) -> str:
    """The keyed digest under which a token is stored (the node's secret)."""
    key = hmac_sm3(settings.security.secret_key.get_secret_value().encode(), b"zhengwu/licenses/tokens/v1")
    return hmac_sm3(key, token.strip().encode()).hex()
