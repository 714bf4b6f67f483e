"""`zhengwu webhooks register|list|replay` on a migrated node database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import update

from clikit import cli_node, invoke


@pytest.fixture
def system(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str]]:
    """(client id, case number): a department system of the item's department, and a submitted case."""
    from catalog_kit import guide, make_basic, make_department
    from zhengwu.cases import service
    from zhengwu.catalog import service as catalog
    from zhengwu.commands.node import load_settings, node_unit
    from zhengwu.identity import service as identity
    from zhengwu.identity.oidc.models import OidcClient
    from zhengwu.seed.synthetic import nth_citizen_id, nth_phone

    for _ in cli_node(tmp_path, monkeypatch):
        with node_unit(load_settings()) as (_node, session):
            dept = make_department(session, "130000", "河北省住房和城乡建设厅", 31)
            session.add(
                OidcClient(client_id="zwapproval", name="审批系统", sector="x", department_id=dept.id)
            )
            session.add(OidcClient(client_id="zwloose", name="无部门系统", sector="x"))
            make_basic(session)
            item = catalog.create_task(session, guide(dept.credit_code), actor="test")
            task_code = catalog.publish_task(session, item.task_code, actor="test").task_code
        assert (
            invoke("webhooks", "register", "zwapproval", "--url", "http://127.0.0.1:9/hooks").exit_code == 0
        )
        with node_unit(load_settings()) as (node, session):
            person = identity.register_natural_person(
                session, name="演示用户", id_number=nth_citizen_id(78), phone=nth_phone(78), password=None
            )
            materials = [
                service.MaterialInput(str(m["row_guid"]), file_sm3=node.files.put(b"scan"))
                for m in catalog.get_public_item(session, task_code)["materials"]
            ]
            done = service.save(
                session, person, task_code=task_code, form={}, materials=materials, submit=True, bus=node.bus
            )
            number = str(done.case.case_no)
        yield "zwapproval", number


def test_register_list_and_replay(system: tuple[str, str]) -> None:
    from zhengwu.cases.webhooks.models import WebhookDelivery
    from zhengwu.commands.node import load_settings, node_unit

    client_id, case_no = system
    again = invoke("webhooks", "register", client_id, "--url", "http://127.0.0.1:9/other", "--json")
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["secret"].startswith("whsec_")
    refused = invoke("webhooks", "register", "zwloose", "--url", "http://127.0.0.1:9/hooks")
    assert refused.exit_code == 1 and "未绑定部门" in refused.output
    unknown = invoke("webhooks", "register", client_id, "--url", "http://127.0.0.1:9/h", "--event", "case.x")
    assert unknown.exit_code == 1 and "未知的事件类型" in unknown.output

    listed = json.loads(invoke("webhooks", "list", "--json").output)
    assert listed["counts"] == {"pending": 1}
    (row,) = listed["deliveries"]
    assert (row["client_id"], row["type"], row["case_no"]) == (client_id, "case.submitted", case_no)
    assert "待投递" in invoke("webhooks", "list").output

    with node_unit(load_settings()) as (_node, session):
        session.execute(update(WebhookDelivery).values(status="dead", attempts=8))
    assert json.loads(invoke("webhooks", "list", "--status", "dead", "--json").output)["counts"] == {
        "dead": 1
    }
    replayed = invoke("webhooks", "replay", "--dead", "--json")
    assert replayed.exit_code == 0 and json.loads(replayed.output) == {"replayed": [row["id"]]}
    assert json.loads(invoke("webhooks", "list", "--json").output)["counts"] == {"pending": 1}
    assert invoke("webhooks", "replay", row["id"]).exit_code == 0

    picky = invoke("webhooks", "register", client_id, "--url", "http://127.0.0.1:9/other",
                   "--event", "case.concluded", "--event", "case.withdrawn", "--json")  # fmt: skip
    assert picky.exit_code == 0 and json.loads(picky.output)["event_types"] == [
        "case.concluded",
        "case.withdrawn",
    ]

    assert invoke("webhooks", "replay").exit_code == 1
    assert invoke("webhooks", "replay", "nope").exit_code == 1
    assert invoke("webhooks", "list", "--status", "lost").exit_code == 1
