"""Chinese tokens for the catalog search: jieba for words, synonyms as query variants.

Documents are tokenised with jieba's search mode (words and their sub-words, ``个体工商户`` →
``个体 工商 商户 工商户``); queries with the accurate mode, each word also matching its sub-words. A
query is a disjunction of *variants* (the text as typed, and with each synonym replaced), each variant
a conjunction of *groups*, each group a disjunction of *alternatives* (token conjunctions).
"""

from __future__ import annotations

import gc
import logging
import re
import threading
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where the tokenizer is built: jieba's import costs every process ~0.2 s
    import jieba

_WORD = re.compile(r"\w+")
_SPACE = re.compile(r"\s+")
MAX_QUERY_CHARS = 64
MAX_VARIANTS = 8

# Words of government service that jieba's general dictionary splits badly; frequencies high enough to
# keep them whole in accurate mode. Static on purpose: the index depends on the tokenizer.
DOMAIN_WORDS = (
    "个体工商户",
    "营业执照",
    "食品经营许可",
    "社会保险",
    "养老保险",
    "医疗保险",
    "失业保险",
    "工伤保险",
    "生育保险",
    "住房公积金",
    "公积金",
    "社保卡",
    "居民身份证",
    "户口簿",
    "出入境",
    "港澳通行证",
    "驾驶证",
    "行驶证",
    "不动产",
    "施工许可",
    "规划许可",
    "建设工程",
    "危险化学品",
    "排污许可",
    "取水许可",
    "残疾人证",
    "低保",
    "最低生活保障",
    "特困人员",
    "婚姻登记",
    "出生医学证明",
    "执业医师",
    "教师资格",
)

_lock = threading.Lock()
_tokenizer: jieba.Tokenizer | None = None


def tokenizer() -> jieba.Tokenizer:
    """The process-wide jieba tokenizer with the domain words (loaded once, about 0.6 s)."""
    global _tokenizer
    if _tokenizer is None:
        with _lock:
            if _tokenizer is None:
                import jieba

                jieba.setLogLevel(logging.WARNING)
                tok = jieba.Tokenizer()
                # The dictionary is half a million small objects unmarshalled at once: collections
                # triggered while it loads find nothing to free and cost a tenth of the load.
                enabled = gc.isenabled()
                gc.disable()
                try:
                    tok.initialize()
                finally:
                    if enabled:
                        gc.enable()
                for word in DOMAIN_WORDS:
                    tok.add_word(word, freq=50_000)
                _tokenizer = tok
    return _tokenizer


def normalize(text: str) -> str:
    """NFKC (full-width → half-width), case-folded, whitespace collapsed."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def name_key(name: str) -> str:
    """The key under which names are considered equal (exact-name matches): normalised, no spaces."""
    return normalize(name).replace(" ", "")


def _words(tokens: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for token in tokens:
        for word in _WORD.findall(token):
            seen.setdefault(word, None)
    return list(seen)


def document_tokens(*texts: str) -> str:
    """Space-separated search-mode tokens of the texts (the full-text document of a name)."""
    tok = tokenizer()
    words: list[str] = []
    for text in texts:
        if text:
            words.extend(tok.cut_for_search(normalize(text)))
    return " ".join(_words(words))


Alternative = tuple[str, ...]
Group = tuple[Alternative, ...]
Variant = tuple[Group, ...]


@dataclass(frozen=True, slots=True)
class ParsedQuery:
    """A normalised query: the texts to match as substrings and the token structure for full text."""

    text: str
    texts: tuple[str, ...]
    variants: tuple[Variant, ...]

    @property
    def empty(self) -> bool:
        """True when nothing searchable remains."""
        return not self.variants


def _group(word: str) -> Group:
    tok = tokenizer()
    finer = tuple(w for w in _words(tok.cut_for_search(word)) if w != word and len(w) < len(word))
    # A coarse word also matches when the document only has its sub-words (different segmentation).
    covering = tuple(w for w in finer if len(w) >= 2)
    if covering and sum(len(w) for w in covering) >= len(word):
        return ((word,), covering)
    return ((word,),)


def _variant(text: str) -> Variant:
    words = _words(tokenizer().cut(text))
    return tuple(_group(w) for w in words)


def expand(text: str, synonyms: Mapping[str, str]) -> tuple[str, ...]:
    """The query text and its synonym variants (term → canonical and canonical → term), at most eight."""
    variants = [text]
    reverse: dict[str, list[str]] = {}
    for term, canonical in synonyms.items():
        reverse.setdefault(canonical, []).append(term)
    for term, canonical in sorted(synonyms.items(), key=lambda kv: -len(kv[0])):
        for existing in list(variants):
            if term in existing and canonical not in existing:
                variants.append(existing.replace(term, canonical))
    for canonical, terms in sorted(reverse.items(), key=lambda kv: -len(kv[0])):
        for existing in list(variants):
            if canonical in existing:
                variants.extend(existing.replace(canonical, t) for t in terms)
    unique = list(dict.fromkeys(variants))
    return tuple(unique[:MAX_VARIANTS])


def parse_query(raw: str, synonyms: Mapping[str, str]) -> ParsedQuery:
    """Normalise and tokenise a user's query, expanding synonyms."""
    text = normalize(raw)[:MAX_QUERY_CHARS]
    texts = tuple(t for t in (" ".join(_WORD.findall(v)) for v in expand(text, synonyms)) if t)
    variants = tuple(v for v in (_variant(t) for t in texts) if v)
    return ParsedQuery(text=" ".join(_WORD.findall(text)), texts=texts, variants=variants)
