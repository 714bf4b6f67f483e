"""Seal registry and node PKI on the database: init, seals v4, status lifecycle, revocation and time."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from PIL import Image
from sqlalchemy import select

from clockkit import FakeClock
from seals_kit import Node
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.crypto import sm3
from zhengwu.kernel.pki import CertProfile, RevocationReason, load_certificate, load_crl
from zhengwu.pki import authority, tsa
from zhengwu.pki.errors import PkiNotInitialized
from zhengwu.pki.repository import PkiRepository
from zhengwu.seals import service
from zhengwu.seals.errors import SealInvalid, SealNotFound, SealStateConflict
from zhengwu.seals.models import SealUsage
from zhengwu.seals.ofd.signer import sign_ofd
from zhengwu.seals.ofd.writer import DocumentSpec, Paragraph, write_ofd
from zhengwu.seals.ses import CERT_LIST_CERTS, parse_seal
from zhengwu.seals.trust import SealState
from zhengwu.seals.verify import Verdict, check_seal_maker_signature

SEAL_NAME = "河北省市场监督管理局行政审批专用章"


def _doc(text: str = "经审查，决定准予行政许可。") -> bytes:
    return write_ofd(DocumentSpec(title="行政许可决定书", blocks=[Paragraph(text)]))


def _codes(report: service.VerificationReport) -> set[str]:
    return {r.code for s in report.signatures for r in s.reasons}


def _create(node: Node, name: str = SEAL_NAME, **kwargs: object) -> service.Seal:
    return service.create_seal(
        node.session,
        node.settings,
        department_credit_code=node.credit_code,
        name=name,
        actor="test",
        **kwargs,  # type: ignore[arg-type]
    )


def _sign(node: Node, es_id: str, data: bytes | None = None) -> bytes:
    return service.sign_document(
        node.session,
        node.settings,
        es_id,
        data or _doc(),
        placement=service.Placement(keyword="准予"),
        actor="test",
    )


def _verify(node: Node, data: bytes) -> service.VerificationReport:
    return service.verify_document(node.session, node.settings, data)


def test_a_node_without_pki_refuses_to_make_seals(session: object, settings: object) -> None:
    from zhengwu.orgs import service as orgs
    from zhengwu.orgs.schemas import DepartmentCreate
    from zhengwu.seed import government_credit_code

    code = government_credit_code("130000", 778)
    orgs.add_department(
        session,  # type: ignore[arg-type]
        DepartmentCreate(credit_code=code, name="河北省测试厅", division_code="130000"),
    )
    with pytest.raises(PkiNotInitialized):
        service.create_seal(
            session,  # type: ignore[arg-type]
            settings,  # type: ignore[arg-type]
            department_credit_code=code,
            name="河北省测试厅公章",
            actor="test",
        )


def test_create_makes_a_v4_seal_with_its_own_certificate(node: Node) -> None:
    seal = _create(node)
    assert seal.es_id == "13000000000001" and seal.status == "active"
    parsed = parse_seal(seal.der)
    info = parsed.info
    assert parsed.version == 4 and info.header_id == "ES" and info.version == 4 and info.vid == "ZHENGWU"
    assert info.es_id == seal.es_id and info.name == SEAL_NAME and info.seal_type == 1
    assert info.cert_list_type == CERT_LIST_CERTS and len(info.certs) == 1
    assert info.picture_type == "PNG" and info.picture_width == 40
    with Image.open(io.BytesIO(info.picture)) as picture:
        assert picture.format == "PNG" and picture.size == (400, 400)
    assert info.valid_start <= info.create_date < info.valid_end
    assert check_seal_maker_signature(parsed).valid
    maker = authority.authority(node.session, node.settings, CertProfile.SEAL_MAKER)
    assert parsed.maker_cert == maker.certificate.der
    assert maker.signer.public_key.verify(parsed.signed_value, parsed.info_der)  # DER(SES_SealInfo)
    cert = load_certificate(info.certs[0])
    row = service.seal_certificate(node.session, seal)
    assert cert.der == row.der and cert.subject.common_name == SEAL_NAME
    assert cert.subject.get("O") == "河北省市场监督管理局"
    assert cert.has_key_usage("digital_signature") and not cert.is_ca
    second = _create(node, "河北省市场监督管理局合同专用章")
    assert second.es_id == "13000000000002"
    assert service.seal_certificate(node.session, second).der != row.der  # one key per seal


def test_pictures_png_or_svg_only(node: Node) -> None:
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40"><circle r="20"/></svg>'
    seal = _create(node, picture=svg)
    assert seal.picture_type == "SVG" and parse_seal(seal.der).info.picture == svg
    for bad in (b"GIF89a....", b"\x89PNG\r\n\x1a\ngarbage", b"<svg><unclosed>", b"", b"<html/>"):
        with pytest.raises(SealInvalid):
            _create(node, picture=bad)
    with pytest.raises(SealInvalid):
        _create(node, name="x")
    with pytest.raises(SealInvalid):
        _create(node, name="印章<script>")


def test_status_lifecycle_records_reason_actor_and_time(node: Node, clock: FakeClock) -> None:
    seal = _create(node)
    clock.advance(minutes=1)
    service.suspend_seal(node.session, seal.es_id, reason="印章保管人调岗", actor="admin-1")
    with pytest.raises(SealStateConflict):
        service.suspend_seal(node.session, seal.es_id, reason="x", actor="admin-1")
    clock.advance(minutes=1)
    service.resume_seal(node.session, seal.es_id, reason="交接完成", actor="admin-2")
    with pytest.raises(SealStateConflict):
        service.resume_seal(node.session, seal.es_id, reason="x", actor="admin-2")
    clock.advance(minutes=1)
    service.revoke_seal(node.session, node.settings, seal.es_id, reason="机构撤销", actor="admin-3")
    for change in (service.suspend_seal, service.resume_seal):
        with pytest.raises(SealStateConflict):
            change(node.session, seal.es_id, reason="x", actor="a")
    with pytest.raises(SealStateConflict):
        service.revoke_seal(node.session, node.settings, seal.es_id, reason="x", actor="a")
    history = [(e.status, e.reason, e.actor) for e in service.status_history(node.session, seal)]
    assert history == [
        ("active", "印章制作", "test"),
        ("suspended", "印章保管人调岗", "admin-1"),
        ("active", "交接完成", "admin-2"),
        ("revoked", "机构撤销", "admin-3"),
    ]
    lookup = service.RegistryStatusLookup(node.session)
    start = seal.created_at
    assert lookup(seal.es_id, start) is SealState.ACTIVE
    assert lookup(seal.es_id, start + timedelta(seconds=90)) is SealState.SUSPENDED
    assert lookup(seal.es_id, start + timedelta(seconds=150)) is SealState.ACTIVE
    assert lookup(seal.es_id, start + timedelta(minutes=5)) is SealState.REVOKED
    assert lookup("13999999999999", start) is SealState.UNKNOWN
    with pytest.raises(SealNotFound):
        service.get_seal(node.session, "13999999999999")


def test_revoking_a_seal_revokes_its_certificate_in_the_crl(node: Node, clock: FakeClock) -> None:
    seal = _create(node)
    cert_row = service.seal_certificate(node.session, seal)
    before = authority.current_crl(node.session, node.settings, "issuing")
    assert load_crl(before.der).lookup(int(cert_row.serial, 16)) is None
    clock.advance(seconds=30)
    service.revoke_seal(node.session, node.settings, seal.es_id, reason="印章遗失", actor="admin")
    after = authority.current_crl(node.session, node.settings, "issuing")
    assert after.number == before.number + 1
    crl = load_crl(after.der)
    entry = crl.lookup(int(cert_row.serial, 16))
    assert entry is not None and entry.revoked_at == clock.now
    assert entry.reason is RevocationReason.CESSATION_OF_OPERATION
    assert crl.next_update is not None and crl.next_update > clock.now
    assert cert_row.status == "revoked" and cert_row.revoked_by == "admin"


def test_signed_documents_verify_and_the_use_is_recorded(node: Node) -> None:
    seal = _create(node)
    data = _doc()
    signed = _sign(node, seal.es_id, data)
    report = _verify(node, signed)
    assert report.verdict is Verdict.VALID, report.as_json()
    sig = report.signatures[0]
    assert sig.es_id == seal.es_id and sig.seal_name == SEAL_NAME and sig.time_source == "timestamp"
    usage = node.session.scalars(select(SealUsage)).one()
    assert usage.document_sm3 == sm3(data).hex() and usage.signed_sm3 == sm3(signed).hex()
    # A second seal on the same document keeps the first one valid.
    other = _create(node, "河北省市场监督管理局合同专用章")
    twice = _sign(node, other.es_id, signed)
    both = _verify(node, twice)
    assert both.verdict is Verdict.VALID and [s.verdict for s in both.signatures] == [Verdict.VALID] * 2


def test_suspended_or_revoked_seals_cannot_sign(node: Node) -> None:
    seal = _create(node)
    service.suspend_seal(node.session, seal.es_id, reason="核查", actor="admin")
    with pytest.raises(SealStateConflict):
        _sign(node, seal.es_id)
    service.resume_seal(node.session, seal.es_id, reason="核查完毕", actor="admin")
    _sign(node, seal.es_id)
    service.revoke_seal(node.session, node.settings, seal.es_id, reason="撤销", actor="admin")
    with pytest.raises(SealStateConflict):
        _sign(node, seal.es_id)


def _forge_after(node: Node, seal: service.Seal, data: bytes, *, timestamped: bool = True) -> bytes:
    """Sign with the seal's key directly (a stolen key, rogue software): the registry is bypassed."""
    cert_row = service.seal_certificate(node.session, seal)
    key = PkiRepository(node.session).key(cert_row.key_id or "")
    assert key is not None
    signer = authority.signer_for_key(node.settings, key)
    return sign_ofd(
        data,
        seal=seal.der,
        signer=signer,
        cert_der=cert_row.der,
        keyword="准予",
        timestamp_provider=(lambda v: tsa.timestamp_token(node.session, node.settings, v))
        if timestamped
        else None,
        signed_at=utcnow(),
    )


