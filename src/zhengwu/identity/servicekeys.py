"""The services identity keeps on the node, and the ones it expects the composition root to bridge in."""

from __future__ import annotations

from typing import TYPE_CHECKING

from zhengwu.kernel.node import ServiceKey

if TYPE_CHECKING:
    from zhengwu.identity.notifier import Notifier
    from zhengwu.identity.oidc.runtime import OidcRuntime
    from zhengwu.identity.realname import RealNameVerifier
    from zhengwu.identity.requirements import ItemRequirements

#: Sends SMS / e-mail codes (file or console notifier in this project).
NOTIFIER: ServiceKey[Notifier] = ServiceKey("identity.notifier")
#: The node's OIDC provider: keys, client cache, issuance recorder, logout dispatcher.
OIDC: ServiceKey[OidcRuntime] = ServiceKey("identity.oidc")
#: Bridge: real-name level 3 checked against the registries (main.bridge wires the exchange's).
REAL_NAME_VERIFIER: ServiceKey[RealNameVerifier] = ServiceKey("identity.real_name_verifier")
#: Bridge: what an item demands of a login (main.bridge wires the catalog's).
ITEM_REQUIREMENTS: ServiceKey[ItemRequirements] = ServiceKey("identity.item_requirements")
