"""The licenses' exchange topic as the composition root collects it (ADR 0012): licenses declares the
topic that carries ``up_lic_data`` rows, the exchange the table's code checks and its licence-registry
index, and nobody declares either twice."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from zhengwu import main
from zhengwu.catalog import topics as catalog_topics
from zhengwu.exchange import wiring as exchange_wiring
from zhengwu.kernel.config import Settings
from zhengwu.kernel.topics import CodeCheck, TableHook, TopicDeclaration
from zhengwu.licenses import topics


def _settings(tmp_path: Path) -> Settings:
    return Settings(database_url=f"sqlite:///{tmp_path / 'n.db'}", data_dir=tmp_path)


def test_licenses_declare_their_topics_and_nothing_about_the_table(tmp_path: Path) -> None:
    declared = topics.declarations(_settings(tmp_path))
    # up_lic_data upward; the share of licenses issued for a lower division downward.
    assert [d.name for d in declared if isinstance(d, TopicDeclaration)] == [topics.TOPIC, topics.SHARE_TOPIC]
    assert not [d for d in declared if isinstance(d, CodeCheck | TableHook)]


def test_no_topic_or_table_rule_is_declared_twice(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    everything = [
        *exchange_wiring.declarations(settings),
        *catalog_topics.declarations(settings),
        *topics.declarations(settings),
    ]
    names = Counter(d.name for d in everything if isinstance(d, TopicDeclaration))
    assert [n for n, count in names.items() if count > 1] == []
    checks = Counter((d.table, d.column) for d in everything if isinstance(d, CodeCheck))
    assert [c for c, count in checks.items() if count > 1] == []
    hooks = Counter(d.table for d in everything if isinstance(d, TableHook))
    assert hooks["up_lic_data"] == 1


def test_the_registry_carries_license_rows_through_the_exchange_checks_and_index(tmp_path: Path) -> None:
    registry = main.exchange_topics(_settings(tmp_path))
    assert topics.TOPIC in registry.names()
    topic = registry.get(topics.TOPIC)
    assert topic is not None
    assert topic.table == "up_lic_data" and topic.key_column == topics.KEY_COLUMN
    assert topic.refresh is topics.refresh and topic.label == topics.LABEL
    # The exchange's two national code checks and its registry index, once each.
    assert len(topic.validators) == 2 and len(topic.apply) == 1
    bad = {"certificate_source_id": "not-an-identifier", "issue_dept_code": "123"}
    columns = sorted(e.column or "" for v in topic.validators for e in v(bad))
    assert columns == ["certificate_source_id", "issue_dept_code"]