def test_revoking_the_seal_keeps_earlier_signatures_and_fails_later_ones(
    node: Node, clock: FakeClock
) -> None:
    seal = _create(node)
    clock.advance(seconds=10)
    before = _sign(node, seal.es_id)
    clock.advance(seconds=10)
    service.revoke_seal(node.session, node.settings, seal.es_id, reason="机构合并", actor="admin")
    clock.advance(seconds=10)
    earlier = _verify(node, before)
    assert earlier.verdict is Verdict.VALID, earlier.as_json()  # time-stamped before the revocation
    after = _forge_after(node, seal, _doc())
    late = _verify(node, after)
    assert late.verdict is Verdict.INVALID
    assert {"seal_revoked", "signer_cert_revoked"} <= _codes(late)
    # Without a trusted time the claimed time proves nothing once the seal is revoked.
    untimed = _forge_after(node, seal, _doc(), timestamped=False)
    assert _verify(node, untimed).verdict is Verdict.INVALID


def test_revoking_only_the_certificate_via_crl(node: Node, clock: FakeClock) -> None:
    seal = _create(node)
    clock.advance(seconds=10)
    before = _sign(node, seal.es_id)
    clock.advance(seconds=10)
    cert_row = service.seal_certificate(node.session, seal)
    authority.revoke_certificate(
        node.session, node.settings, cert_row, reason=RevocationReason.KEY_COMPROMISE, actor="ca-admin"
    )
    assert seal.status == "active"  # the registry entry itself is untouched
    with pytest.raises(SealStateConflict):
        _sign(node, seal.es_id)  # the node refuses to sign with a revoked certificate
    clock.advance(seconds=10)
    assert _verify(node, before).verdict is Verdict.VALID
    late = _verify(node, _forge_after(node, seal, _doc()))
    assert late.verdict is Verdict.INVALID and "signer_cert_revoked" in _codes(late)
    assert "seal_revoked" not in _codes(late)


