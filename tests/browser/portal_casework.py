"""The clerk's side of the portal's browser journey, run against a node's database with its env.

``item DEPT_CODE LICENSE_TYPE`` publishes an item whose guide asks for a held 社会保险参保证明 and an
uploaded application form; ``act CASE_NO JSON`` takes one staff action through the cases service. Each
prints one JSON line.
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


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    answer = item(*args) if command == "item" else act(*args)
    sys.stdout.write(json.dumps(answer, ensure_ascii=False) + "\n")
