"""The services cases uses through the node: the license port (held licenses, issuance).

Cases sits above licenses, so the default adapter (``cases.licensing``) calls licenses' service; keeping
it behind a key lets a node (or a test) swap in another issuer, e.g. a remote licenses node.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final, Protocol

from sqlalchemy.orm import Session

from zhengwu.identity.models import Account
from zhengwu.kernel.events import EventBus
from zhengwu.kernel.node import ServiceKey


class HeldLicense(Protocol):
    """What a case keeps of a license attached by reference."""

    id: str
    identifier: str
    type_code: str
    type_name: str
    number: str


class LicensePort(Protocol):
    """Licenses as cases needs them."""

    def held(
        self, session: Session, account: Account, license_id: str, *, entity_id: str | None = None
    ) -> HeldLicense:
        """One of the applicant's valid licenses (raises a 404 error for anyone else's or an invalid one):
        held by the person, or with ``entity_id`` by that enterprise the person acts for."""
        ...

    def holdings(
        self, session: Session, account: Account, *, entity_id: str | None = None
    ) -> Sequence[HeldLicense]:
        """The applicant's valid licenses (to offer them for the materials that take a license): the
        person's own, or with ``entity_id`` that enterprise's."""
        ...

    def issue(
        self,
        session: Session,
        *,
        type_code: str,
        department_id: str,
        holder_name: str,
        holder_code: str,
        face: dict[str, Any],
        actor: str,
        at: datetime | None,
        bus: EventBus | None,
    ) -> HeldLicense:
        """Issue a license as a case's result."""
        ...


LICENSES: Final[ServiceKey[LicensePort]] = ServiceKey("cases.licenses")


class MaterialScanner(Protocol):
    """A virus scanner for uploaded materials (the hook a deployment plugs its scanner into)."""

    def scan(self, data: bytes) -> str | None:
        """None when the file is clean, else the reason it is refused (shown to the applicant)."""
        ...


#: Optional: without one, uploads are type- and size-checked only.
SCANNER: Final[ServiceKey[MaterialScanner]] = ServiceKey("cases.scanner")
