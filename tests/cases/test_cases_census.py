"""What each capability counts for the connection progress report (应上尽上): published items, decided
cases, valid licenses and natural persons, per the department code their national rows carry."""

from __future__ import annotations

from datetime import UTC, datetime

from cases_kit import Casework
from zhengwu.cases import service
from zhengwu.cases.topics import decided_cases
from zhengwu.catalog.topics import published_items
from zhengwu.identity.upward import natural_persons
from zhengwu.licenses import service as licenses
from zhengwu.licenses.topics import valid_licenses


def test_each_capability_counts_what_goes_upward(casework: Casework) -> None:
    work = casework
    session, code = work.session, work.env.department.credit_code
    assert published_items(session).get(code) == 1
    (issued,) = valid_licenses(session).items()
    assert issued[1] == 1
    assert natural_persons(session) == {"": 1}
    # A submitted case has no up_pro_accept row yet: counted once it is decided.
    case = service.save(
        session, work.citizen, task_code=work.task_code, form={},
        materials=[service.MaterialInput(work.license_material, license_id=work.held_license_id),
                   service.MaterialInput(work.upload_material, file_sm3=work.upload(b"form"))],
        submit=True, at=datetime(2026, 2, 11, 2, tzinfo=UTC),
    ).case  # fmt: skip
    assert decided_cases(session).get(code, 0) == 0
    service.act(session, case.case_no, service.ActionInput("accept"), actor="t")
    assert decided_cases(session) == {code: 1}
    # A license that stops being valid went up as a delete: no longer counted.
    licenses.change_status(session, work.held_license_id, "revoke", reason="测试", actor="t")
    session.flush()
    assert valid_licenses(session).get(issued[0], 0) == 0
