"""Real-name level 3 (三级实名): an account's own name and number matched against the registries.

Identity only defines what it needs (:class:`RealNameVerifier`); the composition root supplies an
implementation backed by the exchange's verification services (population / legal-person registry,
answered locally on the national node and asked upward elsewhere). Identity never imports exchange.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.orm import Session

from zhengwu.identity import service, upward
from zhengwu.identity.audit import NO_META, RequestMeta, record_auth_event
from zhengwu.identity.context import of
from zhengwu.identity.errors import RealNameMismatch, RealNameNotApplicable, RealNameUnavailable
from zhengwu.identity.levels import RealNameLevel
from zhengwu.identity.models import Account, AccountKind, LegalEntity
from zhengwu.identity.protection import decrypt_field
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.logging import get_logger

log = get_logger("zhengwu.identity.realname")

EVENT = "real_name_verification"


class RealNameVerifier(Protocol):
    """Asks the population / legal-person registry; True match, False no match, None unavailable."""

    def verify_person(self, db: Session, name: str, id_number: str) -> bool | None:
        """Does the population registry hold this name with this citizen ID number?"""
        ...

    def verify_legal_person(self, db: Session, credit_code: str, name: str, legal_rep: str) -> bool | None:
        """Does the legal-person registry hold this credit code with this name and legal representative?"""
        ...


def _record(db: Session, account: Account, outcome: str, *, success: bool, meta: RequestMeta) -> None:
    # Outcome only: the queried name and number stay out of the audit chain (conventions §3).
    record_auth_event(
        db,
        EVENT,
        success=success,
        account_id=account.id,
        meta=meta,
        detail={"kind": account.kind, "outcome": outcome, "level": account.real_name_level},
    )


def _ask(db: Session, account: Account, verifier: RealNameVerifier) -> tuple[bool | None, LegalEntity | None]:
    """Ask the verifier with the account's own data (decrypted here, never logged nor returned)."""
    if account.kind == AccountKind.NATURAL and account.citizen_id_enc is not None:
        number = decrypt_field(of(db).keys, account.citizen_id_enc, purpose=service.PURPOSE_CITIZEN_ID)
        return verifier.verify_person(db, account.display_name, number), None
    if account.kind == AccountKind.LEGAL and account.legal_entity_id is not None:
        entity = db.get(LegalEntity, account.legal_entity_id)
        if entity is not None:
            code = service.legal_entity_credit_code(of(db).keys, entity)
            return verifier.verify_legal_person(db, code, entity.name, entity.legal_rep_name), entity
    raise RealNameNotApplicable(detail_en="only natural and legal person accounts are verified")


def verify_real_name(
    db: Session,
    account: Account,
    verifier: RealNameVerifier | None,
    *,
    meta: RequestMeta = NO_META,
) -> RealNameLevel:
    """Raise a level-2 account to level 3 when the registry confirms its own data; never lowers a level.

    Every attempt is audited (match, no_match, unavailable, already). No match → 422, service
    unavailable → 503 (both keep their audit rows).
    """
    current = RealNameLevel(account.real_name_level)
    if current >= RealNameLevel.REGISTRY_MATCHED:
        # Already at 3 or above (e.g. counter or certificate): nothing to ask, and never lowered.
        _record(db, account, "already", success=True, meta=meta)
        return current
    if verifier is None:
        _record(db, account, "unavailable", success=False, meta=meta)
        raise RealNameUnavailable(detail_en="no real-name verifier is configured on this node")
    # Ask before writing anything: on SQLite the request must not hold the write lock across a
    # network call to the upper node.
    with db.no_autoflush:
        matched, entity = _ask(db, account, verifier)
    if matched is None:
        _record(db, account, "unavailable", success=False, meta=meta)
        log.info("identity_real_name_verification", outcome="unavailable", kind=account.kind)
        raise RealNameUnavailable(detail_en="the verification service is unavailable")
    if not matched:
        _record(db, account, "no_match", success=False, meta=meta)
        log.info("identity_real_name_verification", outcome="no_match", kind=account.kind)
        raise RealNameMismatch(detail_en="the registry did not confirm the account's data")
    _record(db, account, "match", success=True, meta=meta)
    log.info("identity_real_name_verification", outcome="match", kind=account.kind)
    level = RealNameLevel.REGISTRY_MATCHED
    if entity is None:
        # Audited as real_name_level and sent upward as up_uc_province_user (operation U).
        service.set_real_name_level(db, account, level, actor="self", evidence="registry_match", meta=meta)
        return level
    old = account.real_name_level
    account.real_name_level = int(level)
    account.updated_at = utcnow()
    entity.real_name_level = max(entity.real_name_level, int(level))
    db.flush()
    record_auth_event(
        db,
        "real_name_level",
        success=True,
        account_id=account.id,
        meta=meta,
        detail={"from": old, "to": int(level), "actor": "self", "evidence": "registry_match"},
    )
    upward.emit_corporator_identity(db, entity, operation="U")
    return level
