"""kernel.fastpath (hot routes before the route table) and kernel.db.RawStatement (a Core statement run on
the driver connection): a handler answers only its own (method, path), what it read reaches the route
again when it declines, and values stored and read through the driver are the ORM's."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    MetaData,
    String,
    Table,
    bindparam,
    insert,
    select,
)
from starlette.types import Message, Receive, Scope, Send

from zhengwu.kernel import fastpath
from zhengwu.kernel.db import RawStatement, make_engine
from zhengwu.kernel.events import EventBus
from zhengwu.kernel.files import FileStore
from zhengwu.kernel.node import Node


def _node(tmp_path: Path) -> Node:
    engine = make_engine(f"sqlite:///{(tmp_path / 'n.db').as_posix()}")
    from zhengwu.kernel.config import Settings
    from zhengwu.kernel.session import make_session_factory

    return Node(
        settings=Settings(data_dir=tmp_path),
        engine=engine,
        session_factory=make_session_factory(engine),
        bus=EventBus(),
        files=FileStore(tmp_path / "files"),
        metrics=CollectorRegistry(),
    )


def _scope(method: str, path: str, headers: list[tuple[bytes, bytes]] | None = None) -> Scope:
    return {"type": "http", "method": method, "path": path, "headers": headers or []}


def _receiver(messages: list[Message]) -> Receive:
    pending = list(messages)

    async def receive() -> Message:
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    return receive


async def _downstream(scope: Scope, receive: Receive, send: Send) -> None:
    """The rest of the stack: answers with the body it reads."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body", False):
            break
    await fastpath.send_json(send, 201, b'{"route":"' + body + b'"}')


def _call(app: Any, scope: Scope, messages: list[Message]) -> list[Message]:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app(scope, _receiver(messages), send))
    return sent


def test_a_registered_handler_answers_its_own_route_only(tmp_path: Path) -> None:
    node = _node(tmp_path)
    seen: list[str] = []

    async def handler(scope: Scope, receive: Receive, send: Send, route: Any) -> None:
        seen.append(scope["route"].path)
        length = fastpath.declared_length(scope)
        assert length is not None
        body, messages = await fastpath.read_small_body(receive, length)
        if body == b"fast":
            await fastpath.send_json(send, 200, b'{"fast":true}')
        else:  # declined: the route reads the same body again
            await route(scope, fastpath.replay(messages, receive), send)

    fastpath.routes_of(node).register("POST", "/hot", handler)
    with pytest.raises(ValueError, match="already registered"):
        fastpath.routes_of(node).register("post", "/hot", handler)
    app = fastpath.FastRouteMiddleware(_downstream, node=node)
    length = [(b"content-length", b"4")]
    answered = _call(app, _scope("POST", "/hot", length), [{"type": "http.request", "body": b"fast"}])
    assert answered[0]["status"] == 200 and answered[1]["body"] == b'{"fast":true}'
    assert dict(answered[0]["headers"])[b"content-length"] == b"13"
    # Declined after reading, in two chunks: the route gets both.
    chunks = [
        {"type": "http.request", "body": b"sl", "more_body": True},
        {"type": "http.request", "body": b"ow"},
    ]
    declined = _call(app, _scope("POST", "/hot", length), chunks)
    assert declined[0]["status"] == 201 and declined[1]["body"] == b'{"route":"slow"}'
    # Another method or path never reaches the handler.
    for method, path in (("GET", "/hot"), ("POST", "/hot/"), ("POST", "/cold")):
        other = _call(app, _scope(method, path, length), [{"type": "http.request", "body": b"fast"}])
        assert other[0]["status"] == 201
    assert seen == ["/hot", "/hot"]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([], None),
        ([(b"content-length", b"12")], 12),
        ([(b"content-length", b"+12")], None),
        ([(b"content-length", b"12"), (b"content-length", b"12")], None),
        ([(b"content-length", b"12"), (b"transfer-encoding", b"chunked")], None),
    ],
)
def test_only_a_plain_declared_length_counts(
    headers: list[tuple[bytes, bytes]], expected: int | None
) -> None:
    assert fastpath.declared_length(_scope("POST", "/", headers)) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(b"application/json", True), (b"Application/JSON; charset=utf-8", True), (b"text/plain", False)],
)
def test_json_bodies_are_told_by_their_media_type(value: bytes, expected: bool) -> None:
    assert fastpath.has_json_body(_scope("POST", "/", [(b"content-type", value)])) is expected
    assert fastpath.has_json_body(_scope("POST", "/")) is False


@pytest.mark.parametrize(
    "messages",
    [
        [{"type": "http.request", "body": b"abc"}],  # shorter than declared
        [{"type": "http.request", "body": b"abcdef", "more_body": True}],  # longer
        [{"type": "http.disconnect"}],
    ],
)
def test_a_body_other_than_declared_is_not_taken(messages: list[Message]) -> None:
    body, read = asyncio.run(fastpath.read_small_body(_receiver(messages), 5))
    assert body is None and read == messages[: len(read)] and read


def test_raw_statements_store_and_read_what_the_orm_does(tmp_path: Path) -> None:
    meta = MetaData()
    table = Table(
        "t_raw",
        meta,
        Column("id", String(8), primary_key=True),
        Column("at", DateTime(timezone=True)),
        Column("day", Date),
        Column("flag", Boolean),
        Column("amount", Float),
    )
    engine = make_engine(f"sqlite:///{(tmp_path / 'r.db').as_posix()}")
    meta.create_all(engine)
    at = datetime(2026, 12, 6, 8, 30, 1, 250_000, tzinfo=UTC)
    row = {"id": "raw", "at": at, "day": date(2027, 1, 31), "flag": True, "amount": 1.5}
    writer = RawStatement(engine.dialect, insert(table), columns=True)
    db = sqlite3.connect(tmp_path / "r.db")
    db.execute(writer.sql, writer.bind(row))
    db.commit()
    with engine.begin() as conn:
        conn.execute(insert(table), {**row, "id": "orm"})
    stored = db.execute("SELECT at, day, flag, amount FROM t_raw ORDER BY id").fetchall()
    assert stored[0] == stored[1]  # byte for byte what the ORM stores
    reader = RawStatement(engine.dialect, select(table).where(table.c.id == bindparam("key")))
    found = db.execute(reader.sql, reader.bind({"key": "raw"})).fetchone()
    read = reader.row(found)
    with engine.connect() as conn:
        expected = conn.execute(select(table).where(table.c.id == "orm")).one()
    assert (read.at, read.day, read.flag, read.amount) == (
        expected.at,
        expected.day,
        expected.flag,
        expected.amount,
    )
    assert isinstance(read.day, date) and read.flag is True
    with pytest.raises(KeyError):
        reader.bind({})  # every named parameter must be given
    with pytest.raises(AttributeError):
        _ = read.missing
    db.close()
    engine.dispose()
