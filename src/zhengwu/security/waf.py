"""Reading ModSecurity v3's JSON audit log (``SecAuditLogFormat JSON``, one transaction per line).

Pure functions, no database: a line becomes a :class:`WafRecord` or a :class:`Malformed` (with its line
number, length and SM3 digest, never its text: a broken line may hold anything a client sent).
What is kept of a transaction is what a security administrator needs and no personal data: time,
client address, method, the path without its query, status, rule ids, CRS tags and severities, the
anomaly score. Never the query, headers, cookies or matched data.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from zhengwu.kernel.crypto import sm3
from zhengwu.security.severity import Severity

# ModSecurity writes "Sat Dec  5 22:06:32 2026" in the server's local zone, without the zone; the
# proxies of a node run in UTC (deploy/nginx/README.md), so the time is read as UTC.
_TIME_FORMAT = "%a %b %d %H:%M:%S %Y"
_SCORE = re.compile(r"Total Score: (\d+)")
# The CRS's blocking evaluation and the engine's own refusals (deploy/nginx/modsecurity/modsecurity.conf.in).
_BLOCKING_RULES = frozenset({"949110", "959100", "1000003", "1000004", "1000005", "1000006", "1000007"})

# CRS severities (syslog numbers as ModSecurity writes them) → ours.
_CRS_SEVERITY = {
    "0": Severity.CRITICAL,
    "1": Severity.CRITICAL,
    "2": Severity.HIGH,  # CRITICAL in CRS terms: one match is a blocking score of 5
    "3": Severity.MEDIUM,  # ERROR
    "4": Severity.LOW,  # WARNING
    "5": Severity.INFO,  # NOTICE
}


@dataclass(frozen=True, slots=True)
class WafRecord:
    """One transaction of the audit log, reduced to what may be stored."""

    line: int
    unique_id: str
    occurred_at: datetime
    client: str | None
    method: str
    path: str
    status: int
    blocked: bool
    rule_ids: tuple[str, ...]
    attacks: tuple[str, ...]  # CRS attack tags: attack-sqli, attack-xss, ...
    severity: Severity
    anomaly_score: int | None
    messages: tuple[str, ...] = field(default=())

    @property
    def relevant(self) -> bool:
        """False for a transaction no rule matched (logged for its status only: a 502, the node's 403)."""
        return bool(self.rule_ids)

    @property
    def event_type(self) -> str:
        """``waf.blocked`` for a refused request, ``waf.detected`` for one that matched rules and passed."""
        return "waf.blocked" if self.blocked else "waf.detected"


@dataclass(frozen=True, slots=True)
class Malformed:
    """A line that is not a ModSecurity JSON transaction."""

    line: int
    length: int
    digest: str  # SM3 of the raw line: lets an operator find it again without storing it
    reason: str


def _text(value: Any, limit: int) -> str:
    return str(value)[:limit] if value is not None else ""


def _time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError("time_stamp missing")
    return datetime.strptime(" ".join(value.split()), _TIME_FORMAT).replace(tzinfo=UTC)


def parse_line(number: int, raw: bytes) -> WafRecord | Malformed | None:
    """One line of the log; None for a blank line."""
    stripped = raw.strip()
    if not stripped:
        return None
    try:
        # ModSecurity copies request bytes into its JSON as they came: an attack's invalid UTF-8
        # (%c0%af) must not turn a refusal into a malformed line.
        document = json.loads(stripped.decode("utf-8", errors="replace"))
        transaction = document["transaction"]
        request = transaction["request"]
        response = transaction.get("response") or {}
        messages = transaction.get("messages") or []
        if not isinstance(messages, list):
            raise ValueError("messages is not a list")
        rule_ids: list[str] = []
        attacks: set[str] = set()
        texts: list[str] = []
        severity = Severity.INFO
        score = None
        for message in messages:
            details = message.get("details") or {}
            rule = _text(details.get("ruleId"), 16)
            if rule and rule not in rule_ids:
                rule_ids.append(rule)
            attacks.update(
                t for t in details.get("tags") or [] if isinstance(t, str) and t.startswith("attack-")
            )
            found = _CRS_SEVERITY.get(_text(details.get("severity"), 2))
            if found is not None and found.rank > severity.rank:
                severity = found
            text = _text(message.get("message"), 200)
            if rule in _BLOCKING_RULES and (match := _SCORE.search(text)):
                score = int(match.group(1))
            if text and text not in texts:
                texts.append(text)
        status = int(response.get("http_code") or 0)
        # A 403 without a rule message is the node's own refusal passing through, not the WAF's.
        blocked = any(r in _BLOCKING_RULES for r in rule_ids) or (status == 403 and bool(rule_ids))
        if blocked and severity.rank < Severity.MEDIUM.rank:
            severity = Severity.MEDIUM
        return WafRecord(
            line=number,
            unique_id=_text(transaction.get("unique_id"), 100) or f"line-{number}",
            occurred_at=_time(transaction.get("time_stamp")),
            client=_text(transaction.get("client_ip"), 64) or None,
            method=_text(request.get("method"), 16),
            path=_text(request.get("uri"), 2000).split("?", 1)[0][:300],
            status=status,
            blocked=blocked,
            rule_ids=tuple(rule_ids),
            attacks=tuple(sorted(attacks)),
            severity=severity,
            anomaly_score=score,
            messages=tuple(texts[:10]),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        reason = type(exc).__name__ if not isinstance(exc, KeyError) else f"missing {exc}"
        return Malformed(number, len(raw), sm3(raw).hex(), reason[:100])


def parse_lines(lines: Iterable[bytes], first_line: int = 1) -> Iterator[WafRecord | Malformed]:
    """Every record and every malformed line, in order."""
    for number, raw in enumerate(lines, start=first_line):
        parsed = parse_line(number, raw)
        if parsed is not None:
            yield parsed


@dataclass(slots=True)
class Flood:
    """Events of one (peer, type) past the allowance in one window: one summary row."""

    peer: str | None
    event_type: str
    first: WafRecord
    last: WafRecord
    count: int = 0
    rule_ids: set[str] = field(default_factory=set)
    attacks: set[str] = field(default_factory=set)
    severity: Severity = Severity.INFO

    def add(self, record: WafRecord) -> None:
        """Count ``record`` into the summary."""
        self.count += 1
        self.last = record if record.occurred_at >= self.last.occurred_at else self.last
        self.rule_ids.update(record.rule_ids)
        self.attacks.update(record.attacks)
        if record.severity.rank > self.severity.rank:
            self.severity = record.severity


@dataclass
class FloodGate:
    """Rate limit per (peer, event type) and time window: the first ``allowance`` events of a window are
    kept one by one, the rest are counted into one :class:`Flood` per window — never dropped."""

    allowance: int = 20
    window_seconds: int = 60
    _seen: dict[tuple[str | None, str, int], int] = field(default_factory=dict)
    floods: dict[tuple[str | None, str, int], Flood] = field(default_factory=dict)

    def admit(self, record: WafRecord) -> bool:
        """True when ``record`` is stored on its own; False when it went into a flood summary."""
        window = int(record.occurred_at.timestamp()) // self.window_seconds
        key = (record.client, record.event_type, window)
        seen = self._seen.get(key, 0) + 1
        self._seen[key] = seen
        if seen <= self.allowance:
            return True
        flood = self.floods.get(key)
        if flood is None:
            flood = self.floods[key] = Flood(record.client, record.event_type, record, record)
        flood.add(record)
        return False
