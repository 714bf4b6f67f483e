"""Password hashing (argon2id) and verification of legacy hashes kept from migrated systems."""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
from typing import Any

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


class HashMeter:
    """CPU time this process spent in argon2 (thread CPU time, so waiting for the GIL is not counted).

    Exported as ``zhengwu_identity_password_hash_*`` metrics: an operator sees what share of a node's
    CPU goes to password hashing, and the login benchmark compares a login's whole cost with it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0
        self.cpu_seconds = 0.0

    def add(self, seconds: float) -> None:
        """Count one hash or verification that took ``seconds`` of CPU time."""
        with self._lock:
            self.count += 1
            self.cpu_seconds += seconds


METER = HashMeter()


class Passwords:
    """A node's argon2id hashing (m=19 MiB, t=2, p=1 unless configured stronger)."""

    def __init__(self, *, memory_kib: int, time_cost: int, parallelism: int) -> None:
        self.hasher = PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_kib,
            parallelism=parallelism,
            hash_len=32,
            salt_len=16,
            type=Type.ID,
        )
        self._dummy: str | None = None

    def __repr__(self) -> str:
        return (
            f"Passwords(m={self.hasher.memory_cost}, t={self.hasher.time_cost}, p={self.hasher.parallelism})"
        )

    def hash(self, password: str) -> str:
        """An argon2id PHC string for ``password``."""
        started = time.thread_time()
        try:
            return self.hasher.hash(password)
        finally:
            METER.add(time.thread_time() - started)

    def verify(self, stored: str, password: str) -> bool:
        """True when ``password`` matches the argon2 PHC string ``stored``."""
        started = time.thread_time()
        try:
            return self.hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        finally:
            METER.add(time.thread_time() - started)

    def needs_rehash(self, stored: str) -> bool:
        """True when ``stored`` was made with weaker parameters than the node's."""
        try:
            return self.hasher.check_needs_rehash(stored)
        except InvalidHashError:
            return True

    def burn_time(self, password: str) -> None:
        """Spend one verification's worth of time, so unknown accounts answer as slowly as known ones."""
        if self._dummy is None:
            self._dummy = self.hash("zhengwu-timing-equaliser")
        self.verify(self._dummy, password)


# --- legacy schemes --------------------------------------------------------------------------------

LEGACY_SCHEMES = (
    "bcrypt",
    "pbkdf2_sha1",
    "pbkdf2_sha256",
    "pbkdf2_sha512",
    "sha256_salt",
    "md5_salt",
    "sha256",
    "md5",
)


class UnknownLegacyScheme(ValueError):
    """The legacy hash is of a scheme this platform cannot verify."""


def _b64decode_any(text: str) -> bytes:
    padded = text + "=" * (-len(text) % 4)
    return base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)


def _decode_digest(text: str) -> bytes:
    t = text.strip()
    if len(t) % 2 == 0 and all(c in "0123456789abcdefABCDEF" for c in t):
        return bytes.fromhex(t)
    return _b64decode_any(t)


def parse_legacy(
    hash_text: str,
    *,
    scheme: str | None = None,
    salt: str | None = None,
    iterations: int | None = None,
    salt_position: str | None = None,
) -> tuple[str, str, dict[str, Any]]:
    """Recognise a legacy hash: returns (scheme, digest text, parameters) or raises UnknownLegacyScheme.

    Recognised: bcrypt ``$2a$/$2b$/$2y$``; Django-style ``pbkdf2_sha256$iterations$salt$b64``;
    ``pbkdf2_<alg>`` with explicit salt and iterations; hex or base64 SHA-256/MD5 with a salt
    placed before (``prefix``, the default) or after (``suffix``) the password, or unsalted.
    """
    text = hash_text.strip()
    if text.startswith(("$2a$", "$2b$", "$2y$")) and len(text) == 60:
        return "bcrypt", text, {}
    if text.startswith("pbkdf2_") and text.count("$") == 3:
        alg_name, iters, salt_text, digest = text.split("$")
        if alg_name in ("pbkdf2_sha1", "pbkdf2_sha256", "pbkdf2_sha512") and iters.isdigit():
            return alg_name, digest, {"iterations": int(iters), "salt": salt_text, "salt_encoding": "utf-8"}
    name = (scheme or "").strip().lower().replace("-", "_")
    if name in ("pbkdf2_sha1", "pbkdf2_sha256", "pbkdf2_sha512"):
        if not salt or not iterations:
            raise UnknownLegacyScheme(f"{name} needs a salt and an iteration count")
        return name, text, {"iterations": int(iterations), "salt": salt, "salt_encoding": "utf-8"}
    if name in ("sha256", "md5", "sha256_salt", "md5_salt"):
        base = name.removesuffix("_salt")
        position = (salt_position or "prefix").lower()
        if position not in ("prefix", "suffix"):
            raise UnknownLegacyScheme("salt position must be prefix or suffix")
        if salt:
            return f"{base}_salt", text, {"salt": salt, "position": position}
        return base, text, {}
    raise UnknownLegacyScheme(f"unrecognised legacy password scheme {name or '(none)'}")


def verify_legacy(scheme: str, digest: str, params: dict[str, Any], password: str) -> bool:
    """True when ``password`` matches a legacy hash (constant-time comparison of digests)."""
    pw = password.encode()
    if scheme == "bcrypt":
        import bcrypt

        try:
            # bcrypt only reads 72 bytes; $2y$ is the PHP name of the same algorithm as $2b$.
            return bool(bcrypt.checkpw(pw, ("$2b$" + digest[4:]).encode()))
        except ValueError:
            return False
    try:
        expected = _decode_digest(digest)
    except ValueError:
        return False
    if scheme.startswith("pbkdf2_"):
        alg = scheme.removeprefix("pbkdf2_")
        computed = hashlib.pbkdf2_hmac(
            alg, pw, str(params["salt"]).encode(), int(params["iterations"]), len(expected)
        )
        return hmac.compare_digest(computed, expected)
    if scheme in ("sha256", "md5", "sha256_salt", "md5_salt"):
        alg = scheme.removesuffix("_salt")
        salt = str(params.get("salt", "")).encode()
        data = salt + pw if params.get("position", "prefix") == "prefix" else pw + salt
        computed = hashlib.new(alg, data, usedforsecurity=False).digest()
        return hmac.compare_digest(computed, expected)
    return False
