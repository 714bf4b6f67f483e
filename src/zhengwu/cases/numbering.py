"""办件编号 and the query password (standards §2.2: the national rule is not public, so the generator is
pluggable; ``ZHENGWU_CASES__NUMBER_SCHEME`` chooses one).

A generator gets the serial from a counter row bumped in the submitting transaction (the same pattern as
the license serial), so concurrent submissions never share a number and a rolled-back one burns none.
The prefix carries the division (and the optional node tag), so nodes of different divisions never meet.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Final, Protocol

from zhengwu.kernel.config import Settings
from zhengwu.kernel.crypto.hashes import hmac_sm3

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


def seal_password(key: bytes, case_no: str, password: str) -> str:
    """The stored form of a query password: HMAC-SM3 under a node key, bound to the case number.

    Six digits are too few for any hash to resist a search on their own; keyed with a secret that is not
    in the database, a copied table reveals nothing, and the lookup itself is rate-limited per address.
    """
    return hmac_sm3(key, f"zhengwu/cases/query-password/v1:{case_no}:{password}".encode()).hex()


def check_password(key: bytes, case_no: str, password: str, stored: str) -> bool:
    """Whether ``password`` is the query password of ``case_no`` (constant-time)."""
    return hmac.compare_digest(seal_password(key, case_no, password), stored)
