"""The result of validating a national code: one immutable value, never an exception."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Status = Literal["OK", "WARN", "INVALID"]


@dataclass(frozen=True, slots=True)
class Notice:
    """A non-fatal remark on a value: stable machine code plus Chinese and English text."""

    code: str
    zh: str
    en: str


@dataclass(frozen=True, slots=True)
class Verdict:
    """Outcome of one validation: the normalised value, ok or not, a stable code and the reasons."""

    value: str
    ok: bool
    code: str
    reason_zh: str
    reason_en: str
    warnings: tuple[Notice, ...] = ()

    @property
    def status(self) -> Status:
        """``OK`` (valid, no remarks), ``WARN`` (valid with remarks) or ``INVALID``."""
        if not self.ok:
            return "INVALID"
        return "WARN" if self.warnings else "OK"

    @property
    def reason(self) -> str:
        """Both reasons on one line, Chinese first (for logs, CLIs and error details)."""
        return f"{self.reason_zh} / {self.reason_en}"


def invalid(value: str, code: str, zh: str, en: str, warnings: tuple[Notice, ...] = ()) -> Verdict:
    """Build a failing verdict."""
    return Verdict(value, False, code, zh, en, warnings)


class CodeError(ValueError):
    """Raised by the ``make_*``/``parse_*`` helpers; carries the failing verdict."""

    def __init__(self, verdict: Verdict) -> None:
        self.verdict = verdict
        super().__init__(verdict.reason_zh)