def test_signatures_made_while_suspended_stay_invalid(node: Node, clock: FakeClock) -> None:
    seal = _create(node)
    clock.advance(seconds=5)
    service.suspend_seal(node.session, seal.es_id, reason="核查", actor="admin")
    clock.advance(seconds=5)
    during = _forge_after(node, seal, _doc())
    clock.advance(seconds=5)
    service.resume_seal(node.session, seal.es_id, reason="核查完毕", actor="admin")
    clock.advance(seconds=5)
    report = _verify(node, during)
    assert report.verdict is Verdict.INVALID and "seal_suspended" in _codes(report)
    assert _verify(node, _sign(node, seal.es_id)).verdict is Verdict.VALID


def test_a_foreign_seal_reusing_a_registered_esid_is_flagged(node: Node) -> None:
    from seals_kit import make_kit

    seal = _create(node)
    kit = make_kit("冒用印章单位")
    from zhengwu.seals.ses import SealSpec, make_seal

    fake = make_seal(
        SealSpec(
            es_id=seal.es_id,
            name=SEAL_NAME,
            seal_type=1,
            certs=[kit.signer_cert],
            valid_start=seal.valid_start - timedelta(days=1),
            valid_end=seal.valid_end,
            picture=parse_seal(seal.der).info.picture,
        ),
        maker=kit.maker,
        maker_cert=kit.maker_cert,
    )
    signed = sign_ofd(_doc(), seal=fake, signer=kit.signer, cert_der=kit.signer_cert, keyword="准予")
    report = _verify(node, signed)
    assert report.verdict is Verdict.INVALID and "seal_mismatch" in _codes(report)


def test_verification_with_extra_trust_and_foreign_documents(node: Node) -> None:
    from seals_kit import make_kit

    kit = make_kit("外省测试局")
    signed = sign_ofd(_doc(), seal=kit.seal, signer=kit.signer, cert_der=kit.signer_cert, keyword="准予")
    unknown = _verify(node, signed)
    assert unknown.verdict is Verdict.INDETERMINATE and "seal_not_registered" in _codes(unknown)
    trusted = service.verify_document(node.session, node.settings, signed, extra_anchors=[kit.root.to_pem()])
    # Trusted now, but the foreign root publishes no CRL here: revocation status stays unknown.
    assert "signer_chain_untrusted" not in _codes(trusted)
    assert "signer_revocation_unknown" in _codes(trusted)
