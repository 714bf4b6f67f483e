"""The services the exchange keeps on the node."""

from __future__ import annotations

from typing import TYPE_CHECKING

from zhengwu.kernel.node import ServiceKey

if TYPE_CHECKING:
    from zhengwu.exchange.runtime import ExchangeRuntime
    from zhengwu.exchange.verification import CallerAuthorizer

#: Credentials, topic registry, transports and the exchange log of this node.
RUNTIME: ServiceKey[ExchangeRuntime] = ServiceKey("exchange.runtime")
#: Checks the client credentials of machine callers (the node's OIDC provider when it has one).
AUTHORIZER: ServiceKey[CallerAuthorizer] = ServiceKey("exchange.authorizer")
