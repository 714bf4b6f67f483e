"""Issuance, status, renewal and verification on a real database, with real seals and time-stamps."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import func, select

from licenses_kit import BUSINESS_FACE, COMPANY, INSURANCE_FACE, PERSON, Issuing
from zhengwu.kernel.codes import parse_license_id
from zhengwu.kernel.events import EventBus, OutboxRecord
from zhengwu.licenses import offline, service, topics
from zhengwu.licenses.errors import FaceDataInvalid, HolderInvalid, LicenseStateConflict, SealUnavailable
from zhengwu.licenses.events import LicenseIssued, LicenseStatusChanged
from zhengwu.licenses.models import License, LicenseSerial, LicenseUsage
from zhengwu.seals import service as seals
from zhengwu.seals.ofd.container import OFDPackage
from zhengwu.seals.verify import Verdict
from zhengwu.seed import government_credit_code

CLI = service.Caller("test", "单元测试")


def _issue(env: Issuing, **overrides: object) -> License:
    args: dict[str, object] = {
        "type_code": env.type_code("营业执照"),
        "department_id": env.department.id,
        "holder_name": "石家庄演示科技有限公司",
        "holder_code": COMPANY,
        "face": dict(BUSINESS_FACE),
        "actor": "test",
    }
    args.update(overrides)
    return service.issue_license(env.session, env.settings, **args)  # type: ignore[arg-type]


def _outbox(env: Issuing) -> list[OutboxRecord]:
    return list(
        env.session.scalars(
            select(OutboxRecord).where(OutboxRecord.topic == topics.TOPIC).order_by(OutboxRecord.seq)
        )
    )


def test_issue_seals_stores_and_queues_a_license(issuing: Issuing) -> None:
    lic = _issue(issuing)
    parts = parse_license_id(lic.identifier)
    assert parts.type_code == issuing.type_code("营业执照") and parts.issuer == issuing.department.credit_code
    assert parts.version == "001" and parts.serial.startswith(str(lic.issued_at.year))
    assert lic.status == "valid" and lic.valid_until is None and lic.trust_level == "A"
    data = service.license_file(issuing.settings, lic)
    report = seals.verify_document(issuing.session, issuing.settings, data)
    assert report.verdict is Verdict.VALID
    assert report.signatures[0].time_source == "timestamp"
    assert OFDPackage.from_bytes(data).read("OFD.xml").find(lic.identifier.encode()) > 0
    [row] = _outbox(issuing)
    assert row.operation == "I" and row.key == lic.identifier
    assert row.payload["certificate_holder_code"] == COMPANY and row.payload["certificate_type"] == "营业执照"
    # Within the stricter reading of the national DDL (docs/national-tables.md; tests are not layer-checked).
    from zhengwu.exchange import national

    spec = national.table("up_lic_data")
    assert spec is not None and national.check_send(spec, row.payload) == []
    meta = service.metadata(lic)
    assert meta["certificate_identifier"] == lic.identifier and meta["holder_code_type"] == "001"
    assert [e.status for e in service.history(issuing.session, lic)] == ["valid"]


def test_serials_follow_each_other_and_validity_comes_from_the_type(issuing: Issuing) -> None:
    kind = issuing.type_code("社会保险参保证明")
    first = _issue(issuing, type_code=kind, holder_code=PERSON, holder_name="演示用户", face=INSURANCE_FACE)
    second = _issue(issuing, type_code=kind, holder_code=PERSON, holder_name="演示用户", face=INSURANCE_FACE)
    a, b = parse_license_id(first.identifier), parse_license_id(second.identifier)
    assert int(b.serial) == int(a.serial) + 1
    assert first.valid_until is not None and (first.valid_until - first.valid_from).days in (364, 365)
    assert first.face["months"] == "120"


def test_bad_input_is_refused_and_burns_no_serial(issuing: Issuing) -> None:
    with pytest.raises(FaceDataInvalid) as caught:
        _issue(issuing, face={**BUSINESS_FACE, "kind": "合作社", "founded": "去年"})
    assert {p["field"] for p in caught.value.extra["fields"]} == {"kind", "founded"}
    with pytest.raises(HolderInvalid):
        _issue(issuing, holder_code=COMPANY[:-1] + ("0" if COMPANY[-1] != "0" else "1"))
    with pytest.raises(HolderInvalid):
        _issue(issuing, holder_code=PERSON)  # a person cannot hold a business licence
    assert issuing.session.scalar(select(func.count()).select_from(LicenseSerial)) == 0
    assert issuing.session.scalar(select(func.count()).select_from(License)) == 0


def test_a_suspended_or_revoked_seal_issues_nothing(issuing: Issuing) -> None:
    seals.suspend_seal(issuing.session, issuing.es_id, reason="核查", actor="test")
    with pytest.raises(SealUnavailable) as caught:
        _issue(issuing)
    assert "挂起或吊销" in caught.value.detail
    seals.revoke_seal(issuing.session, issuing.settings, issuing.es_id, reason="注销", actor="test")
    with pytest.raises(SealUnavailable):
        _issue(issuing)
    assert issuing.session.scalar(select(func.count()).select_from(License)) == 0


def test_a_revoked_seal_certificate_issues_nothing(issuing: Issuing) -> None:
    # The seal and its certificate row are read in one statement; the certificate's status still counts.
    from zhengwu.pki import authority

    seal = seals.get_seal(issuing.session, issuing.es_id)
    authority.revoke_certificate(
        issuing.session, issuing.settings, seals.seal_certificate(issuing.session, seal), actor="test"
    )
    assert seal.status == seals.ACTIVE
    savepoint = issuing.session.begin_nested()
    with pytest.raises(SealUnavailable) as caught:
        _issue(issuing)
    assert "证书已撤销" in caught.value.detail
    savepoint.rollback()
    assert issuing.session.scalar(select(func.count()).select_from(License)) == 0


def test_an_unknown_department_or_one_without_a_seal_issues_nothing(issuing: Issuing) -> None:
    from zhengwu.orgs import service as orgs
    from zhengwu.orgs.errors import DepartmentNotFound
    from zhengwu.orgs.schemas import DepartmentCreate

    with pytest.raises(DepartmentNotFound):
        _issue(issuing, department_id="0" * 32)
    other = orgs.add_department(
        issuing.session,
        DepartmentCreate(
            credit_code=government_credit_code("130000", 91), name="无印章的演示部门", division_code="130000"
        ),
    )
    with pytest.raises(SealUnavailable) as caught:
        _issue(issuing, department_id=other.id)
    assert caught.value.detail_en == "the department has no seal"
    assert issuing.session.scalar(select(func.count()).select_from(License)) == 0


def test_half_done_issuance_rolls_back(issuing: Issuing, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> bytes:
        raise seals.SealStateConflict("印章证书已撤销，不能用印")

    savepoint = issuing.session.begin_nested()
    monkeypatch.setattr(seals, "sign_document", broken)
    with pytest.raises(SealUnavailable):
        _issue(issuing)
    savepoint.rollback()
    assert issuing.session.scalar(select(func.count()).select_from(LicenseSerial)) == 0
    assert issuing.session.scalar(select(func.count()).select_from(License)) == 0


def test_status_changes_and_renewal_keep_history_and_queue_rows(issuing: Issuing) -> None:
    lic = _issue(issuing)
    service.change_status(issuing.session, lic.id, "suspend", reason="核查经营场所", actor="test")
    with pytest.raises(LicenseStateConflict):
        service.change_status(issuing.session, lic.id, "suspend", reason="再次", actor="test")
    service.change_status(issuing.session, lic.id, "resume", reason="核查完毕", actor="test")
    renewed = service.renew_license(
        issuing.session, issuing.settings, lic.id, reason="变更住所", actor="test",
        face={**BUSINESS_FACE, "address": "河北省石家庄市桥西区演示街2号"},
    )  # fmt: skip
    assert lic.status == "superseded" and renewed.supersedes_id == lic.id
    assert parse_license_id(renewed.identifier).version == "002"
    assert parse_license_id(renewed.identifier).serial == lic.serial
    assert [e.status for e in service.history(issuing.session, lic)] == [
        "valid",
        "suspended",
        "valid",
        "superseded",
    ]
    assert [r.operation for r in _outbox(issuing)] == ["I", "D", "U", "D", "I"]
    from zhengwu.audit.changes import list_changes

    logged = list_changes(issuing.session, entity="license")[::-1]
    assert [(c.action, c.entity_id, (c.before or {}).get("status")) for c in logged] == [
        ("license.issue", lic.identifier, None),
        ("license.suspend", lic.identifier, "valid"),
        ("license.resume", lic.identifier, "suspended"),
        ("license.supersede", lic.identifier, "valid"),
        ("license.renew", renewed.identifier, None),
    ]
    assert all(c.department_id == issuing.department.id and c.actor == "test" for c in logged)
    service.change_status(issuing.session, renewed.id, "revoke", reason="吊销", actor="test")
    answer = service.verify_by_identifier(issuing.session, renewed.identifier, COMPANY, caller=CLI)
    assert not answer.valid and answer.status == "revoked"


def test_the_service_publishes_typed_events_on_the_bus_it_is_given(issuing: Issuing) -> None:
    bus, heard = EventBus(), []
    bus.subscribe(LicenseIssued, lambda _session, event: heard.append(event))
    bus.subscribe(LicenseStatusChanged, lambda _session, event: heard.append(event))
    lic = _issue(issuing, bus=bus)
    service.change_status(issuing.session, lic.id, "suspend", reason="核查", actor="staff:1", bus=bus)
    service.change_status(issuing.session, lic.id, "resume", reason="核查完毕", actor="staff:1", bus=bus)
    renewed = service.renew_license(
        issuing.session, issuing.settings, lic.id, reason="换发", actor="t", bus=bus
    )
    assert [(type(e).__name__, e.license_id, e.status, e.reason) for e in heard] == [
        ("LicenseIssued", lic.id, "valid", "签发"),
        ("LicenseStatusChanged", lic.id, "suspended", "核查"),
        ("LicenseStatusChanged", lic.id, "valid", "核查完毕"),
        ("LicenseStatusChanged", lic.id, "superseded", "换发"),
        ("LicenseIssued", renewed.id, "valid", "换发"),
    ]
    assert heard[1].actor == "staff:1" and heard[0].identifier == lic.identifier
    assert all(COMPANY not in repr(e) for e in heard)  # the holder's code stays encrypted
    # A refused change publishes nothing.
    with pytest.raises(LicenseStateConflict):
        service.change_status(issuing.session, renewed.id, "resume", reason="x", actor="t", bus=bus)
    assert len(heard) == 5


def test_verification_by_identifier_file_and_qr(issuing: Issuing) -> None:
    lic = _issue(issuing)
    good = service.verify_by_identifier(issuing.session, lic.identifier, COMPANY.lower(), caller=CLI)
    assert good.valid and good.type_name == "营业执照" and good.issuer_name == issuing.department.name
    assert COMPANY not in str(good.as_json())
    wrong = service.verify_by_identifier(issuing.session, lic.identifier, PERSON, caller=CLI)
    assert not wrong.valid and wrong.status is None and wrong.type_name is None
    data = service.license_file(issuing.settings, lic)
    assert service.verify_file(issuing.session, issuing.settings, data, caller=CLI).valid
    # The 2-D code's payload is in the page as the verification URL's fragment.
    token = _qr_token(issuing, lic)
    cert = service.offline_certificate(issuing.session, issuing.settings)
    check = offline.check_token(token, cert)
    assert (
        check.valid and check.claims["id"] == lic.identifier and check.claims["hn"] == "石" + "*" * 9 + "司"
    )
    assert service.verify_token(issuing.session, issuing.settings, token, caller=CLI).valid
    head, sig = token.split(".")
    forged = offline._b64(offline._unb64(head).replace(b'"vu":""', b'"vu":"2099-01-01"')) + "." + sig
    assert not offline.check_token(forged, cert).valid
    operations = issuing.session.scalars(select(LicenseUsage.operation).order_by(LicenseUsage.at)).all()
    assert sorted(operations) == ["verify_file", "verify_id", "verify_id", "verify_qr"]


def _qr_token(env: Issuing, lic: License) -> str:
    # Re-make the payload the license carries: same claims, same key (SM2 signatures differ each time).
    return offline.make_token(env.session, env.settings, service._offline_claims(lic), at=lic.issued_at)


def test_altered_and_forged_files_are_refused(issuing: Issuing) -> None:
    lic = _issue(issuing)
    data = service.license_file(issuing.settings, lic)
    altered = _rewrite(data, "Doc_0/Pages/Page_0/Content.xml", "有限责任公司", "股份有限公司")
    answer = service.verify_file(issuing.session, issuing.settings, altered, caller=CLI)
    assert not answer.valid and answer.seal_verdict == "INVALID"
    unsigned = _drop_signatures(data)
    answer = service.verify_file(issuing.session, issuing.settings, unsigned, caller=CLI)
    assert not answer.valid and answer.seal_verdict == "INVALID"


def _rewrite(data: bytes, name: str, old: str, new: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            body = src.read(info)
            if info.filename == name:
                assert old.encode() in body
                body = body.replace(old.encode(), new.encode())
            dst.writestr(info, body)
    return out.getvalue()


def _drop_signatures(data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            if "Signs" not in info.filename:
                body = src.read(info)
                if info.filename == "OFD.xml":
                    body = body.replace(b"<ofd:Signatures>", b"<ofd:X>").replace(
                        b"</ofd:Signatures>", b"</ofd:X>"
                    )
                dst.writestr(info, body)
    return out.getvalue()


def test_issuing_types_are_kept_until_a_type_is_added(issuing: Issuing) -> None:
    """Issuance reads its type from a per-process copy under the ``licenses.types`` stamp: the same copy
    while no type is added, outside every session (a session's expiry cannot touch it), and read again
    in the transaction that defines a new type."""
    from zhengwu.kernel.node import NODE_INFO
    from zhengwu.kernel.stamps import cache_of
    from zhengwu.licenses.errors import LicenseTypeNotFound

    code = issuing.type_code("营业执照")
    kind, schema = service.issuing_type(issuing.session, code)
    assert service.issuing_type(issuing.session, f" {code.lower()} ")[0] is kind
    assert kind.id == service.get_type(issuing.session, code).id and kind not in issuing.session
    assert [f.name for f in schema.fields] == [f["name"] for f in kind.fields]
    issuing.session.expire_all()
    assert kind.name == "营业执照"
    cache = cache_of(issuing.session.info[NODE_INFO], service._ISSUING_TYPES)
    assert cache is not None
    computed = cache.computed
    made = service.define_type(issuing.session, service.TypeSpec(
        code=code[:18] + "987", name="测试许可证", definer_name="测试机关", issuing_levels=("province",),
        holder_kind="enterprise", fields=[{"name": "scope", "label": "许可范围"}],
    ))  # fmt: skip
    again, _ = service.issuing_type(issuing.session, code)
    assert again is not kind and again.id == kind.id and cache.computed == computed + 1
    assert service.issuing_type(issuing.session, made.code)[0].name == "测试许可证"
    with pytest.raises(LicenseTypeNotFound):
        service.issuing_type(issuing.session, code[:18] + "986")
    lic = service.issue_license(issuing.session, issuing.settings, type_code=made.code,
                                department_id=issuing.department.id, holder_name="石家庄演示科技有限公司",
                                holder_code=COMPANY, face={"scope": "软件"}, actor="t")  # fmt: skip
    assert lic.type_id == made.id and lic.type_name == "测试许可证"


def test_serials_are_unique_under_concurrent_issuers(tmp_path: Path) -> None:
    """Issuers in threads on one SQLite file: every committed serial once, none skipped, and a rolled
    back issuance gives its serial back (the counter's UPDATE … RETURNING in the issuance's transaction)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from zhengwu.kernel.db import make_engine
    from zhengwu.kernel.session import make_session_factory, unit_of_work
    from zhengwu.licenses.repository import LicenseRepository

    engine = make_engine(f"sqlite:///{(tmp_path / 'serials.db').as_posix()}")
    LicenseSerial.__table__.create(engine)
    factory = make_session_factory(engine)
    taken: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(6)

    def issuer(n: int) -> None:
        start.wait()
        for i in range(15):
            try:
                with unit_of_work(factory) as session:
                    value = LicenseRepository(session).next_serial("T.D.2026")
                    if (n + i) % 5 == 0:
                        raise RuntimeError("half-done issuance")
                with lock:
                    taken.append(value)
            except RuntimeError:
                pass

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(issuer, range(6)))
    assert sorted(taken) == list(range(1, len(taken) + 1)) and len(taken) == 72
    engine.dispose()


def test_a_license_row_missing_a_column_is_refused_before_the_insert(issuing: Issuing) -> None:
    from zhengwu.licenses.repository import LicenseRepository

    with pytest.raises(ValueError, match=r"license row without .*identifier"):
        LicenseRepository(issuing.session).insert_license(License(id="x" * 32))
