"""Domain events of identity (published by ``identity.service``; subscribers are wired in main.py only)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from zhengwu.kernel.events import DomainEvent


@dataclass(frozen=True, slots=True, kw_only=True)
class UserLoggedOut(DomainEvent):
    """A login session ended (logout, password change, account disabled, federated logout; ``reason``
    says which). The OIDC provider answers with back-channel logout to the clients that shared it."""

    topic: ClassVar[str] = "identity.UserLoggedOut"

    session_id: str
    account_id: str
    reason: str | None
