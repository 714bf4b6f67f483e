"""SQLite write transactions queue for the write lock up front (BEGIN IMMEDIATE), safe requests do not."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sqlalchemy import event, text

from zhengwu.kernel.db import make_engine, read_only_transactions


def test_begin_modes(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{(tmp_path / 'b.db').as_posix()}")
    seen: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    with engine.begin() as conn:
        conn.execute(text("SELECT 1"))
    with read_only_transactions(), engine.begin() as conn:
        conn.execute(text("SELECT 1"))
    engine.dispose()
    begins = [s for s in seen if s.startswith("BEGIN")]
    assert begins == ["BEGIN IMMEDIATE", "BEGIN"]


def test_read_then_write_survives_a_concurrent_writer(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{(tmp_path / 'c.db').as_posix()}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE counter (n INTEGER)"))
        conn.execute(text("INSERT INTO counter VALUES (0)"))
    errors: list[BaseException] = []
    a_has_read = threading.Event()

    def slow_increment() -> None:
        try:
            with engine.begin() as conn:
                n = conn.execute(text("SELECT n FROM counter")).scalar_one()
                a_has_read.set()
                time.sleep(0.3)
                conn.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    def quick_increment() -> None:
        a_has_read.wait(5)
        try:
            with engine.begin() as conn:
                conn.execute(text("UPDATE counter SET n = n + 1"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=slow_increment), threading.Thread(target=quick_increment)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    with engine.connect() as conn:
        final = conn.execute(text("SELECT n FROM counter")).scalar_one()
    engine.dispose()
    assert errors == []
    assert final == 2, "no lost update: the second writer waited for the first"
