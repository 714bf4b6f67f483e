"""Queries of the seals capability (services only flush; the edge commits)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhengwu.seals.models import (
    Seal,
    SealsCertificate,
    SealsCrl,
    SealsKey,
    SealStatusEvent,
    SealsTrustAnchor,
)

_PkiRow = SealsKey | SealsCertificate | SealsCrl | SealsTrustAnchor


class PkiRepository:
    """Keys, certificates, CRLs and trust anchors of this node."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: _PkiRow) -> None:
        """Add a row and flush it."""
        self.session.add(row)
        self.session.flush()

    def key(self, key_id: str) -> SealsKey | None:
        """A key by id."""
        return self.session.get(SealsKey, key_id)

    def certificate(self, certificate_id: str) -> SealsCertificate | None:
        """A certificate by id."""
        return self.session.get(SealsCertificate, certificate_id)

    def current(self, profile: str) -> SealsCertificate | None:
        """The newest valid certificate of a node-owned profile (root, issuing CA, maker, TSA)."""
        return self.session.scalars(
            select(SealsCertificate)
            .where(
                SealsCertificate.profile == profile,
                SealsCertificate.status == "valid",
                SealsCertificate.key_id.is_not(None),
            )
            .order_by(SealsCertificate.created_at.desc())
            .limit(1)
        ).first()

    def by_serial(self, serial_hex: str) -> list[SealsCertificate]:
        """Certificates with that serial number (any issuer of this node)."""
        return list(
            self.session.scalars(
                select(SealsCertificate).where(SealsCertificate.serial == serial_hex.upper())
            )
        )

    def by_fingerprint(self, fingerprint: str) -> SealsCertificate | None:
        """A certificate by its SM3 fingerprint."""
        return self.session.scalars(
            select(SealsCertificate).where(SealsCertificate.fingerprint == fingerprint.lower())
        ).first()

    def revoked_by_issuer(self, issuer_id: str) -> Sequence[SealsCertificate]:
        """Revoked certificates of one CA (the CRL's entries)."""
        return self.session.scalars(
            select(SealsCertificate).where(
                SealsCertificate.issuer_id == issuer_id, SealsCertificate.status == "revoked"
            )
        ).all()

    def list_certificates(
        self, *, profile: str | None = None, limit: int = 1000
    ) -> Sequence[SealsCertificate]:
        """Certificates, newest first."""
        query = select(SealsCertificate).order_by(SealsCertificate.created_at.desc()).limit(limit)
        if profile is not None:
            query = query.where(SealsCertificate.profile == profile)
        return self.session.scalars(query).all()

    def latest_crl(self, issuer_id: str) -> SealsCrl | None:
        """The newest CRL of a CA."""
        return self.session.scalars(
            select(SealsCrl).where(SealsCrl.issuer_id == issuer_id).order_by(SealsCrl.number.desc()).limit(1)
        ).first()

    def next_crl_number(self, issuer_id: str) -> int:
        """One more than the highest CRL number of a CA (RFC 5280 §5.2.3: monotonically increasing)."""
        top = self.session.scalar(select(func.max(SealsCrl.number)).where(SealsCrl.issuer_id == issuer_id))
        return 1 if top is None else int(top) + 1

    def anchors(self) -> Sequence[SealsTrustAnchor]:
        """Every trust anchor, oldest first."""
        return self.session.scalars(select(SealsTrustAnchor).order_by(SealsTrustAnchor.added_at)).all()

    def anchor(self, fingerprint: str) -> SealsTrustAnchor | None:
        """A trust anchor by full SM3 fingerprint."""
        return self.session.scalars(
            select(SealsTrustAnchor).where(SealsTrustAnchor.fingerprint == fingerprint.lower())
        ).first()

    def anchors_with_prefix(self, prefix: str) -> Sequence[SealsTrustAnchor]:
        """Trust anchors whose fingerprint starts with ``prefix``."""
        return self.session.scalars(
            select(SealsTrustAnchor).where(SealsTrustAnchor.fingerprint.startswith(prefix.lower()))
        ).all()

    def trust_generation(self) -> tuple[object, ...]:
        """What the verification trust store depends on; changes whenever anchors or CRLs change."""
        anchors = self.session.execute(
            select(
                SealsTrustAnchor.fingerprint,
                SealsTrustAnchor.purposes,
                SealsTrustAnchor.crl_sm3,
                SealsTrustAnchor.crl_url,
            ).order_by(SealsTrustAnchor.fingerprint)
        ).all()
        crls = self.session.execute(
            select(SealsCrl.issuer_id, func.max(SealsCrl.number)).group_by(SealsCrl.issuer_id)
        ).all()
        cas = self.session.execute(
            select(SealsCertificate.fingerprint)
            .where(SealsCertificate.profile.in_(("root-ca", "issuing-ca")))
            .order_by(SealsCertificate.fingerprint)
        ).all()
        return (
            tuple((f, tuple(p), c, u) for f, p, c, u in anchors),
            tuple(sorted((i, int(n)) for i, n in crls)),
            tuple(f for (f,) in cas),
        )


class SealRepository:
    """Seals and their status history."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: Seal | SealStatusEvent) -> None:
        """Add a row and flush it."""
        self.session.add(row)
        self.session.flush()

    def by_es_id(self, es_id: str) -> Seal | None:
        """A seal by its esID."""
        return self.session.scalars(select(Seal).where(Seal.es_id == es_id)).first()

    def top_es_id(self, prefix: str) -> str | None:
        """The highest esID with a given prefix (for the next serial)."""
        return self.session.scalar(select(func.max(Seal.es_id)).where(Seal.es_id.startswith(prefix)))

    def list(
        self,
        *,
        department_ids: Sequence[str] | None = None,
        status: str | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[Sequence[Seal], int]:
        """A page of seals (by esID) and the total count."""
        query = select(Seal)
        if department_ids is not None:
            query = query.where(Seal.department_id.in_(list(department_ids)))
        if status is not None:
            query = query.where(Seal.status == status)
        total = self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = self.session.scalars(query.order_by(Seal.es_id).offset(offset).limit(limit)).all()
        return rows, int(total)

    def events(self, seal_id: str) -> Sequence[SealStatusEvent]:
        """A seal's status history, oldest first."""
        return self.session.scalars(
            select(SealStatusEvent).where(SealStatusEvent.seal_id == seal_id).order_by(SealStatusEvent.seq)
        ).all()

    def status_at(self, seal_id: str, moment: datetime) -> str | None:
        """The status in force at ``moment`` (None before the first event)."""
        return self.session.scalar(
            select(SealStatusEvent.status)
            .where(SealStatusEvent.seal_id == seal_id, SealStatusEvent.at <= moment)
            .order_by(SealStatusEvent.at.desc(), SealStatusEvent.seq.desc())
            .limit(1)
        )

    def next_event_seq(self, seal_id: str) -> int:
        """The sequence number of the seal's next status event."""
        top = self.session.scalar(
            select(func.max(SealStatusEvent.seq)).where(SealStatusEvent.seal_id == seal_id)
        )
        return 1 if top is None else int(top) + 1
