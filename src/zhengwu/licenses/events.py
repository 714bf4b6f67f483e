"""Domain events of electronic licenses (published by ``licenses.service``; subscribers are wired in
main.py). The API and the CLI call the same service functions with the node's bus, so both publish them.

They are the in-process counterpart of the ``licenses.up_lic_data`` outbox rows: a subscriber on this
node (an audit trail, a holder notification) hears of a change inside the transaction that makes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from zhengwu.kernel.events import DomainEvent
from zhengwu.licenses.models import License


@dataclass(frozen=True, slots=True, kw_only=True)
class LicenseEvent(DomainEvent):
    """What every license event carries (never the holder's code: it is encrypted at rest)."""

    topic: ClassVar[str] = "licenses.LicenseEvent"

    license_id: str
    identifier: str
    type_code: str
    department_id: str
    status: str
    reason: str | None
    actor: str

    @classmethod
    def of(cls, lic: License, *, reason: str | None, actor: str) -> Self:
        """The event for ``lic`` as it is now."""
        return cls(
            license_id=lic.id,
            identifier=lic.identifier,
            type_code=lic.type_code,
            department_id=lic.department_id,
            status=lic.status,
            reason=reason,
            actor=actor,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class LicenseIssued(LicenseEvent):
    """A license version was issued (status ``valid``); a renewal also publishes ``LicenseStatusChanged``
    for the version it supersedes."""

    topic: ClassVar[str] = "licenses.LicenseIssued"


@dataclass(frozen=True, slots=True, kw_only=True)
class LicenseStatusChanged(LicenseEvent):
    """A license was suspended, resumed, revoked or superseded (``status`` is the new one)."""

    topic: ClassVar[str] = "licenses.LicenseStatusChanged"


@dataclass(frozen=True, slots=True, kw_only=True)
class ShareEvent(DomainEvent):
    """A holder's consent to show a license to a verifier changed (never the token)."""

    topic: ClassVar[str] = "licenses.ShareEvent"

    share_id: str
    license_id: str
    audience_kind: str
    audience: str | None
    version: int
    actor: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ShareCreated(ShareEvent):
    """A holder shared a license (a new version of the consent for that verifier)."""

    topic: ClassVar[str] = "licenses.ShareCreated"


@dataclass(frozen=True, slots=True, kw_only=True)
class ShareRevoked(ShareEvent):
    """A holder revoked a share: it is refused from now on."""

    topic: ClassVar[str] = "licenses.ShareRevoked"
