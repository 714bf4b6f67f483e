"""Upgrading a node with an authentication audit trail: the old chain is checked, then re-linked under the
one rule (numbered without gaps); a broken old chain stops the upgrade; the downgrade restores the old rule."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from zhengwu.audit import chain
from zhengwu.identity import audit as identity_audit
from zhengwu.kernel.crypto import sm3
from zhengwu.kernel.db import make_engine
from zhengwu.kernel.migrate import downgrade, upgrade
from zhengwu.kernel.session import make_session_factory

BEFORE = "8f3c1a6d2e95"


def _old_hash(prev: str, seq_row: dict[str, Any]) -> str:
    body = {
        "prev": prev, "at": seq_row["occurred_at"].isoformat(), "type": seq_row["event_type"], "ok": True,
        "account": None, "session": None, "client": None, "subject": None, "ip": None, "ua": None,
        "detail": {}, "trace": None,
    }  # fmt: skip
    return sm3(json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()).hex()


def _old_trail(url: str, seqs: list[int], *, break_at: int | None = None) -> None:
    engine = make_engine(url)
    prev = chain.GENESIS
    with engine.begin() as conn:
        for n, seq in enumerate(seqs):
            at = datetime(2026, 12, 1, 8, n, tzinfo=UTC)
            row: dict[str, Any] = {"occurred_at": at, "event_type": "login"}
            digest = _old_hash(prev, row)
            conn.execute(
                text(
                    "INSERT INTO identity_auth_event (seq, occurred_at, event_type, success, detail, prev_hash, hash) "
                    "VALUES (:seq, :at, 'login', :ok, '{}', :prev, :hash)"
                ),
                {
                    "seq": seq,
                    "at": at.isoformat(),
                    "ok": True,
                    "prev": prev,
                    "hash": digest if seq != break_at else "f" * 64,
                },
            )
            prev = digest
        conn.execute(
            text("UPDATE identity_auth_chain SET last_seq = :n, last_hash = :h WHERE id = 1"),
            {"n": len(seqs), "h": prev},
        )
    engine.dispose()


def test_the_trail_is_relinked_without_gaps_and_back(tmp_path: Path) -> None:
    url = f"sqlite:///{(tmp_path / 'm.db').as_posix()}"
    upgrade(url, BEFORE)
    _old_trail(url, [1, 2, 5, 6])  # rolled-back transactions left gaps in the sequence
    upgrade(url)
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        verdict = identity_audit.verify_chain(session)
        assert verdict.ok and verdict.checked == 4 and verdict.head.seq == 4
    engine.dispose()
    downgrade(url, BEFORE)
    engine = make_engine(url)
    with engine.connect() as conn:
        head = conn.execute(text("SELECT last_seq, last_hash FROM identity_auth_chain")).one()
        last = conn.execute(text("SELECT hash FROM identity_auth_event ORDER BY seq DESC LIMIT 1")).scalar()
    engine.dispose()
    assert head.last_seq == 4 and head.last_hash == last


def test_a_broken_old_trail_stops_the_upgrade(tmp_path: Path) -> None:
    url = f"sqlite:///{(tmp_path / 'b.db').as_posix()}"
    upgrade(url, BEFORE)
    _old_trail(url, [1, 2, 3], break_at=2)
    with pytest.raises(RuntimeError, match="seq 2"):
        upgrade(url)
