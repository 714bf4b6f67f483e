"""The cases' exchange topics as the composition root collects them: five topics, each mapped to its
national table by name, declared once, rebuilt on resend."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from zhengwu import main
from zhengwu.cases import topics
from zhengwu.exchange import national
from zhengwu.kernel.config import Settings
from zhengwu.kernel.topics import TopicDeclaration


def test_four_topics_on_known_national_tables(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'n.db'}", data_dir=tmp_path)
    declared = [d for d in topics.declarations(settings) if isinstance(d, TopicDeclaration)]
    assert [d.name for d in declared] == [
        topics.ACCEPT,
        topics.PROCESS,
        topics.RESULT,
        topics.MATERIAL,
        topics.SPECIAL,
    ]
    registry = main.exchange_topics(settings)
    every = Counter(name for name in registry.names())
    for declaration in declared:
        assert every[declaration.name] == 1
        topic = registry.get(declaration.name)
        assert topic is not None and topic.refresh is declaration.refresh
        assert topic.table == declaration.name.split(".", 1)[1]
        assert national.table(topic.table) is not None, topic.table
