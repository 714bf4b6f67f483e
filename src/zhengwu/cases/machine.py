"""The case state machine (办件状态): which action may follow which status, and where it leads.

Pure: the service asks ``transition`` before it changes anything, so a refused action changes nothing
and its answer names the actions that are allowed now.

    draft ─submit→ submitted ─accept→ accepted ─(complete_step)→ in_process ─conclude→ concluded ─deliver→ delivered
                   │  └reject→ not_accepted                    │
                   └request_supplement→ supplement_requested ─supplement→ (back to where it was)
    accepted / in_process ─start_special→ special_procedure ─end_special→ in_process
    accepted / in_process ─accept_step→ (the same; another department took its 联办 step)
    accepted / in_process ─request_opinions→ joint_review ─give_opinion (all agree, or one refuses)→ in_process
    withdraw: by the applicant, from any status before the conclusion.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

DRAFT: Final = "draft"
SUBMITTED: Final = "submitted"
ACCEPTED: Final = "accepted"
NOT_ACCEPTED: Final = "not_accepted"
IN_PROCESS: Final = "in_process"
SUPPLEMENT: Final = "supplement_requested"
SPECIAL: Final = "special_procedure"
JOINT: Final = "joint_review"
CONCLUDED: Final = "concluded"
DELIVERED: Final = "delivered"
WITHDRAWN: Final = "withdrawn"

LABELS: Final[Mapping[str, str]] = {
    DRAFT: "草稿",
    SUBMITTED: "已申报，待受理",
    ACCEPTED: "已受理",
    NOT_ACCEPTED: "不予受理",
    IN_PROCESS: "办理中",
    SUPPLEMENT: "待补正",
    SPECIAL: "特别程序中",
    JOINT: "联办征求意见中",
    CONCLUDED: "已办结",
    DELIVERED: "已送达",
    WITHDRAWN: "已撤回",
}

#: Actions staff (or a department system) take through ``POST /cases/{no}/actions``.
STAFF_ACTIONS: Final = (
    "accept",
    "reject",
    "request_supplement",
    "accept_step",
    "complete_step",
    "add_step",
    "request_opinions",
    "give_opinion",
    "start_special",
    "end_special",
    "conclude",
    "deliver",
)
#: Actions the applicant takes.
APPLICANT_ACTIONS: Final = ("submit", "supplement", "withdraw")

_HANDLING: Final = (ACCEPTED, IN_PROCESS)
_BEFORE_CONCLUSION: Final = (SUBMITTED, ACCEPTED, IN_PROCESS, SUPPLEMENT, SPECIAL, JOINT)

#: action → the statuses it may start from.
FROM: Final[Mapping[str, tuple[str, ...]]] = {
    "submit": (DRAFT,),
    "accept": (SUBMITTED,),
    "reject": (SUBMITTED,),
    "request_supplement": (SUBMITTED, *_HANDLING),
    "supplement": (SUPPLEMENT,),
    "accept_step": _HANDLING,
    "complete_step": _HANDLING,
    "add_step": _HANDLING,
    "request_opinions": _HANDLING,
    "give_opinion": (JOINT,),
    "start_special": _HANDLING,
    "end_special": (SPECIAL,),
    "conclude": _HANDLING,
    "deliver": (CONCLUDED,),
    "withdraw": _BEFORE_CONCLUSION,
}

#: Statuses in which the legal clock does not run (补正 pauses it, 特别程序 suspends it).
CLOCK_STOPPED: Final = frozenset({SUPPLEMENT, SPECIAL})
#: Statuses that end the case's handling.
FINAL: Final = frozenset({NOT_ACCEPTED, CONCLUDED, DELIVERED, WITHDRAWN})
#: Statuses a department's queue shows as open work.
OPEN: Final = frozenset({SUBMITTED, ACCEPTED, IN_PROCESS, SUPPLEMENT, SPECIAL, JOINT})


@dataclass(frozen=True, slots=True)
class Refused:
    """An action that the current status does not allow, and the ones it does."""

    action: str
    status: str
    allowed: tuple[str, ...]


def allowed(status: str, actions: tuple[str, ...] = STAFF_ACTIONS) -> tuple[str, ...]:
    """The actions among ``actions`` that ``status`` allows, in their declared order."""
    return tuple(a for a in actions if status in FROM.get(a, ()))


def transition(
    status: str, action: str, *, resume_to: str | None = None, opinions_done: bool = False
) -> str | Refused:
    """The status after ``action``, or ``Refused`` when the current status does not allow it.

    ``resume_to`` is where a supplement returns (the status the case had when it was asked for);
    ``opinions_done`` says that an opinion completes a 联办 round (all agreed, or this one refuses).
    """
    if action not in FROM:
        raise ValueError(f"unknown action {action!r}")
    if status not in FROM[action]:
        pool = APPLICANT_ACTIONS if action in APPLICANT_ACTIONS else STAFF_ACTIONS
        return Refused(action, status, allowed(status, pool))
    match action:
        case "submit":
            return SUBMITTED
        case "accept":
            return ACCEPTED
        case "reject":
            return NOT_ACCEPTED
        case "request_supplement":
            return SUPPLEMENT
        case "supplement":
            return resume_to if resume_to in (SUBMITTED, *_HANDLING) else SUBMITTED
        case "complete_step" | "end_special":
            return IN_PROCESS
        case "add_step" | "accept_step":
            return status
        case "start_special":
            return SPECIAL
        case "request_opinions":
            return JOINT
        case "give_opinion":
            return IN_PROCESS if opinions_done else JOINT
        case "conclude":
            return CONCLUDED
        case "deliver":
            return DELIVERED
        case _:  # withdraw
            return WITHDRAWN
