"""The hash-chain rule in memory: an intact chain holds; any single edit, deletion or swap is found at
the first record it touches (property-based)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from zhengwu.audit import chain
from zhengwu.kernel.crypto import sm3


@dataclass(frozen=True)
class Row:
    seq: int
    text: str
    prev_hash: str
    hash: str


SPEC = chain.ChainSpec("test.chain", Row, lambda r: {"text": r.text})


def build(texts: list[str]) -> tuple[list[Row], chain.Head]:
    rows: list[Row] = []
    prev = chain.GENESIS
    for seq, text in enumerate(texts, start=1):
        digest = chain.link_hash(prev, {"text": text, "seq": seq})
        rows.append(Row(seq, text, prev, digest))
        prev = digest
    return rows, chain.Head(len(rows), prev)


texts = st.lists(st.text(max_size=20), min_size=1, max_size=12)


def test_hash_is_sm3_of_previous_hash_and_canonical_bytes() -> None:
    body = {"b": "乙", "a": 1, "seq": 1}
    expected = sm3(bytes.fromhex(chain.GENESIS) + '{"a":1,"b":"乙","seq":1}'.encode()).hex()
    assert chain.link_hash(chain.GENESIS, body) == expected


@given(texts)
def test_an_intact_chain_holds(values: list[str]) -> None:
    rows, head = build(values)
    verdict = chain.walk(SPEC, rows, head)
    assert verdict.ok and verdict.checked == len(values)


@given(texts, st.data())
def test_an_edited_record_is_found_where_it_was_edited(values: list[str], data: st.DataObject) -> None:
    rows, head = build(values)
    index = data.draw(st.integers(0, len(rows) - 1))
    new_text = data.draw(st.text(max_size=20).filter(lambda t: t != rows[index].text))
    rows[index] = replace(rows[index], text=new_text)
    verdict = chain.walk(SPEC, rows, head)
    assert verdict.broken is not None
    assert (verdict.broken.seq, verdict.broken.kind) == (index + 1, "edited")


@given(texts, st.data())
def test_a_rebuilt_tail_is_found_at_the_head_or_the_next_link(values: list[str], data: st.DataObject) -> None:
    # An edit whose own hash was recomputed still breaks the next link (or the head, for the last record).
    rows, head = build(values)
    index = data.draw(st.integers(0, len(rows) - 1))
    row = rows[index]
    forged = chain.link_hash(row.prev_hash, {"text": row.text + "x", "seq": row.seq})
    rows[index] = replace(row, text=row.text + "x", hash=forged)
    verdict = chain.walk(SPEC, rows, head)
    assert verdict.broken is not None
    if index + 1 < len(rows):
        assert (verdict.broken.seq, verdict.broken.kind) == (index + 2, "broken_link")
    else:
        assert verdict.broken.kind == "head_mismatch"


@given(texts, st.data())
def test_a_deleted_record_is_found(values: list[str], data: st.DataObject) -> None:
    rows, head = build(values)
    index = data.draw(st.integers(0, len(rows) - 1))
    del rows[index]
    verdict = chain.walk(SPEC, rows, head)
    assert verdict.broken is not None
    assert verdict.broken.seq == index + 1
    assert verdict.broken.kind == ("truncated" if index == len(values) - 1 else "dropped")


@given(st.lists(st.text(max_size=20), min_size=2, max_size=12, unique=True), st.data())
def test_swapped_records_are_found_at_the_first_of_them(values: list[str], data: st.DataObject) -> None:
    rows, head = build(values)
    i = data.draw(st.integers(0, len(rows) - 2))
    j = data.draw(st.integers(i + 1, len(rows) - 1))
    a, b = rows[i], rows[j]
    # Content and hashes swapped, sequence numbers kept (a reordering by a database administrator).
    rows[i] = replace(b, seq=a.seq)
    rows[j] = replace(a, seq=b.seq)
    verdict = chain.walk(SPEC, rows, head)
    assert verdict.broken is not None and verdict.broken.seq == i + 1


def test_canonical_bytes_are_sorted_compact_utf8_with_utc_times() -> None:
    from datetime import UTC, datetime, timedelta, timezone

    beijing = datetime(2026, 12, 5, 8, 0, tzinfo=timezone(timedelta(hours=8)))
    data: dict[str, Any] = {"z": None, "a": [1, "二"], "at": beijing}
    assert chain.canonical_bytes(data) == (
        '{"a":[1,"二"],"at":"2026-12-05T00:00:00.000000+00:00","z":null}'.encode()
    )
    assert (
        datetime(2026, 12, 5, tzinfo=UTC).isoformat(timespec="microseconds")
        in chain.canonical_bytes({"at": beijing}).decode()
    )
