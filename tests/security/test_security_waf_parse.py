"""Reading ModSecurity's JSON audit log: records keep no personal data; garbage never raises."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st
from security_kit import transaction

from zhengwu.security.severity import Severity
from zhengwu.security.waf import FloodGate, Malformed, WafRecord, parse_line, parse_lines


def test_a_blocked_transaction_keeps_rules_and_path_but_not_query_headers_or_matches() -> None:
    record = parse_line(7, transaction(1).encode())
    assert isinstance(record, WafRecord)
    assert record.blocked and record.event_type == "waf.blocked" and record.status == 403
    assert record.path == "/api/v1/catalog/search" and record.method == "GET"
    assert record.rule_ids == ("942100", "949110") and record.attacks == ("attack-sqli",)
    assert record.anomaly_score == 5 and record.severity is Severity.HIGH
    assert record.occurred_at == datetime(2026, 12, 5, 22, 0, 0, tzinfo=UTC)
    assert record.client == "203.0.113.7" and record.line == 7
    assert "secret" not in repr(record)  # the query, cookie and matched data stay out


def test_a_passed_transaction_with_a_warning_is_detected_not_blocked() -> None:
    line = transaction(2, status=200, rules=(("920350", "4", "Host header is a numeric IP address"),))
    record = parse_line(1, line.encode())
    assert isinstance(record, WafRecord)
    assert not record.blocked and record.event_type == "waf.detected" and record.severity is Severity.LOW


def test_malformed_lines_are_reported_with_number_length_and_digest_never_text() -> None:
    lines = [b"{not json", transaction(3).encode(), b"", b'{"transaction": {"request": {}}}', b"\xff\xfe"]
    parsed = list(parse_lines(lines))
    assert [type(p).__name__ for p in parsed] == ["Malformed", "WafRecord", "Malformed", "Malformed"]
    bad = [p for p in parsed if isinstance(p, Malformed)]
    assert [b.line for b in bad] == [1, 4, 5]
    assert bad[0].length == len(b"{not json") and len(bad[0].digest) == 64


@given(st.binary(max_size=300))
def test_no_line_makes_the_parser_raise(raw: bytes) -> None:
    result = parse_line(1, raw)
    assert result is None or isinstance(result, (Malformed, WafRecord))


def test_the_flood_gate_keeps_the_allowance_and_counts_the_rest_per_peer_type_and_window() -> None:
    gate = FloodGate(allowance=3, window_seconds=60)
    records = [parse_line(n, transaction(n, second=n % 50).encode()) for n in range(10)]
    other = parse_line(99, transaction(99, client="198.51.100.1").encode())
    later = parse_line(100, transaction(100, second=70).encode())
    admitted = [gate.admit(r) for r in records if isinstance(r, WafRecord)]
    assert admitted == [True] * 3 + [False] * 7
    assert isinstance(other, WafRecord) and gate.admit(other)  # another peer has its own allowance
    assert isinstance(later, WafRecord) and gate.admit(later)  # and so does the next minute
    (flood,) = gate.floods.values()
    assert flood.count == 7 and flood.first.line == 3 and flood.last.line == 9
    assert flood.rule_ids == {"942100", "949110"}


def test_raw_request_bytes_copied_into_the_log_do_not_make_a_refusal_malformed() -> None:
    line = (
        transaction(4, uri="/static/x?file=..%c0%af..%c0%afetc/passwd")
        .encode()
        .replace(b"%c0%af", b"\xc0\xaf")
    )
    record = parse_line(1, line)
    assert isinstance(record, WafRecord) and record.blocked and record.path == "/static/x"
