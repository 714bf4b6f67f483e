"""Queries of the node PKI (services only flush; the edge commits)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVarTuple

from sqlalchemy import BindParameter, Select, bindparam, func, literal_column, select, union_all
from sqlalchemy.orm import Session

from zhengwu.pki.models import PkiCertificate, PkiCrl, PkiKey, PkiTrustAnchor

_Ts = TypeVarTuple("_Ts")
_PkiRow = PkiKey | PkiCertificate | PkiCrl | PkiTrustAnchor


def _newest_valid(query: Select[*_Ts], profile: str | BindParameter[str]) -> Select[*_Ts]:
    """``query`` narrowed to the newest valid certificate of ``profile`` that has a key of this node."""
    return (
        query.where(
            PkiCertificate.profile == profile,
            PkiCertificate.status == "valid",
            PkiCertificate.key_id.is_not(None),
        )
        .order_by(PkiCertificate.created_at.desc())
        .limit(1)
    )


# Built once, the profile a bound parameter: asked before every signature of the node's own keys (the
# TSA's token, a license's offline payload), where building the query cost more than running it.
_CURRENT_IDS = _newest_valid(
    select(PkiCertificate.id, PkiCertificate.key_id, PkiCertificate.issuer_id), bindparam("profile")
)

# The same for two profiles in one statement (an issuance signs with the license key and the TSA): each
# arm is the single-profile query, its profile returned with the row.
_CURRENT_IDS_OF_TWO = union_all(
    *(
        _newest_valid(
            select(
                literal_column(str(arm)).label("arm"),
                PkiCertificate.id,
                PkiCertificate.key_id,
                PkiCertificate.issuer_id,
            ),
            bindparam(f"profile_{arm}"),
        )
        .subquery()
        .select()
        for arm in (0, 1)
    )
)


class PkiRepository:
    """Keys, certificates, CRLs and trust anchors of this node."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: _PkiRow) -> None:
        """Add a row and flush it."""
        self.session.add(row)
        self.session.flush()

    def key(self, key_id: str) -> PkiKey | None:
        """A key by id."""
        return self.session.get(PkiKey, key_id)

    def certificate(self, certificate_id: str) -> PkiCertificate | None:
        """A certificate by id."""
        return self.session.get(PkiCertificate, certificate_id)

    def current(self, profile: str) -> PkiCertificate | None:
        """The newest valid certificate of a node-owned profile (root, issuing CA, maker, TSA)."""
        return self.session.scalars(_newest_valid(select(PkiCertificate), profile)).first()

    def current_ids(self, profile: str) -> tuple[str, str, str | None] | None:
        """(id, key id, issuer id) of what ``current`` finds: one Core row, no ORM instance."""
        row = self.session.execute(_CURRENT_IDS, {"profile": profile}).first()
        return None if row is None or row[1] is None else (row[0], row[1], row[2])

    def current_ids_of_two(
        self, first: str, second: str
    ) -> tuple[tuple[str, str, str | None] | None, tuple[str, str, str | None] | None]:
        """``current_ids`` of two profiles in one statement."""
        found: list[tuple[str, str, str | None] | None] = [None, None]
        for arm, cert_id, key_id, issuer_id in self.session.execute(
            _CURRENT_IDS_OF_TWO, {"profile_0": first, "profile_1": second}
        ):
            if key_id is not None:
                found[int(arm)] = (cert_id, key_id, issuer_id)
        return found[0], found[1]

    def by_serial(self, serial_hex: str) -> list[PkiCertificate]:
        """Certificates with that serial number (any issuer of this node)."""
        return list(
            self.session.scalars(select(PkiCertificate).where(PkiCertificate.serial == serial_hex.upper()))
        )

    def by_fingerprint(self, fingerprint: str) -> PkiCertificate | None:
        """A certificate by its SM3 fingerprint."""
        return self.session.scalars(
            select(PkiCertificate).where(PkiCertificate.fingerprint == fingerprint.lower())
        ).first()

    def revoked_by_issuer(self, issuer_id: str) -> Sequence[PkiCertificate]:
        """Revoked certificates of one CA (the CRL's entries)."""
        return self.session.scalars(
            select(PkiCertificate).where(
                PkiCertificate.issuer_id == issuer_id, PkiCertificate.status == "revoked"
            )
        ).all()

    def list_certificates(self, *, profile: str | None = None, limit: int = 1000) -> Sequence[PkiCertificate]:
        """Certificates, newest first."""
        query = select(PkiCertificate).order_by(PkiCertificate.created_at.desc()).limit(limit)
        if profile is not None:
            query = query.where(PkiCertificate.profile == profile)
        return self.session.scalars(query).all()

    def latest_crl(self, issuer_id: str) -> PkiCrl | None:
        """The newest CRL of a CA."""
        return self.session.scalars(
            select(PkiCrl).where(PkiCrl.issuer_id == issuer_id).order_by(PkiCrl.number.desc()).limit(1)
        ).first()

    def next_crl_number(self, issuer_id: str) -> int:
        """One more than the highest CRL number of a CA (RFC 5280 §5.2.3: monotonically increasing)."""
        top = self.session.scalar(select(func.max(PkiCrl.number)).where(PkiCrl.issuer_id == issuer_id))
        return 1 if top is None else int(top) + 1

    def anchors(self) -> Sequence[PkiTrustAnchor]:
        """Every trust anchor, oldest first."""
        return self.session.scalars(select(PkiTrustAnchor).order_by(PkiTrustAnchor.added_at)).all()

    def anchor(self, fingerprint: str) -> PkiTrustAnchor | None:
        """A trust anchor by full SM3 fingerprint."""
        return self.session.scalars(
            select(PkiTrustAnchor).where(PkiTrustAnchor.fingerprint == fingerprint.lower())
        ).first()

    def anchors_with_prefix(self, prefix: str) -> Sequence[PkiTrustAnchor]:
        """Trust anchors whose fingerprint starts with ``prefix``."""
        return self.session.scalars(
            select(PkiTrustAnchor).where(PkiTrustAnchor.fingerprint.startswith(prefix.lower()))
        ).all()

    def trust_generation(self) -> tuple[object, ...]:
        """What the verification trust store depends on; changes whenever anchors or CRLs change."""
        anchors = self.session.execute(
            select(
                PkiTrustAnchor.fingerprint,
                PkiTrustAnchor.purposes,
                PkiTrustAnchor.crl_sm3,
                PkiTrustAnchor.crl_url,
            ).order_by(PkiTrustAnchor.fingerprint)
        ).all()
        crls = self.session.execute(
            select(PkiCrl.issuer_id, func.max(PkiCrl.number)).group_by(PkiCrl.issuer_id)
        ).all()
        cas = self.session.execute(
            select(PkiCertificate.fingerprint)
            .where(PkiCertificate.profile.in_(("root-ca", "issuing-ca")))
            .order_by(PkiCertificate.fingerprint)
        ).all()
        return (
            tuple((f, tuple(p), c, u) for f, p, c, u in anchors),
            tuple(sorted((i, int(n)) for i, n in crls)),
            tuple(f for (f,) in cas),
        )
