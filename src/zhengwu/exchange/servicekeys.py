"""The services the exchange keeps on the node."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from sqlalchemy.orm import Session

from zhengwu.kernel.node import ServiceKey

if TYPE_CHECKING:
    from zhengwu.exchange.runtime import ExchangeRuntime
    from zhengwu.exchange.verification import CallerAuthorizer

#: Credentials, topic registry, transports and the exchange log of this node.
RUNTIME: ServiceKey[ExchangeRuntime] = ServiceKey("exchange.runtime")
#: Checks the client credentials of machine callers (the node's OIDC provider when it has one).
AUTHORIZER: ServiceKey[CallerAuthorizer] = ServiceKey("exchange.authorizer")


class PersonAccount(Protocol):
    """The id of this node's account of the natural person with that citizen ID number (None: none)."""

    def __call__(self, session: Session, id_number: str) -> str | None: ...


#: Bridge (``main.bridge``): whose account a person verification (共享核验) read, so the person sees it in
#: their data-use log; identity owns the accounts, which the exchange never imports.
PERSON_ACCOUNT: ServiceKey[PersonAccount] = ServiceKey("exchange.person_account")
