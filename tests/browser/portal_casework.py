"""The clerk's side of the portal's browser journey, run against a node's database with its env.

``item DEPT_CODE LICENSE_TYPE`` publishes an item whose guide asks for a held 社会保险参保证明 and an
uploaded application form; ``act CASE_NO JSON`` takes one staff action through the cases service;
``enterprise DEPT_CODE LICENSE_TYPE ADMIN_ID [AGENT_ID ...]`` registers an enterprise with the first
person as its administrator and the others as its agents, issues it a business license and publishes an
item for 法人 that takes it, with fields of its own. Each prints one JSON line.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

# Run as a script by the browser tests, outside pytest's pythonpath: the kits live in tests/.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from zhengwu.commands.node import node_unit
from zhengwu.commands.seals import settings

ITEM_CODE = "000132009000"
ITEM_NAME = "建筑电工操作资格认定"


def item(dept_code: str, license_type: str) -> dict[str, object]:
    from catalog_kit import guide, make_basic
    from zhengwu.catalog import service as catalog

    with node_unit(settings()) as (_node, session):
        make_basic(session, ITEM_CODE, ITEM_NAME, "01")
        data = guide(
            dept_code, ITEM_CODE, promise_day=5, user_topic_type="就业创业",
            materials=[
                {"material_name": "社会保险参保证明", "source_type": "20", "license_type_code": license_type},
                {"material_name": "申请表", "source_type": "10"},
            ],
        )  # fmt: skip
        made = catalog.publish_task(
            session, catalog.create_task(session, data, actor="test").task_code, actor="test"
        )
        snapshot = catalog.get_public_item(session, made.task_code)
        return {
            "task_code": made.task_code,
            "materials": {m["material_name"]: str(m["row_guid"]) for m in snapshot["materials"]},
        }


def act(case_no: str, body: str) -> dict[str, object]:
    from zhengwu.cases import service

    with node_unit(settings()) as (node, session):
        given = {k: tuple(v) if isinstance(v, list) else v for k, v in json.loads(body).items()}
        case = service.act(session, case_no, service.ActionInput(**given), actor="cli:clerk", bus=node.bus)
        return {"case_no": case.case_no, "status": case.status}


ENTERPRISE_ITEM = ("000132008000", "建筑业企业资质认定")


def enterprise(dept_code: str, license_type: str, admin_id: str, *agent_ids: str) -> dict[str, object]:
    from catalog_kit import guide, make_basic
    from licenses_kit import BUSINESS_FACE, COMPANY
    from zhengwu.cases import service as cases
    from zhengwu.catalog import service as catalog
    from zhengwu.identity import service as identity
    from zhengwu.identity.models import LegalEntity
    from zhengwu.licenses import service as licenses
    from zhengwu.orgs import service as orgs

    with node_unit(settings()) as (node, session):
        found = [identity.find_account_by_citizen_id(session, number) for number in (admin_id, *agent_ids)]
        people = [p for p in found if p is not None]
        assert len(people) == len(found)
        account = identity.register_legal_person(
            session, credit_code=COMPANY, name=str(BUSINESS_FACE["name"]), legal_rep_name="张法人",
            password=None, agent=people[0],
        )  # fmt: skip
        entity = session.get(LegalEntity, account.legal_entity_id)
        assert entity is not None
        for person in people[1:]:
            identity.grant_agent(session, entity=entity, agent=person)
        department = orgs.get_by_credit_code(session, dept_code)
        licenses.issue_license(
            session, node.settings, type_code=license_type, department_id=department.id,
            holder_name=str(BUSINESS_FACE["name"]), holder_code=COMPANY, face=dict(BUSINESS_FACE), actor="test",
        )  # fmt: skip
        make_basic(session, ENTERPRISE_ITEM[0], ENTERPRISE_ITEM[1], "01")
        data = guide(
            dept_code, ENTERPRISE_ITEM[0], promise_day=10, server_type="2",
            materials=[
                {"material_name": "营业执照", "source_type": "20", "license_type_code": license_type},
                {"material_name": "资质申请表", "source_type": "10"},
            ],
        )  # fmt: skip
        made = catalog.publish_task(
            session, catalog.create_task(session, data, actor="test").task_code, actor="test"
        )
        cases.set_item_fields(session, made.task_code, {"fields": [
            {"code": "grade", "label": "申请资质等级", "type": "choice", "required": True,
             "options": ["一级", "二级", "三级"]},
            {"code": "staff_count", "label": "技术人员人数", "type": "number", "required": True, "min": 1},
        ]}, actor="test")  # fmt: skip
        return {"task_code": made.task_code, "entity_id": entity.id}


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "enterprise":
        answer = enterprise(*args)
    else:
        answer = item(*args) if command == "item" else act(*args)
    sys.stdout.write(json.dumps(answer, ensure_ascii=False) + "\n")
