"""Reading the national 前置库 DDL (MySQL ``CREATE TABLE`` text) and comparing it with our table specs.

The DDL is reference material kept outside the repository (``../shared/national-ddl``: the 55 per-table
exports and the combined ``task_init.sql``); it is read in place by the conformance test and by
``zhengwu exchange selftest --ddl DIR``. The two sources disagree on some columns; :func:`expected_rules`
derives the rule we apply from both: send within the narrower definition, accept the wider one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from zhengwu.exchange import national

Base = Literal["varchar", "longtext", "int", "bigint", "datetime"]

TASK_INIT: Final = "task_init.sql"
# Bookkeeping columns of the 前置库 itself (snowflake id, tenant and audit): not exchanged.
BOOKKEEPING: Final = frozenset(
    {"id", "create_org_id", "create_user_id", "tenant_id", "update_org_id", "update_time",
     "update_user_id", "version"}
)  # fmt: skip
# ``create_time`` is bookkeeping in task_init.sql except where a table has a business column of that
# name in its per-table file (up_uc_province_user: 注册时间).

_TABLE_RE: Final = re.compile(r"CREATE TABLE `(?P<name>\w+)` \((?P<body>.*?)\n\)(?P<tail>[^;]*);", re.S)
_COLUMN_RE: Final = re.compile(
    r"^\s*`(?P<name>\w+)`\s+(?P<base>[a-z]+)(?:\((?P<length>\d+)\))?(?P<rest>.*?),?\s*$"
)
_COMMENT_RE: Final = re.compile(r"COMMENT\s*=?\s*'(?P<text>(?:[^'\\]|\\.)*)'")


@dataclass(frozen=True, slots=True)
class DdlColumn:
    """One column definition of a DDL source."""

    name: str
    base: str
    length: int | None
    not_null: bool
    comment: str


@dataclass(frozen=True, slots=True)
class DdlTable:
    """One ``CREATE TABLE`` of a DDL source."""

    name: str
    comment: str
    columns: Mapping[str, DdlColumn]


def parse(text: str) -> dict[str, DdlTable]:
    """Every ``CREATE TABLE`` in ``text`` (MySQL dump syntax as the national files use it)."""
    tables: dict[str, DdlTable] = {}
    for match in _TABLE_RE.finditer(text):
        columns: dict[str, DdlColumn] = {}
        for line in match["body"].splitlines():
            column = _COLUMN_RE.match(line)
            if column is None:
                continue
            rest = column["rest"]
            comment = _COMMENT_RE.search(rest)
            columns[column["name"]] = DdlColumn(
                name=column["name"],
                base=column["base"],
                # int(11) is a display width, not a length
                length=int(column["length"]) if column["length"] and column["base"] == "varchar" else None,
                not_null="NOT NULL" in rest,
                comment=comment["text"] if comment else "",
            )
        table_comment = _COMMENT_RE.search(match["tail"])
        tables[match["name"]] = DdlTable(
            match["name"], table_comment["text"] if table_comment else "", columns
        )
    return tables


@dataclass(frozen=True, slots=True)
class Sources:
    """Both DDL sources: the per-table files and ``task_init.sql``."""

    per_table: dict[str, DdlTable]
    task_init: dict[str, DdlTable]


def load(directory: Path) -> Sources:
    """Read ``directory``: every ``<table>.sql`` (one table each) and ``task_init.sql``."""
    per_table: dict[str, DdlTable] = {}
    for path in sorted(directory.glob("*.sql")):
        if path.name == TASK_INIT:
            continue
        parsed = parse(path.read_text(encoding="utf-8"))
        if set(parsed) != {path.stem}:
            raise ValueError(f"{path.name}: expected exactly the table {path.stem}, found {sorted(parsed)}")
        per_table.update(parsed)
    task_init = parse((directory / TASK_INIT).read_text(encoding="utf-8"))
    return Sources(per_table, task_init)


def _kind(column: DdlColumn) -> national.Kind:
    if column.base in ("int", "bigint"):
        return "int"
    if column.base == "datetime":
        return "datetime"
    return "str"


def _length(column: DdlColumn) -> int | None:
    return column.length if column.base == "varchar" else None


def _exchanged(table: DdlTable, other: DdlTable | None) -> dict[str, DdlColumn]:
    """The exchanged columns of a table: bookkeeping dropped. ``create_time`` is bookkeeping in
    task_init.sql except where the per-table file has a business column of that name
    (up_uc_province_user 注册时间), which DIFFERENCES.md compares as one column."""
    audited = "tenant_id" in table.columns
    business_time = other is not None and "create_time" in other.columns and "tenant_id" not in other.columns
    return {
        name: column
        for name, column in table.columns.items()
        if name not in BOOKKEEPING and not (name == "create_time" and audited and not business_time)
    }


@dataclass(frozen=True, slots=True)
class Rule:
    """The rule of one column derived from the DDL: how we send it and what we accept."""

    kind: national.Kind
    length: int | None
    required: bool
    accept_kind: national.Kind
    accept_length: int | None
    accept_required: bool
    aliases: tuple[str, ...] = ()


# Renamed columns (per-table name → task_init name): we send the newer name and accept the older one.
RENAMED: Final = {
    ("up_pro_material", "get_name"): "get_num",
    ("up_task_punish_basic", "plan_effective_data"): "plan_effective_date",
    ("up_uc_corporator_identity", "legal_certno"): "legal_cert_no",
}


def _narrow_kind(a: DdlColumn, b: DdlColumn) -> tuple[national.Kind, national.Kind]:
    """(send kind, accept kind): a datetime is narrower than text (any datetime fits varchar(20) as
    national text, not every text is a datetime)."""
    ka, kb = _kind(a), _kind(b)
    if ka == kb:
        return ka, ka
    if {ka, kb} == {"datetime", "str"}:
        return "datetime", "str"
    raise ValueError(f"{a.name}: no narrower of {a.base} and {b.base}")


def _min_length(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def _max_length(a: DdlColumn, b: DdlColumn) -> int | None:
    la, lb = _length(a), _length(b)
    # longtext (no length) is the widest text; a datetime column has no length of its own
    if (la is None and _kind(a) == "str") or (lb is None and _kind(b) == "str"):
        return None
    if la is None:
        return lb
    if lb is None:
        return la
    return max(la, lb)


def _single(column: DdlColumn, aliases: tuple[str, ...] = ()) -> Rule:
    kind, length = _kind(column), _length(column)
    return Rule(kind, length, column.not_null, kind, length, column.not_null, aliases)


def _both(a: DdlColumn, b: DdlColumn, aliases: tuple[str, ...] = ()) -> Rule:
    send_kind, accept_kind = _narrow_kind(a, b)
    length = None if send_kind != "str" else _min_length(_length(a), _length(b))
    accept_length = None if accept_kind != "str" else _max_length(a, b)
    return Rule(
        send_kind,
        length,
        a.not_null or b.not_null,
        accept_kind,
        accept_length,
        a.not_null and b.not_null,
        aliases,
    )


def expected_rules(sources: Sources) -> dict[str, dict[str, Rule]]:
    """Table → column → the rule both sources imply (a table in one source only: that source's rule)."""
    result: dict[str, dict[str, Rule]] = {}
    for name in sorted(set(sources.per_table) | set(sources.task_init)):
        old, new = sources.per_table.get(name), sources.task_init.get(name)
        old_columns = _exchanged(old, new) if old else {}
        new_columns = _exchanged(new, old) if new else {}
        renamed = {RENAMED[(name, c)]: c for c in old_columns if (name, c) in RENAMED}
        rules: dict[str, Rule] = {}
        for column in sorted(set(old_columns) | set(new_columns)):
            if (name, column) in RENAMED:
                continue
            previous = renamed.get(column)
            a = old_columns.get(previous or column)
            b = new_columns.get(column)
            aliases = (previous,) if previous else ()
            if a is not None and b is not None:
                rules[column] = _both(a, b, aliases)
            else:
                only = a or b
                assert only is not None
                rules[column] = _single(only, aliases)
        result[name] = rules
    return result


def spec_rules(spec: national.NationalTable) -> dict[str, Rule]:
    """Our spec of a table in the same shape as :func:`expected_rules` (control columns it has included)."""
    return {
        c.name: Rule(
            c.kind,
            c.length,
            c.required,
            c.accept_kind or c.kind,
            c.accept_length,
            bool(c.accept_required),
            c.aliases,
        )
        for c in spec.ddl_columns
    }


def differences(sources: Sources) -> Iterator[str]:
    """Every way our specs differ from the DDL, one line each (nothing when they match)."""
    expected = expected_rules(sources)
    ours = {**national.UP_TABLES, **national.DN_TABLES}
    for name in sorted(set(expected) | set(ours)):
        spec = ours.get(name)
        if spec is None:
            yield f"{name}: table of the national DDL missing from our specs"
            continue
        if name not in expected:
            yield f"{name}: table in our specs but in neither DDL source"
            continue
        have, want = spec_rules(spec), expected[name]
        for column in sorted(set(have) | set(want)):
            if column not in have:
                yield f"{name}.{column}: missing from our spec (DDL {_show(want[column])})"
            elif column not in want:
                yield f"{name}.{column}: not a column of the national table"
            elif have[column] != want[column]:
                yield f"{name}.{column}: ours {_show(have[column])}, DDL {_show(want[column])}"


def _show(rule: Rule) -> str:
    def one(kind: str, length: int | None, required: bool) -> str:
        shape = {"str": f"varchar({length})" if length else "longtext", "int": "int", "datetime": "datetime"}[
            kind
        ]
        return f"{shape} {'NOT NULL' if required else 'NULL'}"

    send = one(rule.kind, rule.length, rule.required)
    accept = one(rule.accept_kind, rule.accept_length, rule.accept_required)
    alias = f" (also {', '.join(rule.aliases)})" if rule.aliases else ""
    return f"send {send}" + ("" if accept == send else f" / accept {accept}") + alias
