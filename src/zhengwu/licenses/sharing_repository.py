"""Queries of shares, annotated copies, download tickets and the clients that use them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from zhengwu.identity.models import Account, AccountKind
from zhengwu.identity.oidc.models import OidcClient
from zhengwu.licenses.models import License
from zhengwu.licenses.sharing_models import LicenseCopy, LicenseDownloadTicket, LicenseShare
from zhengwu.orgs.models import Department


class SharingRepository:
    """Every query on the sharing tables (and the OIDC client rows they name)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: LicenseShare | LicenseCopy | LicenseDownloadTicket) -> None:
        """Stage a new row and flush it."""
        self.session.add(row)
        self.session.flush()

    def add_version(self, share: LicenseShare) -> bool:
        """Add the next version of a consent; False when a concurrent transaction took that version."""
        try:
            with self.session.begin_nested():
                self.session.add(share)
        except IntegrityError:
            return False
        return True

    def person_account_id(self, holder_index: str) -> str | None:
        """The natural person's account whose ID number has this keyed index (a holder with an account)."""
        return self.session.scalar(
            select(Account.id).where(
                Account.kind == AccountKind.NATURAL, Account.citizen_id_index == holder_index
            )
        )

    def verifier_clients(self, limit: int = 500) -> list[tuple[OidcClient, str | None]]:
        """The node's active department systems that call with client credentials (those that can redeem a
        share), by name, each with its department's name (None: no department)."""
        rows = self.session.execute(
            select(OidcClient, Department.name)
            .outerjoin(Department, Department.id == OidcClient.department_id)
            .where(OidcClient.status == "active", OidcClient.kind == "department")
            .order_by(OidcClient.name, OidcClient.client_id)
            .limit(limit)
        )
        return [(row, name) for row, name in rows if "client_credentials" in (row.grant_types or [])]

    def client(self, client_id: str) -> OidcClient | None:
        """An OIDC client of the node by its client id."""
        return self.session.scalars(select(OidcClient).where(OidcClient.client_id == client_id)).first()

    @staticmethod
    def _same(license_id: str, audience_kind: str, audience: str) -> tuple[ColumnElement[bool], ...]:
        return (
            LicenseShare.license_id == license_id,
            LicenseShare.audience_kind == audience_kind,
            LicenseShare.audience == audience,
        )

    def share_versions(self, license_id: str, audience_kind: str, audience: str) -> int:
        """How many shares of a license one verifier was ever given (the consent's versions)."""
        where = self._same(license_id, audience_kind, audience)
        return int(self.session.scalar(select(func.count()).select_from(LicenseShare).where(*where)) or 0)

    def granted_shares(self, license_id: str, audience_kind: str, audience: str) -> Sequence[LicenseShare]:
        """The shares of a license with one verifier still marked granted."""
        where = self._same(license_id, audience_kind, audience)
        return self.session.scalars(
            select(LicenseShare).where(*where, LicenseShare.status == "granted")
        ).all()

    def shares_of(self, license_id: str) -> Sequence[LicenseShare]:
        """Every share of a license, newest first."""
        return self.session.scalars(
            select(LicenseShare)
            .where(LicenseShare.license_id == license_id)
            .order_by(LicenseShare.created_at.desc(), LicenseShare.version.desc())
        ).all()

    def share(self, share_id: str) -> LicenseShare | None:
        """A share by id."""
        return self.session.get(LicenseShare, share_id)

    def share_by_token(self, digest: str) -> LicenseShare | None:
        """The share whose token has this keyed digest."""
        return self.session.scalars(select(LicenseShare).where(LicenseShare.token_digest == digest)).first()

    def ticket_by_token(self, digest: str) -> LicenseDownloadTicket | None:
        """The download ticket whose token has this keyed digest."""
        return self.session.scalars(
            select(LicenseDownloadTicket).where(LicenseDownloadTicket.token_digest == digest)
        ).first()

    def take_ticket(self, ticket_id: str, at: datetime) -> bool:
        """Mark a ticket used unless it already is; True for the one caller that marked it.

        One UPDATE decides between concurrent uses (the row lock on PostgreSQL, the write lock on SQLite).
        """
        taken = self.session.execute(
            update(LicenseDownloadTicket)
            .where(LicenseDownloadTicket.id == ticket_id, LicenseDownloadTicket.used_at.is_(None))
            .values(used_at=at)
        )
        return getattr(taken, "rowcount", 0) == 1

    def copy(self, copy_id: str) -> LicenseCopy | None:
        """An annotated copy by id."""
        return self.session.get(LicenseCopy, copy_id)

    def copies_of(self, license_id: str) -> Sequence[LicenseCopy]:
        """Every annotated copy of a license, newest first."""
        return self.session.scalars(
            select(LicenseCopy)
            .where(LicenseCopy.license_id == license_id)
            .order_by(LicenseCopy.created_at.desc(), LicenseCopy.id)
        ).all()

    def shares_of_holders(
        self, holder_indexes: Sequence[str], *, offset: int, limit: int
    ) -> tuple[Sequence[tuple[LicenseShare, License]], int]:
        """A page of the shares of these holders' licenses (newest first) and their number."""
        base = (
            select(LicenseShare, License)
            .join(License, License.id == LicenseShare.license_id)
            .where(License.holder_index.in_(list(holder_indexes)))
        )
        total = self.session.scalar(select(func.count()).select_from(base.subquery())) or 0
        rows = self.session.execute(
            base.order_by(LicenseShare.created_at.desc(), LicenseShare.id).offset(offset).limit(limit)
        ).all()
        return [(share, lic) for share, lic in rows], int(total)
