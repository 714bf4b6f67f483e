"""Field protection: SM4-GCM encryption at rest and keyed SM3 blind indexes (standards §8.1, §8.3)."""

from __future__ import annotations

import os

from zhengwu.identity.context import IdentityKeys
from zhengwu.kernel.crypto.hashes import hmac_sm3
from zhengwu.kernel.crypto.sm4 import sm4_gcm_decrypt, sm4_gcm_encrypt

_VERSION = b"\x01"
_NONCE = 12


def encrypt_field(keys: IdentityKeys, value: str, *, purpose: str) -> bytes:
    """Encrypt a personal field; the purpose is bound as AAD so ciphertexts cannot be swapped between columns."""
    nonce = os.urandom(_NONCE)
    ct = sm4_gcm_encrypt(keys.data_key, nonce, value.encode(), purpose.encode())
    return _VERSION + nonce + ct


def decrypt_field(keys: IdentityKeys, blob: bytes, *, purpose: str) -> str:
    """Decrypt a field written by :func:`encrypt_field` (CryptoError on tampering or a wrong key)."""
    if blob[:1] != _VERSION:
        raise ValueError("unknown field-encryption version")
    nonce, ct = blob[1 : 1 + _NONCE], blob[1 + _NONCE :]
    return sm4_gcm_decrypt(keys.data_key, nonce, ct, purpose.encode()).decode()


def blind_index(keys: IdentityKeys, value: str, *, kind: str) -> str:
    """Keyed SM3 (HMAC-SM3) of a normalised value, for exact lookup without storing the value."""
    return hmac_sm3(keys.index_key, f"{kind}:{value}".encode()).hex()


def cert_key(keys: IdentityKeys, value: str, *, cert_type: str = "111") -> str:
    """证件散列码 shared across tiers (keyed with the federation key; never the plain number upward)."""
    return hmac_sm3(keys.federation_key, f"{cert_type}:{value}".encode()).hex()


def token_mac(keys: IdentityKeys, value: str, *, purpose: str) -> str:
    """HMAC-SM3 of a token under the node's token key (CSRF, recovery and reset codes)."""
    return hmac_sm3(keys.token_key, f"{purpose}:{value}".encode()).hex()


def mask_phone(phone: str) -> str:
    """138****5678 — what a page may show."""
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 7 else "****"


def mask_id(number: str) -> str:
    """First and last digits only: 1****************X."""
    return number[:1] + "*" * (len(number) - 2) + number[-1:] if len(number) > 2 else "**"
