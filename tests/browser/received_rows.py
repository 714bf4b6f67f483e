"""The set-up of the 下级上报的电子证照 browser journey, run against a node's database with its env.

``admin LOGIN SECRET`` makes a platform administrator (who holds ``exchange.operate``) with the password
``PASSWORD`` and a TOTP authenticator on ``SECRET``; ``row SENDER SERIAL`` stores a license row as if the
lower node ``SENDER`` had reported it (what the exchange keeps after applying an ``up_lic_data`` row).
Each prints one JSON line.
"""

from __future__ import annotations

import json
import secrets
import sys

from zhengwu.commands.node import node_unit
from zhengwu.commands.seals import settings

PASSWORD = "Operator-Passw0rd-2026!"


def admin(login: str, secret: str) -> dict[str, object]:
    from zhengwu.identity import service as identity
    from zhengwu.identity.context import of
    from zhengwu.identity.protection import encrypt_field
    from zhengwu.kernel.clock import utcnow
    from zhengwu.orgs import service as orgs

    with node_unit(settings()) as (_node, session):
        departments, _ = orgs.list_departments(session, limit=1)
        account = identity.register_staff(session, name="数据交换管理员", login_name=login, password=PASSWORD,
                                          department_id=departments[0].id, roles=["platform_admin"])  # fmt: skip
        account.totp_secret_enc = encrypt_field(of(session).keys, secret, purpose=identity.PURPOSE_TOTP)
        account.totp_enabled_at = utcnow()
        account.recovery_code_hashes = []
        return {"login": login}


def row(sender: str, serial: str) -> dict[str, object]:
    from zhengwu.exchange.models import ExchangeAggregate

    identifier = f"1.2.156.3005.2.11100000MB0009021X001.11130100MB0007771Q.{serial}.001.C"
    payload = {"certificate_source_id": identifier, "certificate_name": "营业执照", "certificate_number": serial,
               "certificate_type_code": "11100000MB0009021X001", "certificate_holder": "石家庄演示科技有限公司",
               "certificate_holder_code": "91130100MA0000000X", "certificate_holder_type": "001",
               "issue_dept": "石家庄市行政审批局", "issue_dept_code": "11130100MB0007771Q", "issue_date": "20261205",
               "certificate_area_code": "130100"}  # fmt: skip
    with node_unit(settings()) as (_node, session):
        found = ExchangeAggregate(sender=sender, origin=sender, division_code="130100", table_name="up_lic_data",
                                  business_key=identifier, row_guid=secrets.token_hex(16), cd_operation="I",
                                  source_order=int(serial[-4:]), payload=payload)  # fmt: skip
        session.add(found)
        session.flush()
        return {"id": found.id, "identifier": identifier}


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    answer = admin(*args) if command == "admin" else row(*args)
    sys.stdout.write(json.dumps(answer, ensure_ascii=False) + "\n")
