"""`zhengwu licenses import` and `zhengwu licenses abnormal …` on a node database: a file with a broken
row exits 3 with a rejects report, the refused row waits in the abnormal queue, staff resubmit it with a
corrected holder code (the license is stored) or dismiss another with a reason."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from zhengwu.seed import government_credit_code
from zhengwu.seed.synthetic import enterprise_credit_code

runner = CliRunner()
HEADER = [
    "holder_code",
    "holder_name",
    "issue_date",
    "name",
    "kind",
    "legal_rep",
    "founded",
    "address",
    "scope",
]


def _cli(env: dict[str, str], *args: str, stdin: str | None = None) -> Any:
    from zhengwu.cli import app

    return runner.invoke(app, list(args), env=env, input=stdin, catch_exceptions=False)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    from dbkit import migrate_fresh
    from zhengwu.kernel.db import make_engine
    from zhengwu.kernel.session import make_session_factory, unit_of_work
    from zhengwu.seed.licenses import seed_license_types

    url = f"sqlite:///{(tmp_path / 'node.db').as_posix()}"
    migrate_fresh(url)
    engine = make_engine(url)
    with unit_of_work(make_session_factory(engine)) as session:
        seed_license_types(session)
    engine.dispose()
    values = {"ZHENGWU_DATABASE_URL": url, "ZHENGWU_DATA_DIR": str(tmp_path), "ZHENGWU_LOG_LEVEL": "WARNING"}
    assert _cli(values, "pki", "init").exit_code == 0
    added = _cli(values, "departments", "add", "--credit-code", government_credit_code("130000", 14),
                 "--name", "河北省市场监督管理局", "--division", "130000")  # fmt: skip
    assert added.exit_code == 0, added.output
    return values


def _line(n: int, holder: str | None = None) -> list[str]:
    name = f"历史企业{n}有限公司"
    return [holder or enterprise_credit_code("130100", 7000 + n), name, "2020-01-02", name, "有限责任公司",
            "历史法人", "2020-01-01", "河北省石家庄市", "零售"]  # fmt: skip


def _json(result: Any) -> Any:
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_import_rejects_then_fix_through_the_queue(env: dict[str, str], tmp_path: Path) -> None:
    listed = _json(_cli(env, "licenses", "types", "list", "--json"))
    code = next(t["code"] for t in listed if t["name"] == "营业执照")
    assert {t["result_kind"] for t in listed} == {"license", "proof", "approval", "appraisal"}
    source = tmp_path / "history.csv"
    with source.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerows([HEADER, _line(1), _line(2, "91130100XXXXXXXX0A"), _line(3, "1234"), _line(4)])
    rejects = tmp_path / "rejects.csv"
    result = _cli(env, "licenses", "import", str(source), "--type", code, "--rejects", str(rejects), "--json")
    assert result.exit_code == 3, result.output
    summary = _json(result)
    assert (summary["imported"], summary["rejected"], summary["identifiers_allocated"]) == (2, 2, 2)
    assert len(rejects.read_text(encoding="utf-8-sig").splitlines()) == 3  # header + the two refused rows
    again = _cli(env, "licenses", "import", str(source), "--type", code, "--rejects", str(rejects), "--json")
    assert _json(again)["duplicates"] == 2 and _json(again)["imported"] == 0
    queue = _json(_cli(env, "licenses", "abnormal", "list", "--json"))
    # The second run refused the same two rows again: one entry per run and line.
    assert queue["total"] == 4 and {i["source"] for i in queue["items"]} == {"import"}
    first = queue["items"][0]
    fixed = _cli(env, "licenses", "abnormal", "resubmit", first["id"], "--holder-code", "-", "--json",
                 stdin=enterprise_credit_code("130100", 7777) + "\n")  # fmt: skip
    assert fixed.exit_code == 0, fixed.output
    assert _json(fixed)["status"] == "resubmitted" and _json(fixed)["license_id"]
    twice = _cli(env, "licenses", "abnormal", "resubmit", first["id"], "--holder-name", "另一名称")
    assert twice.exit_code == 1 and "已更正重报" in twice.output
    # The same row refused by the first run is resolved with it; the other row's two entries stay open.
    others = _json(_cli(env, "licenses", "abnormal", "list", "--json"))["items"]
    assert len(others) == 2
    for item in others:
        done = _cli(env, "licenses", "abnormal", "dismiss", item["id"], "--reason", "重复的历史数据")
        assert done.exit_code == 0, done.output
    assert _json(_cli(env, "licenses", "abnormal", "list", "--json"))["total"] == 0
    every = _json(_cli(env, "licenses", "abnormal", "list", "--status", "all", "--json"))
    assert sorted(i["status"] for i in every["items"]) == [
        "dismissed",
        "dismissed",
        "resolved",
        "resubmitted",
    ]
    assert _cli(env, "licenses", "abnormal", "list").exit_code == 0


def test_push_status_queues_a_downward_row(env: dict[str, str]) -> None:
    from sqlalchemy import select

    from zhengwu.kernel.db import make_engine
    from zhengwu.kernel.events import OutboxRecord
    from zhengwu.kernel.session import make_session_factory, unit_of_work

    ident = "1.2.156.3005.2.11100000MB0009021X001.11130000MB00001355.20260000001.001.X"
    done = _cli(env, "licenses", "push-status", ident, "--status", "revoked", "--reason", "国家系统注销")
    assert done.exit_code == 0, done.output
    assert _cli(env, "licenses", "push-status", ident, "--status", "lost", "--reason", "x").exit_code == 1
    engine = make_engine(env["ZHENGWU_DATABASE_URL"])
    with unit_of_work(make_session_factory(engine)) as session:
        [row] = session.scalars(
            select(OutboxRecord).where(OutboxRecord.topic == "licenses.dn_lic_status")
        ).all()
        assert row.key == ident and row.payload == {"certificate_source_id": ident,
                                                    "certificate_status": "revoked", "reason": "国家系统注销"}  # fmt: skip
    engine.dispose()
