"""The portal's search vocabulary: what people say (开饭店, 身份证丢了, 港澳证) → the items' own words.

The catalog's synonym table maps one word to one wording inside a query. People's words often stand
for several items at once (生孩子 → 出生医学证明, 出生登记, 生育登记 …), so the portal keeps its own
list of phrases and the item keywords each one leads to, searched in that order. The list ships with
the portal (``vocabulary.tsv``) and an operator adds or overrides phrases in a file of the same format
named by ``ZHENGWU_PORTAL__VOCABULARY_FILE``; the file is read again when it changes.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path

from zhengwu.catalog.search.tokens import normalize

SHIPPED = Path(__file__).with_name("vocabulary.tsv")
KINDS = {"事件": "event", "同义": "synonym", "简称": "abbreviation"}
# Words that carry no item meaning in a request ("我要办护照" is 护照).
FILLER = re.compile(
    r"我要|我想|想要|怎么|如何|怎样|哪里|在哪|可以|需要|办理|申请|一下|咨询|请问|[办的了吗呢啊要想去]"
)


class VocabularyError(ValueError):
    """A line of a vocabulary file that cannot be read (the message names file and line)."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One line: the phrases people use and the item keywords they lead to."""

    kind: str  # event | synonym | abbreviation
    phrases: tuple[str, ...]
    keywords: tuple[str, ...]

    @property
    def label(self) -> str:
        """The first phrase: how the entry is shown (人生事件 on the home page)."""
        return self.phrases[0]


@dataclass(frozen=True, slots=True)
class Match:
    """How a query was understood: the phrases found, their keywords, and what is left of the query."""

    phrases: tuple[str, ...]
    keywords: tuple[str, ...]
    rest: str


def parse(text: str, source: str = "vocabulary") -> list[Entry]:
    """Entries of a vocabulary file (``类别<TAB>说法|说法<TAB>关键词、关键词``); ``#`` starts a comment."""
    entries: list[Entry] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        cells = [c.strip() for c in raw.split("\t")]
        if len(cells) != 3 or cells[0] not in KINDS:
            raise VocabularyError(
                f"{source} 第{number}行：应为“类别<TAB>说法<TAB>关键词”，类别为事件、同义或简称"
            )
        phrases = tuple(
            dict.fromkeys(p for p in (normalize(x).replace(" ", "") for x in cells[1].split("|")) if p)
        )
        keywords = tuple(dict.fromkeys(k for k in (normalize(x) for x in cells[2].split("、")) if k))
        if not phrases or not keywords:
            raise VocabularyError(f"{source} 第{number}行：说法和关键词都不能为空")
        entries.append(Entry(KINDS[cells[0]], phrases, keywords))
    return entries


class Vocabulary:
    """The shipped entries plus an operator's; later phrases override earlier ones."""

    def __init__(self, entries: list[Entry]) -> None:
        self.entries = entries
        table: dict[str, Entry] = {}
        for entry in entries:
            for phrase in entry.phrases:
                table[phrase] = entry
        self._table = table
        # Longest phrase first: 身份证丢了 wins over 身份证.
        self._phrases = sorted(table, key=lambda p: (-len(p), p))

    @property
    def events(self) -> list[Entry]:
        """The life events (人生事件), in file order."""
        seen: dict[int, Entry] = {}
        for entry in self.entries:
            if entry.kind == "event":
                seen.setdefault(id(entry), entry)
        return list(seen.values())

    def understand(self, query: str) -> Match:
        """The phrases inside ``query`` (longest first, not overlapping) and the keywords they stand for."""
        text = normalize(query).replace(" ", "")
        found: list[str] = []
        keywords: dict[str, None] = {}
        for phrase in self._phrases:
            if phrase in text:
                found.append(phrase)
                keywords.update(dict.fromkeys(self._table[phrase].keywords))
                text = text.replace(phrase, " ")
        rest = FILLER.sub(" ", text).strip() if found else normalize(query)
        return Match(tuple(found), tuple(keywords), " ".join(rest.split()))

    def suggestions(self, query: str, limit: int = 6) -> list[str]:
        """Phrases sharing the most characters with ``query`` (for a search that found nothing)."""
        chars = set(normalize(query).replace(" ", ""))
        if not chars:
            return []
        scored = []
        for phrase in self._phrases:
            common = len(chars & set(phrase))
            if common:
                scored.append((-common / len(set(phrase) | chars), len(phrase), phrase))
        labels: dict[str, None] = {}
        for _, _, phrase in sorted(scored):
            labels.setdefault(self._table[phrase].label, None)
            if len(labels) >= limit:
                break
        return list(labels)


_lock = threading.Lock()
_cache: dict[str, tuple[float, Vocabulary]] = {}


def load(extra: Path | None = None) -> Vocabulary:
    """The shipped vocabulary plus the operator's file (re-read when its modification time changes)."""
    key = str(extra) if extra else ""
    stamp = extra.stat().st_mtime if extra is not None and extra.exists() else 0.0
    with _lock:
        cached = _cache.get(key)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        entries = parse(SHIPPED.read_text(encoding="utf-8"), SHIPPED.name)
        if extra is not None and extra.exists():
            entries += parse(extra.read_text(encoding="utf-8"), extra.name)
        vocabulary = Vocabulary(entries)
        _cache[key] = (stamp, vocabulary)
        return vocabulary
