"""Trust anchors of other PKIs in the database, their CRLs from files or URLs, and the fetching CRL cache."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from seals_kit import NOW, Node, SealKit, make_kit
from zhengwu.kernel.pki import PkiError, RevokedCertificate, build_crl, load_certificate
from zhengwu.pki import authority
from zhengwu.pki.errors import TrustAnchorInvalid, TrustAnchorNotFound
from zhengwu.seals import service
from zhengwu.seals.ofd.signer import sign_ofd
from zhengwu.seals.ofd.writer import DocumentSpec, Paragraph, write_ofd
from zhengwu.seals.verify import Verdict


@pytest.fixture
def fetched() -> Iterator[dict[str, bytes | Exception]]:
    """Answers of a fake CRL download (by URL); the process-wide CRL cache is reset around the test."""
    answers: dict[str, bytes | Exception] = {}
    calls: list[str] = []

    def fetch(url: str) -> bytes:
        calls.append(url)
        answer = answers.get(url, PkiError("no route", "无法访问"))
        if isinstance(answer, Exception):
            raise answer
        return answer

    authority.reset_crl_cache(fetch)
    answers["__calls__"] = calls  # type: ignore[assignment]
    yield answers
    authority.reset_crl_cache()


def _crl(kit: SealKit, revoked: list[RevokedCertificate] = (), number: int = 1) -> bytes:  # type: ignore[assignment]
    return build_crl(
        issuer=kit.root,
        signer=kit.root_signer,
        this_update=NOW - timedelta(hours=1),
        next_update=NOW + timedelta(days=7),
        crl_number=number,
        revoked=revoked,
    ).der


def _signed(kit: SealKit) -> bytes:
    doc = write_ofd(DocumentSpec(title="外省文件", blocks=[Paragraph("准予办理。")]))
    return sign_ofd(doc, seal=kit.seal, signer=kit.signer, cert_der=kit.signer_cert, keyword="准予")


def _codes(report: service.VerificationReport) -> set[str]:
    return {r.code for s in report.signatures for r in s.reasons}


def test_add_list_merge_and_remove_anchors(node: Node) -> None:
    kit = make_kit("外省测试根")
    [row] = authority.add_trust_anchors(node.session, kit.root.to_pem(), purposes=["seals"], actor="admin")
    assert row.fingerprint == kit.root.fingerprint and row.purposes == ["seals"] and row.crl_der is None
    authority.add_trust_anchors(
        node.session,
        kit.root.der,
        purposes=["exchange"],
        actor="admin",
        crl=_crl(kit),
        crl_url="http://ca.example/r.crl",
    )
    [merged] = authority.list_trust_anchors(node.session)
    assert merged.purposes == ["exchange", "seals"] and merged.crl_der is not None
    assert merged.crl_url == "http://ca.example/r.crl"
    with pytest.raises(TrustAnchorNotFound):
        authority.remove_or_find(node.session, merged.fingerprint[:4], remove=True)
    authority.remove_or_find(node.session, merged.fingerprint[:12], remove=True)
    assert authority.list_trust_anchors(node.session) == []


def test_unusable_anchors_and_crls_are_refused(node: Node) -> None:
    kit, other = make_kit("甲"), make_kit("乙")
    cases = [
        dict(data=kit.root.der, purposes=["everything"]),
        dict(data=kit.root.der, purposes=[]),
        dict(data=kit.signer_cert, purposes=["seals"]),  # not a CA
        dict(data=b"not a certificate", purposes=["seals"]),
        dict(data=kit.root.der, purposes=["seals"], crl=_crl(other)),  # another CA's CRL
        dict(data=kit.root.der, purposes=["seals"], crl=b"garbage"),
        dict(data=kit.root.der, purposes=["seals"], crl_url="file:///etc/passwd"),
        dict(data=kit.root.to_pem() + other.root.to_pem(), purposes=["seals"], crl=_crl(kit)),
    ]
    for case in cases:
        with pytest.raises(TrustAnchorInvalid):
            authority.add_trust_anchors(node.session, actor="admin", **case)  # type: ignore[arg-type]
    bundle = authority.add_trust_anchors(
        node.session, kit.root.to_pem() + other.root.to_pem(), purposes=["seals"], actor="admin"
    )
    assert len(bundle) == 2


def test_documents_of_a_trusted_foreign_pki_verify_with_its_crl_file(node: Node) -> None:
    kit = make_kit("外省市场监督管理局")
    signed = _signed(kit)
    assert service.verify_document(node.session, node.settings, signed).verdict is Verdict.INDETERMINATE
    authority.add_trust_anchors(node.session, kit.root.der, purposes=["seals"], actor="admin", crl=_crl(kit))
    report = service.verify_document(node.session, node.settings, signed)
    assert report.verdict is Verdict.VALID, report.as_json()
    assert "seal_not_registered" in _codes(report)  # informational: a foreign seal
    serial = load_certificate(kit.signer_cert).serial_number
    revoked = _crl(kit, [RevokedCertificate(serial, NOW - timedelta(days=2))], number=2)
    authority.update_anchor_crl(node.session, kit.root.fingerprint, revoked)
    again = service.verify_document(node.session, node.settings, signed)
    assert again.verdict is Verdict.INVALID and "signer_cert_revoked" in _codes(again)


def test_crl_urls_are_fetched_once_and_cached(node: Node, fetched: dict[str, bytes | Exception]) -> None:
    kit = make_kit("外省行政审批局")
    signed = _signed(kit)
    url = "http://ca.example.org/root.crl"
    authority.add_trust_anchors(node.session, kit.root.der, purposes=["seals"], actor="admin", crl_url=url)
    unknown = service.verify_document(node.session, node.settings, signed)
    assert unknown.verdict is Verdict.INDETERMINATE and "signer_revocation_unknown" in _codes(unknown)
    calls: list[str] = fetched["__calls__"]  # type: ignore[assignment]
    assert calls and set(calls) == {url}
    authority.reset_crl_cache(lambda u: (calls.append(u), _crl(kit))[1])  # the CA is reachable again
    assert service.verify_document(node.session, node.settings, signed).verdict is Verdict.VALID
    count = len(calls)
    assert service.verify_document(node.session, node.settings, signed).verdict is Verdict.VALID
    assert len(calls) == count  # served from the cache until nextUpdate
    # A download that does not verify under the anchor is never cached.
    authority.reset_crl_cache(lambda u: _crl(make_kit("冒充的 CA")))
    assert "signer_revocation_unknown" in _codes(service.verify_document(node.session, node.settings, signed))


def _transport(
    status: int = 200, body: bytes = b"", headers: dict[str, str] | None = None
) -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(status, content=body, headers=headers or {}))


def test_crl_downloads_have_caps() -> None:
    assert authority.fetch_crl("http://x/c.crl", transport=_transport(body=b"crl-bytes")) == b"crl-bytes"
    with pytest.raises(PkiError):
        authority.fetch_crl("http://x/c.crl", transport=_transport(404))
    with pytest.raises(PkiError):
        authority.fetch_crl("http://x/c.crl", max_bytes=10, transport=_transport(body=b"x" * 11))
    with pytest.raises(PkiError):
        authority.fetch_crl(
            "http://x/c.crl", max_bytes=10, transport=_transport(body=b"x", headers={"content-length": "99"})
        )
    with pytest.raises(PkiError):
        authority.fetch_crl("ftp://x/c.crl")
    redirect = _transport(302, headers={"location": "file:///etc/passwd"})
    with pytest.raises(PkiError):
        authority.fetch_crl("http://x/c.crl", transport=redirect)
