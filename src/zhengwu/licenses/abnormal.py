"""The abnormal license data queue (证照异常数据): rows refused by the historical import or by the upper
node (``dn_lic_data_error``: the national e-license system answers a refused row with its reason; a
refusal in the upper node's receipt, or in the 前置库's ``dn_lic_data_error``, arrives through the
exchange's refusal hook).

Staff with ``licenses.manage`` over the department list the entries, correct the license data (face
fields, holder) and resubmit — which stores the license (an import row) or queues a new ``up_lic_data``
row (an upper refusal) — or dismiss an entry with a reason. The refused row is kept SM4-encrypted (it
holds holder codes); lists show only its non-personal columns, the detail masks the holder code.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy.orm import Session

from zhengwu.audit.changes import record_change
from zhengwu.identity import context as identity_context
from zhengwu.identity.protection import decrypt_field, encrypt_field
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.config import Settings
from zhengwu.kernel.db import dialect_insert, new_id
from zhengwu.kernel.events import EventBus, publish_on
from zhengwu.kernel.topics import RefusalSettled, RefusedRow, RowError
from zhengwu.licenses import holders, service, topics
from zhengwu.licenses.dataevents import AbnormalHandled
from zhengwu.licenses.datamodels import LicenseAbnormal
from zhengwu.licenses.datarepo import DataRepository
from zhengwu.licenses.errors import LicenseError, LicenseNotFound
from zhengwu.licenses.face import FaceSchema
from zhengwu.licenses.models import License
from zhengwu.licenses.repository import LicenseRepository

OPEN: Final = "open"
RESUBMITTED: Final = "resubmitted"
RESOLVED: Final = "resolved"
DISMISSED: Final = "dismissed"
STATUS_LABELS: Final = {OPEN: "待处理", RESUBMITTED: "已更正重报", RESOLVED: "已解决", DISMISSED: "已忽略"}
SOURCE_LABELS: Final = {"import": "历史证照导入", "upper": "上级系统反馈"}
ROW_PURPOSE: Final = "licenses_abnormal.row"
#: Columns of a refused national row shown in lists (the holder and the holder's code are personal data).
#: Origin prefix of entries made by the exchange's refusal hook; the rest is the refused row's guid.
REFUSED_PREFIX: Final = "refused:"
SUMMARY_COLUMNS: Final = ("certificate_name", "certificate_number", "certificate_type_code", "issue_dept",
                          "issue_date", "certificate_area_code")  # fmt: skip


class AbnormalNotFound(LicenseError):
    """No abnormal data entry with that id (or not one the caller may see)."""

    status_code = 404
    code = "licenses.abnormal_not_found"
    default_detail = "异常数据不存在"


class AbnormalHandledAlready(LicenseError):
    """The entry was already resubmitted, resolved or dismissed."""

    status_code = 409
    code = "licenses.abnormal_state"
    default_detail = "该异常数据已处理"


class AbnormalStillInvalid(LicenseError):
    """The corrected row is still refused (the reason says why)."""

    status_code = 422
    code = "licenses.abnormal_still_invalid"
    default_detail = "更正后的数据仍不符合要求"


class AbnormalHolderFixed(LicenseError):
    """The holder of a license issued here cannot be corrected in place."""

    status_code = 409
    code = "licenses.abnormal_holder"
    default_detail = "已签发证照的持证主体不能更正，请注销后重新签发"


@dataclass(frozen=True, slots=True)
class ImportFailure:
    """One refused import row for the queue."""

    origin: str
    type_code: str
    department_id: str | None  # None: the row named no department of this node
    row: dict[str, Any]
    row_key: str
    identifier: str | None
    reason: str
    error_code: str


def _encrypt(session: Session, row: Mapping[str, Any]) -> bytes:
    keys = identity_context.of(session).keys
    return encrypt_field(keys, json.dumps(row, ensure_ascii=False, default=str), purpose=ROW_PURPOSE)


def decrypted_row(session: Session, entry: LicenseAbnormal) -> dict[str, Any]:
    """The refused row as received (holder codes inside: for the service, never for a list)."""
    keys = identity_context.of(session).keys
    data: dict[str, Any] = json.loads(decrypt_field(keys, entry.row_enc, purpose=ROW_PURPOSE))
    return data


def record_import_failures(session: Session, failures: Sequence[ImportFailure]) -> None:
    """Queue refused import rows (an origin already queued — the same batch line — is kept once)."""
    if not failures:
        return
    now = utcnow()
    session.execute(
        dialect_insert(session, LicenseAbnormal).on_conflict_do_nothing(index_elements=["origin"]),
        [
            {"id": new_id(), "source": "import", "status": OPEN, "error_code": f.error_code[:100],
             "reason": f.reason, "type_code": f.type_code, "identifier": (f.identifier or None) and f.identifier[:128],
             "license_id": None, "department_id": f.department_id, "origin": f.origin[:100], "row_key": f.row_key,
             "row_enc": _encrypt(session, f.row),
             "summary": {"line": f.origin.rsplit(":", 1)[-1], "holder_name": None,
                         "issue_date": f.row.get("values", {}).get("issue_date")},
             "received_at": now}
            for f in failures
        ],
    )  # fmt: skip


def close_reimported(session: Session, row_keys: Sequence[str], *, actor: str) -> int:
    """Resolve open import entries whose row has now been imported (a fixed rejects file re-imported)."""
    if not row_keys:
        return 0
    now = utcnow()
    entries = DataRepository(session).open_by_row_keys(set(row_keys))
    for entry in entries:
        entry.status, entry.handled_at, entry.handled_by = RESOLVED, now, actor[:100]
        entry.note = "更正后重新导入成功"
    return len(entries)


def record_upper_errors(session: Session, rows: Sequence[Any]) -> Mapping[str, RowError]:
    """Table hook of ``dn_lic_data_error``: each refused row from the upper node becomes an entry."""
    repo = LicenseRepository(session)
    now = utcnow()
    for inbound in rows:
        row: dict[str, Any] = dict(inbound.row)
        identifier = str(row.get("certificate_source_id") or "")[:128] or None
        lic = repo.by_identifier(identifier) if identifier else None
        if lic is None and topics.for_lower_node(session, row):
            continue  # a lower node's row: passed on to the node of its area, not this node's to handle
        session.execute(
            dialect_insert(session, LicenseAbnormal).on_conflict_do_nothing(index_elements=["origin"]),
            [{"id": new_id(), "source": "upper", "status": OPEN, "error_code": "lic_data_error",
              "reason": str(row.get("error_remark") or "上级系统未说明原因"),
              "type_code": str(row.get("certificate_type_code") or "")[:64] or None, "identifier": identifier,
              "license_id": lic.id if lic else None, "department_id": lic.department_id if lic else None,
              "origin": f"upper:{inbound.row_guid}"[:100], "row_key": None, "row_enc": _encrypt(session, row),
              "summary": {c: row.get(c) for c in SUMMARY_COLUMNS}, "received_at": now}],
        )  # fmt: skip
    return {}


def record_refusals(session: Session, refused: Sequence[RefusedRow]) -> None:
    """Refusal hook of ``up_lic_data``: a row of ours the upper node refused in its receipt, or through
    the 前置库's ``dn_lic_data_error``, becomes an entry like one pulled from the feed (once per refused
    row: the exchange names it by the row's message id)."""
    repo = LicenseRepository(session)
    now = utcnow()
    for item in refused:
        row: dict[str, Any] = dict(item.row)
        identifier = (item.business_key or str(row.get("certificate_source_id") or ""))[:128] or None
        lic = repo.by_identifier(identifier) if identifier else None
        session.execute(
            dialect_insert(session, LicenseAbnormal).on_conflict_do_nothing(index_elements=["origin"]),
            [{"id": new_id(), "source": "upper", "status": OPEN, "error_code": item.error.code[:100],
              "reason": item.error.reason or "上级系统未说明原因",
              "type_code": str(row.get("certificate_type_code") or "")[:64] or None, "identifier": identifier,
              "license_id": lic.id if lic else None, "department_id": lic.department_id if lic else None,
              "origin": f"{REFUSED_PREFIX}{item.row_guid}"[:100], "row_key": None, "row_enc": _encrypt(session, row),
              "summary": {c: row.get(c) for c in SUMMARY_COLUMNS}, "received_at": now}],
        )  # fmt: skip


