"""The one exception type of the crypto kernel."""

from __future__ import annotations


class CryptoError(ValueError):
    """Malformed or unsupported key, PEM, signature encoding or ciphertext, or a failed decryption.

    Messages never contain key material; a key is named by its fingerprint at most.
    """
