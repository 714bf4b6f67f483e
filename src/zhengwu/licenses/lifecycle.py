"""The license status machine (conventions §14): which change is allowed from which status.

``expired`` is not stored by a job: a valid license whose validity has ended reads as expired
(``effective_status``), and every answer uses the effective status.
"""

from __future__ import annotations

from datetime import date
from typing import Final

from zhengwu.licenses.errors import LicenseStateConflict

VALID: Final = "valid"
SUSPENDED: Final = "suspended"
REVOKED: Final = "revoked"
EXPIRED: Final = "expired"
SUPERSEDED: Final = "superseded"
STATUSES: Final = (VALID, SUSPENDED, REVOKED, EXPIRED, SUPERSEDED)

LABELS: Final = {
    VALID: "有效",
    SUSPENDED: "挂起",
    REVOKED: "注销",
    EXPIRED: "过期",
    SUPERSEDED: "已换发",
}

# action → (statuses it may start from, status it leads to)
_ACTIONS: Final = {
    "suspend": ((VALID,), SUSPENDED),
    "resume": ((SUSPENDED,), VALID),
    "revoke": ((VALID, SUSPENDED), REVOKED),
    "supersede": ((VALID, SUSPENDED), SUPERSEDED),
}
ACTIONS: Final = tuple(_ACTIONS)
_ACTION_ZH: Final = {"suspend": "挂起", "resume": "恢复", "revoke": "注销", "supersede": "换发"}


def effective_status(status: str, valid_until: date | None, today: date) -> str:
    """The status a reader sees: a valid license past its last day is expired."""
    if status == VALID and valid_until is not None and today > valid_until:
        return EXPIRED
    return status


def transition(action: str, status: str, valid_until: date | None, today: date) -> str:
    """The status after ``action``, or LicenseStateConflict (expired licenses change no more)."""
    allowed, target = _ACTIONS[action]
    current = effective_status(status, valid_until, today)
    if current not in allowed:
        raise LicenseStateConflict(
            f"证照状态为“{LABELS.get(current, current)}”，不能{_ACTION_ZH[action]}",
            detail_en=f"cannot {action} a license that is {current}",
        )
    return target


def label(status: str) -> str:
    """The Chinese word for a status."""
    return LABELS.get(status, status)
