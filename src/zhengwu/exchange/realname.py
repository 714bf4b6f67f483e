"""Identity's real-name verifier backed by the verification services (人口库 / 法人库 核验).

On the national node (or a node without upstream) the registry answers locally; on a lower node the
query goes upward over the signed exchange. Identity sees only match / no match / unavailable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from zhengwu.exchange import verification
from zhengwu.exchange.errors import InvalidQuery
from zhengwu.exchange.runtime import ExchangeRuntime
from zhengwu.kernel.errors import DomainError
from zhengwu.kernel.logging import get_logger

log = get_logger("zhengwu.exchange.realname")

CLIENT_ID = "identity.real-name"
PURPOSE = "统一身份认证实名核验（三级）"


class ExchangeRealNameVerifier:
    """Implements ``identity.realname.RealNameVerifier`` with :func:`verification.check`."""

    def __init__(self, runtime: Callable[[], ExchangeRuntime]) -> None:
        # A callable: tests re-bind the app's session factory after the runtime was built.
        self._runtime = runtime

    def verify_person(self, db: Session, name: str, id_number: str) -> bool | None:
        """Population registry: name + citizen ID number."""
        return self._check(db, "person", {"name": name, "id_number": id_number})

    def verify_legal_person(self, db: Session, credit_code: str, name: str, legal_rep: str) -> bool | None:
        """Legal-person registry: credit code + name + legal representative."""
        return self._check(
            db, "legal_person", {"credit_code": credit_code, "name": name, "legal_representative": legal_rep}
        )

    def _check(self, db: Session, kind: str, query: dict[str, Any]) -> bool | None:
        runtime = self._runtime()
        caller = verification.Caller(
            client_id=CLIENT_ID, scopes=frozenset({verification.SCOPES[kind]}), node=runtime.node_id
        )
        try:
            answer = verification.check(db, runtime, kind, query, caller, purpose=PURPOSE)
        except InvalidQuery:
            # The account's own data fails the registry's format rules: it cannot match.
            verification.write_refusal_audit(runtime)
            return False
        except DomainError as exc:
            # Not joined, upstream down or answering badly, rate-limited: the service is unavailable.
            verification.write_refusal_audit(runtime)
            log.warning("exchange_real_name_unavailable", kind=kind, error=type(exc).__name__)
            return None
        return bool(answer.get("match"))
