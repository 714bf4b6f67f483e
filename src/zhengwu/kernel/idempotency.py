"""``Idempotency-Key`` support for creating POSTs (conventions §9).

The first request with a key stores its response in the same transaction as the business change; a
retry with the same key and the same payload gets the stored response and causes no second write,
audit row, outbox record or webhook. The same key with a different payload is refused.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy import Integer, String, UniqueConstraint, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.crypto.hashes import hmac_sm3
from zhengwu.kernel.db import Base, IdMixin, PortableJSON, UTCDateTime
from zhengwu.kernel.errors import Conflict, ValidationFailed
from zhengwu.kernel.node import node_of

HEADER = "Idempotency-Key"


def fingerprint(request: Request, payload: bytes) -> str:
    """A keyed SM3 digest of the payload: payloads carry personal data (a registration's ID number and
    password), and an unkeyed digest of a small space can be reversed by trying candidates."""
    secret = node_of(request).settings.security.secret_key.get_secret_value().encode()
    key = hmac_sm3(secret, b"zhengwu/kernel/idempotency/v1")
    return hmac_sm3(key, payload).hex()


class IdempotencyRecord(IdMixin, Base):
    """幂等记录 — the stored outcome of a request made with an Idempotency-Key."""

    __tablename__ = "kernel_idempotency"
    __table_args__ = (UniqueConstraint("scope", "key"),)

    scope: Mapped[str] = mapped_column(String(128))
    key: Mapped[str] = mapped_column(String(128))
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(512))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)
    response: Mapped[Any | None] = mapped_column(PortableJSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Idempotency:
    """Per-request helper: ``replay()`` first, then ``remember()`` the response."""

    def __init__(self, session: Session, request: Request, *, scope: str, payload: bytes | str) -> None:
        self.session = session
        self.request = request
        self.scope = scope
        raw = payload.encode() if isinstance(payload, str) else payload
        self.fingerprint = fingerprint(request, raw)
        key = request.headers.get(HEADER)
        if key is not None and not (1 <= len(key) <= 128 and key.isprintable()):
            raise ValidationFailed(
                "Idempotency-Key 格式无效", detail_en="Idempotency-Key must be 1-128 printable chars"
            )
        self.key = key
        self.record: IdempotencyRecord | None = None

    def replay(self) -> JSONResponse | None:
        """The stored response of an earlier identical request, or None to proceed."""
        if self.key is None:
            return None
        existing = self.session.scalar(
            select(IdempotencyRecord).where(
                IdempotencyRecord.scope == self.scope, IdempotencyRecord.key == self.key
            )
        )
        if existing is not None:
            if existing.fingerprint != self.fingerprint or existing.path != self.request.url.path:
                raise ValidationFailed(
                    "同一 Idempotency-Key 不能用于不同的请求",
                    detail_en="Idempotency-Key was already used with a different request",
                    code="idempotency_key_reused",
                )
            if existing.status_code is None:
                raise Conflict("相同请求正在处理中", detail_en="a request with this key is in progress")
            return JSONResponse(
                existing.response, status_code=existing.status_code, headers={"Idempotent-Replayed": "true"}
            )
        self.record = IdempotencyRecord(
            scope=self.scope,
            key=self.key,
            method=self.request.method,
            path=self.request.url.path,
            fingerprint=self.fingerprint,
        )
        self.session.add(self.record)
        try:
            with self.session.begin_nested():
                self.session.flush([self.record])
        except IntegrityError as exc:
            raise Conflict("相同请求正在处理中", detail_en="a request with this key is in progress") from exc
        return None

    def remember(self, status_code: int, body: Any) -> None:
        """Store the response that a retry will get."""
        if self.record is not None:
            self.record.status_code = status_code
            self.record.response = body
