"""TrustStore (several roots with purposes, sub-CAs, CRLs) and CrlCache (freshness, injected fetch)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from asn1crypto import crl as asn1_crl
from asn1crypto import x509

from zhengwu.kernel.crypto import SM2PrivateKey, SM2PublicKey
from zhengwu.kernel.pki import (
    CrlCache,
    PkiError,
    RevokedCertificate,
    TrustStore,
    ValidationStatus,
    ZConvention,
    build_crl,
    clear_signature_cache,
    create_root_ca,
    validate_chain,
    verify_sm2,
)

S = ValidationStatus
AT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def ca_crl(pki, *revoked, this_update=AT - DAY, next_update=AT + 7 * DAY, number=1):
    return build_crl(
        issuer=pki.ca,
        signer=pki.ca_key,
        this_update=this_update,
        next_update=next_update,
        crl_number=number,
        revoked=revoked,
    )


@pytest.fixture
def foreign_root():
    key = SM2PrivateKey.generate()
    return create_root_ca(
        subject={"C": "CN", "O": "外省CA", "CN": "外省电子印章根CA"},
        signer=key,
        not_before=datetime(2025, 1, 1, tzinfo=UTC),
        not_after=datetime(2040, 1, 1, tzinfo=UTC),
    )


def test_purposes_separate_trust(pki, foreign_root):
    store = TrustStore()
    store.add_anchor(pki.root.to_pem(), {"seals"})
    store.add_anchor(foreign_root.der, {"seals", "exchange"})
    store.add_intermediates(pki.ca.to_pem())
    store.add_crl(ca_crl(pki).der)
    assert {a.certificate for a in store.anchors("seals")} == {pki.root, foreign_root}
    assert [a.certificate for a in store.anchors("exchange")] == [foreign_root]
    assert store.validate(pki.seal_signer, purpose="seals", at=AT).ok
    assert store.validate(pki.seal_signer, purpose="exchange", at=AT).status is S.ISSUER_NOT_FOUND
    # Adding a purpose later widens the trust.
    store.add_anchor(pki.root, {"exchange"})
    assert store.anchors("exchange")[0].purposes >= {"exchange"}
    assert store.validate(pki.node, purpose="exchange", at=AT, key_usage=["digital_signature"]).ok
    assert store.remove_anchor(pki.root.fingerprint)
    assert not store.remove_anchor(pki.root.fingerprint)
    assert store.validate(pki.seal_signer, purpose="seals", at=AT).status is S.ISSUER_NOT_FOUND


def test_bundle_of_anchors(pki, foreign_root):
    store = TrustStore()
    anchors = store.add_anchors(pki.root.to_pem() + foreign_root.to_pem(), ["seals"])
    assert [a.certificate for a in anchors] == [pki.root, foreign_root]
    assert all(a.self_signature is ZConvention.DEFAULT_ID for a in anchors)


def test_anchor_checks(pki):
    store = TrustStore()
    with pytest.raises(PkiError, match="purposes"):
        store.add_anchor(pki.root, {"banking"})
    with pytest.raises(PkiError, match="purposes"):
        store.add_anchor(pki.root, set())
    with pytest.raises(PkiError, match="self-signature"):
        store.add_anchor(pki.root.der.replace("根CA".encode(), "假CA".encode()), {"seals"})
    # A sub-CA may be trusted directly (not self-issued: no self-signature to check).
    anchor = store.add_anchor(pki.ca, {"seals"})
    assert anchor.self_signature is None
    with pytest.raises(PkiError, match="purpose"):
        store.validate(pki.seal_signer, purpose="nothing", at=AT)


def test_store_keeps_newest_crl_per_issuer(pki):
    store = TrustStore()
    store.add_anchor(pki.root, {"seals"})
    store.add_intermediates(pki.ca)
    entry = RevokedCertificate(pki.seal_signer.serial_number, AT - DAY)
    newer = ca_crl(pki, entry, number=2)
    older = ca_crl(pki, this_update=AT - 3 * DAY, number=1)
    store.add_crl(newer)
    store.add_crl(older)
    assert store.crls == (newer,)
    assert store.validate(pki.seal_signer, purpose="seals", at=AT).status is S.REVOKED
    # Caller-supplied CRLs are considered together with the stored ones.
    assert store.validate(pki.node, purpose="seals", at=AT, crls=[older]).ok


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class FakeFetch:
    def __init__(self, answers: dict[str, bytes | Exception]) -> None:
        self.answers = answers
        self.calls: list[str] = []

    def __call__(self, url: str) -> bytes:
        self.calls.append(url)
        answer = self.answers[url]
        if isinstance(answer, Exception):
            raise answer
        return answer


URL = "http://ca.example.gov.cn/crl/issuing.crl"


def test_cache_fetches_once_while_fresh(pki):
    clock = FakeClock(AT)
    fetch = FakeFetch({URL: ca_crl(pki, next_update=AT + DAY).der})
    cache = CrlCache(fetch, clock=clock)
    for _ in range(3):
        result = validate_chain(pki.seal_signer, [pki.ca], [pki.root], at=AT, crl_source=cache)
        assert result.ok
    assert fetch.calls == [URL]
    assert cache.get(pki.ca) is not None
    # After nextUpdate the cache refreshes.
    clock.now = AT + 2 * DAY
    assert cache.get(pki.ca) is None
    fetch.answers[URL] = ca_crl(pki, this_update=AT + DAY, next_update=AT + 9 * DAY, number=2).der
    assert cache.crls_for(pki.seal_signer, pki.ca)[0].crl_number == 2
    assert fetch.calls == [URL, URL]


def test_cache_reports_revocation_from_fetched_crl(pki):
    entry = RevokedCertificate(pki.seal_signer.serial_number, AT - DAY)
    cache = CrlCache(FakeFetch({URL: ca_crl(pki, entry).to_pem()}), clock=FakeClock(AT))
    result = validate_chain(pki.seal_signer, [pki.ca], [pki.root], at=AT, crl_source=cache)
    assert result.status is S.REVOKED


def test_cache_failure_returns_stale_copy_and_backs_off(pki):
    clock = FakeClock(AT)
    fetch = FakeFetch({URL: ca_crl(pki, next_update=AT + DAY).der})
    cache = CrlCache(fetch, clock=clock, retry_after=timedelta(minutes=5))
    assert cache.crls_for(pki.seal_signer, pki.ca)
    clock.now = AT + 2 * DAY
    fetch.answers[URL] = OSError("network down")
    stale = cache.crls_for(pki.seal_signer, pki.ca)
    assert len(stale) == 1 and not stale[0].is_current_at(clock.now)
    result = validate_chain(pki.seal_signer, [pki.ca], [pki.root], at=clock.now, crl_source=cache)
    assert result.status is S.CRL_EXPIRED
    calls = len(fetch.calls)
    cache.crls_for(pki.seal_signer, pki.ca)
    assert len(fetch.calls) == calls  # within retry_after: no new attempt
    clock.now += timedelta(minutes=6)
    cache.crls_for(pki.seal_signer, pki.ca)
    assert len(fetch.calls) == calls + 1


def test_cache_refuses_bad_downloads(pki, foreign_root):
    other_key = SM2PrivateKey.generate()
    wrong_issuer = build_crl(
        issuer=create_root_ca(
            subject=pki.ca.subject, signer=other_key, not_before=AT - DAY, not_after=AT + 9 * DAY
        ),
        signer=other_key,
        this_update=AT - DAY,
        next_update=AT + DAY,
        crl_number=1,
    )
    fetch = FakeFetch({URL: b"<html>not a CRL</html>"})
    cache = CrlCache(fetch, clock=FakeClock(AT))
    assert cache.crls_for(pki.seal_signer, pki.ca) == []
    assert (
        validate_chain(pki.seal_signer, [pki.ca], [pki.root], at=AT, crl_source=cache).status
        is S.CRL_NOT_FOUND
    )
    with pytest.raises(PkiError, match="signature"):
        cache.put(wrong_issuer, pki.ca)
    with pytest.raises(PkiError, match="name"):
        cache.put(ca_crl(pki), foreign_root)
    assert cache.put(ca_crl(pki).der, pki.ca).crl_number == 1


def test_cache_without_next_update_uses_max_age(pki):
    # RFC 5280 makes nextUpdate mandatory for issuers, but old CAs omit it: such a CRL promises nothing.
    tbs = asn1_crl.TbsCertList(
        {
            "version": "v2",
            "signature": {"algorithm": "1.2.156.10197.1.501"},
            "issuer": x509.Name.load(pki.ca.subject.der),
            "this_update": x509.Time(name="utc_time", value=AT - DAY),
        }
    )
    der = asn1_crl.CertificateList(
        {
            "tbs_cert_list": tbs,
            "signature_algorithm": {"algorithm": "1.2.156.10197.1.501"},
            "signature": pki.ca_key.sign(tbs.dump()),
        }
    ).dump()
    clock = FakeClock(AT)
    cache = CrlCache(FakeFetch({}), clock=clock, max_age=timedelta(hours=1))
    crl = cache.put(der, pki.ca)
    assert crl.next_update is None and crl.version == 2
    assert cache.get(pki.ca) is crl
    clock.now += timedelta(hours=2)
    assert cache.get(pki.ca) is None


def test_signature_results_are_cached(pki, monkeypatch):
    clear_signature_cache()
    calls = []
    original = SM2PublicKey.verify

    def counting(self, signature, data, *, uid=b"1234567812345678"):
        calls.append(uid)
        return original(self, signature, data, uid=uid)

    monkeypatch.setattr(SM2PublicKey, "verify", counting)
    cert = pki.seal_signer
    for _ in range(5):
        assert verify_sm2(pki.ca.public_key, cert.signature, cert.tbs) is ZConvention.DEFAULT_ID
    assert len(calls) == 1
    # Tolerant mode tries the conventions in order and remembers a miss as well.
    tampered = cert.tbs + b"x"
    for _ in range(3):
        assert verify_sm2(pki.ca.public_key, cert.signature, tampered, list(ZConvention)) is None
    assert len(calls) == 1 + 3
    clear_signature_cache()