def list_entries(
    session: Session,
    *,
    departments: frozenset[str] | None,
    status: str | None = None,
    source: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[Sequence[LicenseAbnormal], int]:
    """A page of entries within the departments the caller reaches (None: every department)."""
    return DataRepository(session).entries(
        departments=departments, status=status, source=source, offset=offset, limit=limit
    )


def get_entry(session: Session, entry_id: str) -> LicenseAbnormal:
    """One entry, or AbnormalNotFound (the caller checks the right over its department)."""
    entry = DataRepository(session).entry(entry_id)
    if entry is None:
        raise AbnormalNotFound()
    return entry


def detail(session: Session, entry: LicenseAbnormal) -> dict[str, Any]:
    """The refused values for staff to correct, holder codes masked."""
    row = decrypted_row(session, entry)
    values = dict(row.get("values") or row)
    for column in ("holder_code", "certificate_holder_code"):
        if values.get(column):
            values[column] = service._masked(str(values[column]))
    return values


def _open(entry: LicenseAbnormal) -> None:
    if entry.status != OPEN:
        raise AbnormalHandledAlready(
            f"该异常数据的状态为“{STATUS_LABELS.get(entry.status, entry.status)}”，不能再处理",
            detail_en=f"entry is {entry.status}",
        )


def _done(
    session: Session,
    entry: LicenseAbnormal,
    status: str,
    *,
    actor: str,
    note: str,
    license_id: str | None,
    bus: EventBus | None,
) -> LicenseAbnormal:
    before = entry.status
    entry.status, entry.handled_at, entry.handled_by = status, utcnow(), actor[:100]
    entry.note, entry.resubmitted_license_id = note[:500], license_id
    session.flush()
    record_change(session, actor=actor, action=f"license_abnormal.{status}", entity="license_abnormal",
                  entity_id=entry.id, department_id=entry.department_id, before={"status": before},
                  after={"status": status, "note": note[:200], "license_id": license_id})  # fmt: skip
    publish_on(
        bus, session, AbnormalHandled(entry_id=entry.id, status=status, license_id=license_id, actor=actor)
    )
    if entry.origin.startswith(REFUSED_PREFIX):
        # The same refusal is in the exchange's feedback list: it closes there in this transaction.
        outcome = "resubmitted" if status == RESUBMITTED else "dismissed"
        publish_on(bus, session, RefusalSettled(table=topics.TABLE, row_guid=entry.origin[len(REFUSED_PREFIX):],
                                                outcome=outcome, actor=actor))  # fmt: skip
    return entry


def settle_resent(session: Session, row_guids: Sequence[str]) -> None:
    """Settled hook of ``up_lic_data``: operators resent refused rows from the exchange's feedback list
    (the current license, rebuilt), so their open entries here are resolved, not left open twice."""
    now = utcnow()
    for entry in DataRepository(session).open_by_origins([f"{REFUSED_PREFIX}{g}"[:100] for g in row_guids]):
        entry.status, entry.handled_at, entry.handled_by = RESOLVED, now, "system"
        entry.note = "已在数据交换的异常反馈中重新上报"
        record_change(session, actor="system", action="license_abnormal.resolved", entity="license_abnormal",
                      entity_id=entry.id, department_id=entry.department_id, before={"status": OPEN},
                      after={"status": RESOLVED})  # fmt: skip


def dismiss(
    session: Session, entry: LicenseAbnormal, *, reason: str, actor: str, bus: EventBus | None = None
) -> LicenseAbnormal:
    """Close an entry without resubmitting (the reason is kept)."""
    _open(entry)
    text = " ".join(reason.split())
    if not text:
        raise LicenseError("请说明忽略的原因", code="licenses.abnormal_reason")
    return _done(session, entry, DISMISSED, actor=actor, note=text, license_id=None, bus=bus)


@dataclass(frozen=True, slots=True)
class Correction:
    """What staff correct before resubmitting: face fields (merged over the refused ones), holder."""

    face: Mapping[str, Any] | None = None
    holder_name: str | None = None
    holder_code: str | None = None
    holder_code_type: str | None = None

    def empty(self) -> bool:
        """True when nothing is corrected."""
        return not self.face and not self.holder_name and not self.holder_code


def resubmit(
    session: Session,
    settings: Settings,
    entry: LicenseAbnormal,
    fix: Correction,
    *,
    actor: str,
    bus: EventBus | None = None,
) -> LicenseAbnormal:
    """Correct and resubmit: an import row is imported again; an upper refusal queues a new row."""
    _open(entry)
    if entry.source == "import":
        license_id = _reimport(session, settings, entry, fix, actor=actor, bus=bus)
    else:
        license_id = _report_again(session, settings, entry, fix, actor=actor, bus=bus)
    return _done(
        session, entry, RESUBMITTED, actor=actor, note="更正后重新提交", license_id=license_id, bus=bus
    )


def _reimport(
    session: Session,
    settings: Settings,
    entry: LicenseAbnormal,
    fix: Correction,
    *,
    actor: str,
    bus: EventBus | None,
) -> str:
    from zhengwu.licenses import importer

    row = decrypted_row(session, entry)
    values: dict[str, str] = {k: str(v) for k, v in (row.get("values") or {}).items()}
    values.pop("file", None)  # the folder of the first run is not at hand; the metadata goes alone
    for name, value in (fix.face or {}).items():
        values[str(name)] = "" if value is None else str(value)
    if fix.holder_name:
        values["holder_name"] = fix.holder_name
    if fix.holder_code:
        values["holder_code"] = fix.holder_code
    if fix.holder_code_type:
        values["holder_code_type"] = fix.holder_code_type
    header = list(values)
    p = importer.plan(session, type_code=str(row["type_code"]), department_id=row.get("department_id") or None,
                      header=header, actor=actor)  # fmt: skip
    outcome = importer.import_rows(session, settings, p, [(1, [values[h] for h in header])], bus=bus,
                                   queue_failures=False)  # fmt: skip
    if outcome.rejects:
        raise AbnormalStillInvalid(f"更正后仍不能导入：{outcome.rejects[0][2]}")
    if outcome.license_ids:
        return outcome.license_ids[0]
    raise AbnormalHandledAlready("这条证照已经导入，不必重新提交", detail_en="already imported")


def _report_again(
    session: Session,
    settings: Settings,
    entry: LicenseAbnormal,
    fix: Correction,
    *,
    actor: str,
    bus: EventBus | None,
) -> str:
    repo = LicenseRepository(session)
    lic = repo.license(entry.license_id) if entry.license_id else None
    if lic is None and entry.identifier:
        lic = repo.by_identifier(entry.identifier)
    if lic is None:
        raise LicenseNotFound("本节点没有这个电子证照，请忽略并说明原因")
    if lic.source == "imported":
        _correct_in_place(session, lic, fix, actor=actor)
        topics.emit_change(session, lic)
        return lic.id
    if fix.holder_name or fix.holder_code:
        raise AbnormalHolderFixed()
    if fix.face:
        renewed = service.renew_license(session, settings, lic.id, reason="更正上级反馈的异常数据",
                                        face={**lic.face, **fix.face}, actor=actor, bus=bus)  # fmt: skip
        return renewed.id
    topics.emit_change(session, lic)
    return lic.id


def _correct_in_place(session: Session, lic: License, fix: Correction, *, actor: str) -> None:
    """An imported license has no sealed file: its metadata may be corrected where it stands."""
    kind = service.get_type(session, lic.type_code)
    before = {"holder_name": lic.holder_name, "face": sorted(lic.face)}
    if fix.face:
        lic.face = FaceSchema.from_json(kind.fields).validate({**lic.face, **fix.face})
    if fix.holder_name:
        name = " ".join(fix.holder_name.split())
        if not 1 <= len(name) <= 200:
            raise LicenseError("持证主体名称应为1至200个字符", code="licenses.holder_name")
        lic.holder_name = name
    if fix.holder_code:
        code_type, code = holders.check_holder(fix.holder_code, kind.holder_code_types, fix.holder_code_type)
        lic.holder_code_type = code_type
        lic.holder_code_enc = encrypt_field(
            identity_context.of(session).keys, code, purpose=topics.HOLDER_PURPOSE
        )
        lic.holder_index = service._holder_index(session, code_type, code)
    if kind.number_field and lic.face.get(kind.number_field):
        lic.number = lic.face[kind.number_field][:128]
    session.flush()
    record_change(session, actor=actor, action="license.correct", entity="license", entity_id=lic.identifier,
                  department_id=lic.department_id, before=before,
                  after={"holder_name": lic.holder_name, "face": sorted(lic.face)})  # fmt: skip


def open_count(session: Session) -> int:
    """How many entries wait for staff (the health probe and the overview)."""
    _, total = DataRepository(session).entries(departments=None, status=OPEN, source=None, offset=0, limit=1)
    return total
