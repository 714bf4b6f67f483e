"""The search vocabulary and the relevance set: well-formed, naming items that exist in the demo."""

from __future__ import annotations

from pathlib import Path

import pytest

from zhengwu.portal import relevance, vocabulary
from zhengwu.seed.catalog_items import ITEMS

CASES = Path(__file__).with_name("relevance.tsv")
NAMES = {item.name for item in ITEMS}


def test_shipped_vocabulary_reads_and_names_demo_items() -> None:
    words = vocabulary.load()
    assert len(words.events) >= 20
    unknown = {k for e in words.entries for k in e.keywords if k not in NAMES}
    assert not unknown, f"keywords naming no demo item: {unknown}"


def test_understand_longest_phrase_first() -> None:
    words = vocabulary.Vocabulary(vocabulary.parse("同义\t身份证\t甲\n事件\t身份证丢了|丢了身份证\t乙、丙\n"))
    match = words.understand("我的身份证丢了怎么办")
    assert match.phrases == ("身份证丢了",) and match.keywords == ("乙", "丙")
    assert words.understand("护照").phrases == () and words.understand("护照").rest == "护照"
    assert words.suggestions("身份") == ["身份证", "身份证丢了"]


def test_bad_lines_are_named() -> None:
    with pytest.raises(vocabulary.VocabularyError, match="第2行"):
        vocabulary.parse("同义\t甲\t乙\n别的\t甲\t乙\n", "x.tsv")
    with pytest.raises(vocabulary.VocabularyError, match="不能为空"):
        vocabulary.parse("同义\t \t乙\n")


def test_operator_file_adds_phrases(tmp_path: Path) -> None:
    extra = tmp_path / "more.tsv"
    extra.write_text("同义\t办港证\t往来港澳通行证及签注签发\n", encoding="utf-8")
    assert vocabulary.load(extra).understand("办港证").keywords == ("往来港澳通行证及签注签发",)
    assert vocabulary.load().understand("办港证").keywords == ()


def test_relevance_set_is_large_and_names_demo_items() -> None:
    cases = relevance.read_cases(CASES)
    assert len(cases) >= 100 and len({c.query for c in cases}) == len(cases)
    for case in cases:
        assert case.expected and set(case.expected) <= NAMES, case


@pytest.mark.slow
@pytest.mark.db
def test_relevance_on_the_demo_catalog(tmp_path: Path) -> None:
    """The measured share (bench/search_relevance.py prints it with the misses) stays at the target."""
    from dbkit import migrate_fresh
    from zhengwu.kernel.db import make_engine
    from zhengwu.kernel.session import make_session_factory, unit_of_work
    from zhengwu.seed import seed_departments
    from zhengwu.seed.catalog import seed_catalog

    url = f"sqlite:///{tmp_path / 'demo.db'}"
    migrate_fresh(url)
    engine = make_engine(url)
    try:
        factory = make_session_factory(engine)
        with unit_of_work(factory) as session:
            seed_departments(session)
        seed_catalog(factory)
        with factory() as session:
            outcomes = relevance.measure(
                relevance.read_cases(CASES), relevance.portal_top(session, vocabulary.load(), "130000")
            )
    finally:
        engine.dispose()
    assert relevance.share(outcomes) >= 0.9, [o.case.query for o in outcomes if not o.found]
