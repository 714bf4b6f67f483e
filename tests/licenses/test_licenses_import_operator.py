"""``licenses import`` and ``licenses abnormal …`` check the operator's right per row and per entry (issue
15): an issuer of one department imports that department's rows of a mixed file and gets the others back
as refused, sees only its departments' abnormal entries, and cannot handle another department's entry."""

from __future__ import annotations

import csv
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from clikit import invoke
from operator_kit import CODE, NOW, as_operator, code, enrol, operator_node, staff
from zhengwu.kernel import clock
from zhengwu.kernel.session import unit_of_work
from zhengwu.seed import government_credit_code
from zhengwu.seed.synthetic import enterprise_credit_code

OTHER = government_credit_code("130000", 14)
UNKNOWN = government_credit_code("130000", 15)  # no department of this node


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    yield from operator_node(tmp_path, monkeypatch)


HEADER = ["颁发机构代码", "holder_code", "holder_name", "issue_date", "name", "kind", "legal_rep", "founded",
          "address", "scope"]  # fmt: skip


def _row(n: int, issuer: str, holder: str | None = None) -> list[str]:
    name = f"操作员导入企业{n}有限公司"
    return [issuer, holder or enterprise_credit_code("130100", 8300 + n), name, "2020-01-02", name,
            "有限责任公司", "历史法人", "2020-01-01", "河北省石家庄市", "零售"]  # fmt: skip


def _json(result: Any) -> Any:
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_import_and_queue_follow_the_operators_departments(
    cli: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from zhengwu.seed.licenses import seed_license_types

    for credit, name in ((CODE, "河北省市场监督管理局"), (OTHER, "河北省公安厅")):
        assert invoke("departments", "add", "--credit-code", credit, "--name", name,
                      "--division", "130000").exit_code == 0  # fmt: skip
    assert invoke("pki", "init").exit_code == 0
    with unit_of_work(cli) as session:
        seed_license_types(session)
    assert staff("root", "platform_admin").exit_code == 0
    assert staff("issuer", "license_issuer").exit_code == 0  # in CODE's department only
    root, issuer = enrol("root"), enrol("issuer")
    listed = _json(invoke("licenses", "types", "list", "--json"))
    type_code = next(t["code"] for t in listed if t["name"] == "营业执照")
    source = tmp_path / "mixed.csv"
    with source.open("w", encoding="utf-8-sig", newline="") as out:
        csv.writer(out).writerows(
            [HEADER, _row(1, CODE), _row(2, OTHER), _row(3, CODE, "1234"), _row(4, UNKNOWN)]
        )
    rejects = tmp_path / "rejects.csv"
    # No --department on a node of two departments: each row's own, and only those the issuer reaches.
    done = as_operator(monkeypatch, "issuer", code(issuer, -1), "licenses", "import", str(source),
                       "--type", type_code, "--rejects", str(rejects), "--json")  # fmt: skip
    assert done.exit_code == 3, done.output
    assert (_json(done)["imported"], _json(done)["rejected"]) == (1, 3)
    refused = rejects.read_text(encoding="utf-8-sig")
    assert "第3行：您没有“河北省公安厅”的“签发、换发本部门电子证照”权限" in refused
    assert "第5行：颁发机构代码" in refused and "不是本节点的部门" in refused
    # The queue: the bad holder code in CODE's department, and the row naming no department here (for
    # platform administrators); the reach refusal is the operator's matter, not queued.
    mine = _json(
        as_operator(monkeypatch, "issuer", code(issuer, 0), "licenses", "abnormal", "list", "--json")
    )
    assert mine["total"] == 1 and "持证主体" in mine["items"][0]["reason"], mine
    everything = _json(
        as_operator(monkeypatch, "root", code(root, -1), "licenses", "abnormal", "list", "--json")
    )
    assert everything["total"] == 2
    [foreign] = [i["id"] for i in everything["items"] if i["id"] != mine["items"][0]["id"]]
    # Another department's entry (here: nobody's) is refused to the issuer, as over HTTP.
    handled = as_operator(monkeypatch, "issuer", code(issuer, 1), "licenses", "abnormal", "dismiss", foreign,
                          "--reason", "不是本部门的数据")  # fmt: skip
    assert handled.exit_code == 1 and "该部门" in handled.output
    # Naming another department outright refuses the whole run (codes of the next minute).
    clock.set_clock(lambda: NOW + timedelta(seconds=90))
    other = as_operator(monkeypatch, "issuer", code(issuer, 3), "licenses", "import", str(source),
                        "--type", type_code, "--rejects", str(rejects), "--department", OTHER)  # fmt: skip
    assert other.exit_code == 1 and "该部门" in other.output
    dismissed = as_operator(monkeypatch, "root", code(root, 3), "licenses", "abnormal", "dismiss", foreign,
                            "--reason", "颁发机构不在本节点")  # fmt: skip
    assert dismissed.exit_code == 0, dismissed.output  # entries of no department are the platform's
