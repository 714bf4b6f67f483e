"""办件编号 and the query password (standards §2.2: the national rule is not public, so the generator is
pluggable; ``ZHENGWU_CASES__NUMBER_SCHEME`` chooses one).

A generator gets the serial from a counter row bumped in the submitting transaction (the same pattern as
the license serial), so concurrent submissions never share a number and a rolled-back one burns none.
The prefix carries the division (and the optional node tag), so nodes of different divisions never meet.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Final, Protocol

from zhengwu.kernel.config import Settings

PASSWORD_DIGITS: Final = 6


@dataclass(frozen=True, slots=True)
class NumberRequest:
    """What a generator may use: the item's division and code, the submission day."""

    division_code: str
    task_code: str
    day: date


class CaseNumberGenerator(Protocol):
    """Makes a case number from a request and a serial source (``next_serial(scope) -> int``)."""

    def __call__(self, request: NumberRequest, next_serial: Callable[[str], int]) -> str: ...


@dataclass(frozen=True, slots=True)
class DivisionDateSerial:
    """``<division 6><node tag 0–2><yyyyMMdd><serial>``; the serial restarts each day per prefix."""

    digits: int = 6
    node_tag: str = ""

    def __call__(self, request: NumberRequest, next_serial: Callable[[str], int]) -> str:
        prefix = f"{request.division_code}{self.node_tag}{request.day:%Y%m%d}"
        return f"{prefix}{next_serial(prefix):0{self.digits}d}"


@dataclass(frozen=True, slots=True)
class TaskDateSerial:
    """The 43-character form: ``<task code 31><yyyyMMdd><serial 4>`` (longer task codes are kept whole)."""

    digits: int = 4

    def __call__(self, request: NumberRequest, next_serial: Callable[[str], int]) -> str:
        prefix = f"{request.task_code}{request.day:%Y%m%d}"
        return f"{prefix}{next_serial(prefix):0{self.digits}d}"


def generator(settings: Settings) -> CaseNumberGenerator:
    """The node's configured generator."""
    cfg = settings.cases
    if cfg.number_scheme == "task_date_serial":
        return TaskDateSerial()
    return DivisionDateSerial(cfg.serial_digits, cfg.node_tag)


def new_password() -> str:
    """A random 6-digit query password (查询密码), given to the applicant once."""
    return f"{secrets.randbelow(10**PASSWORD_DIGITS):0{PASSWORD_DIGITS}d}"


def hash_password(password: str, salt: bytes | None = None) -> str:
    """``salt$digest`` of a query password (PBKDF2-SHA256: a 6-digit secret needs a slow hash)."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 20_000)
    return f"{salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches a stored ``salt$digest`` (constant-time)."""
    salt_hex, _, _ = stored.partition("$")
    try:
        salt = bytes.fromhex(salt_hex)
    except ValueError:
        return False
    return hmac.compare_digest(hash_password(password, salt), stored)
