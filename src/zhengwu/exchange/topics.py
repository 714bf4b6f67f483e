"""The topic registry: which outbox topic travels as which national table, and how the receiver treats it.

Topics are registered by the capabilities that own the data, through the composition root. A topic
named ``<capability>.<national table>`` (``catalog.up_task_general_basic``) or just the national table
(``up_uc_province_user``) resolves by convention to that table with its national column checks; owners add validators, an apply function and a refresh
function (the current version of a record, used when an operator resends a refused row).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy.orm import Session

from zhengwu.exchange import national
from zhengwu.exchange.national import NationalTable
from zhengwu.kernel.topics import OnRefused, OnSettled, RefusedRow, RowError

TOPIC_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")


@dataclass(frozen=True, slots=True)
class InboundRow:
    """A received row on its way to being applied."""

    sender: str
    division_code: str | None
    message_id: str
    row_guid: str
    topic: str
    table_name: str
    business_key: str
    operation: str
    cd_time: str | None
    order: int
    row: dict[str, Any]
    origin: str = ""  # the node that made the row (exchange.tiers.Origin.node)
    route: str = ""  # origin/…/sender


Validator = Callable[[Mapping[str, Any]], Iterable[RowError]]
# Applies accepted rows inside the receiving transaction; returns the rows it refuses instead.
ApplyFn = Callable[[Session, Sequence[InboundRow]], Mapping[str, RowError]]
# The current national-format payload of the object with this business key (None: it is gone).
RefreshFn = Callable[[Session, str], dict[str, Any] | None]
# How many objects of a kind this node holds, per department code.
CensusFn = Callable[[Session], Mapping[str, int]]


@dataclass(frozen=True, slots=True)
class Topic:
    """One registered topic."""

    name: str
    table: str
    key_column: str | None
    spec: NationalTable | None = None
    validators: tuple[Validator, ...] = ()
    apply: tuple[ApplyFn, ...] = ()
    refresh: RefreshFn | None = None
    label: str = ""
    route_column: str | None = None
    relayed: bool = False  # a report of our own passed on through every tier (exchange.tiers)

    def business_key(self, row: Mapping[str, Any]) -> str | None:
        """The business key of a row (its row_guid when the table has no business key)."""
        value = row.get("row_guid") if self.key_column is None else row.get(self.key_column)
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return str(value)[:256]

    def validate(self, row: Mapping[str, Any]) -> list[RowError]:
        """All problems of a row: control columns, national columns, then the owner's validators."""
        errors = national.check_control(row)
        if self.spec is not None:
            errors.extend(national.check_columns(self.spec, row))
        missing_key = self.key_column is not None and self.business_key(row) is None
        if missing_key and not any(e.column == self.key_column for e in errors):
            errors.append(RowError("required", f"业务主键缺失：{self.key_column}", self.key_column))
        if not errors:
            for validator in self.validators:
                errors.extend(validator(row))
        return errors

    def check(self, row: Mapping[str, Any]) -> tuple[list[RowError], dict[str, Any]]:
        """Problems of a row and the row as stored (fast path for rows that are plainly valid)."""
        if self.spec is not None:
            clean = self.spec.fast_clean(row)
            if clean is not None and (self.key_column is None or self.business_key(row) is not None):
                errors: list[RowError] = []
                for validator in self.validators:
                    errors.extend(validator(row))
                return errors, clean
        return self.validate(row), self.clean(row)

    def clean(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """The row as stored: unknown columns dropped for national tables (tolerant reading)."""
        if self.spec is None:
            return dict(row)
        return national.keep_known(self.spec, row)


@dataclass
class TopicRegistry:
    """Topic name → national table, business key, validators, apply and refresh functions."""

    _topics: dict[str, Topic] = field(default_factory=dict)
    _table_apply: dict[str, tuple[ApplyFn, ...]] = field(default_factory=dict)
    _table_checks: dict[str, tuple[Validator, ...]] = field(default_factory=dict)
    _census: dict[str, tuple[CensusFn, ...]] = field(default_factory=dict)
    _table_refused: dict[str, tuple[OnRefused, ...]] = field(default_factory=dict)
    _table_settled: dict[str, tuple[OnSettled, ...]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def check_table(self, table: str, validator: Validator) -> None:
        """Validate every row of ``table`` with ``validator``, whatever topic carries it."""
        with self._lock:
            self._table_checks[table] = (*self._table_checks.get(table, ()), validator)

    def on_table(self, table: str, apply: ApplyFn) -> None:
        """Run ``apply`` for accepted rows of ``table`` whatever topic carries them (e.g. a registry index)."""
        with self._lock:
            self._table_apply[table] = (*self._table_apply.get(table, ()), apply)

    def on_refused(self, table: str, hook: OnRefused) -> None:
        """Run ``hook`` when the upper node refuses rows of ``table`` this node sent."""
        with self._lock:
            self._table_refused[table] = (*self._table_refused.get(table, ()), hook)

    def on_settled(self, table: str, hook: OnSettled) -> None:
        """Run ``hook`` when operators resend refused rows of ``table`` from the feedback list."""
        with self._lock:
            self._table_settled[table] = (*self._table_settled.get(table, ()), hook)

    def settled(self, session: Session, table: str, row_guids: Sequence[str]) -> None:
        """Tell the owners of ``table`` that refused rows were resent, in the caller's transaction."""
        if row_guids:
            for hook in self._table_settled.get(table, ()):
                hook(session, row_guids)

    def refused(self, session: Session, table: str, rows: Sequence[RefusedRow]) -> None:
        """Tell the owners of ``table`` about refused rows, in the caller's transaction."""
        if rows:
            for hook in self._table_refused.get(table, ()):
                hook(session, rows)

    def count(self, kind: str, census: CensusFn) -> None:
        """Count this node's objects of ``kind`` with ``census`` (department code → count) for the
        connection progress report (exchange.progress)."""
        with self._lock:
            self._census[kind] = (*self._census.get(kind, ()), census)

    def censuses(self) -> dict[str, tuple[CensusFn, ...]]:
        """The census functions by kind."""
        return dict(self._census)

    def register(
        self,
        name: str,
        *,
        table: str | None = None,
        key_column: str | None = None,
        validator: Validator | None = None,
        apply: ApplyFn | None = None,
        refresh: RefreshFn | None = None,
        label: str = "",
        route_column: str | None = None,
        relayed: bool = False,
    ) -> Topic:
        """Register (or extend) a topic; the table defaults to the part after the first dot (or the name)."""
        if not TOPIC_RE.match(name) or len(name) > 64:
            raise ValueError(f"topic name {name!r}: lowercase dotted, at most 64 characters")
        with self._lock:
            current = self._topics.get(name) or self._conventional(name, table)
            if current is None:
                if table is None:
                    raise ValueError(f"topic {name!r} names no national table; pass table=")
                current = Topic(name=name, table=table, key_column=key_column, label=label)
            if table is not None and table != current.table:
                raise ValueError(f"topic {name!r} is already bound to {current.table}")
            updated = replace(
                current,
                key_column=key_column if key_column is not None else current.key_column,
                validators=(*current.validators, validator) if validator else current.validators,
                apply=(*current.apply, apply) if apply else current.apply,
                refresh=refresh or current.refresh,
                label=label or current.label,
                route_column=route_column or current.route_column,
                relayed=relayed or current.relayed,
            )
            self._topics[name] = updated
            return updated

    def get(self, name: str) -> Topic | None:
        """The topic, registered or resolved by the ``<capability>.<national table>`` convention."""
        topic = self._topics.get(name)
        if topic is None and TOPIC_RE.match(name):
            topic = self._conventional(name, None)
        if topic is None:
            return None
        hooks = self._table_apply.get(topic.table, ())
        checks = self._table_checks.get(topic.table, ())
        if hooks or checks:
            topic = replace(topic, apply=(*topic.apply, *hooks), validators=(*checks, *topic.validators))
        return topic

    def names(self) -> list[str]:
        """Explicitly registered topic names."""
        return sorted(self._topics)

    @staticmethod
    def _conventional(name: str, table: str | None) -> Topic | None:
        table_name = table or (name.split(".", 1)[1] if "." in name else name)
        spec = national.table(table_name)
        if spec is None:
            return None
        return Topic(name=name, table=spec.name, key_column=spec.key_column, spec=spec, label=spec.comment)


def default_registry() -> TopicRegistry:
    """A registry that knows the national tables by convention and nothing else yet."""
    return TopicRegistry()
