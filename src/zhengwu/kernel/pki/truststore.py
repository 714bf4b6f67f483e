"""An in-memory trust store (several CA roots with purposes, intermediates, CRLs) and a small CRL cache."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.pki import oids
from zhengwu.kernel.pki.certificates import Certificate, as_certificate, load_certificates
from zhengwu.kernel.pki.crl import Crl, as_crl, load_crl
from zhengwu.kernel.pki.errors import PkiError
from zhengwu.kernel.pki.signatures import STRICT_CONVENTIONS, TOLERANT_CONVENTIONS, ZConvention, verify_sm2
from zhengwu.kernel.pki.validation import CrlSource, RevocationMode, ValidationResult, validate_chain

#: What an anchor may be trusted for: e-seals and signed documents, node-to-node exchange, time-stamps,
#: and the personal / enterprise certificates people log in with (数字证书登录).
PURPOSES: Final = frozenset({"seals", "exchange", "timestamping", "login"})


@dataclass(frozen=True, slots=True)
class TrustAnchor:
    """A trusted CA certificate, what it is trusted for, and the Z convention of its self-signature."""

    certificate: Certificate
    purposes: frozenset[str]
    self_signature: ZConvention | None  # None when the anchor is not self-issued (a trusted sub-CA)


def _check_purposes(purposes: Iterable[str]) -> frozenset[str]:
    result = frozenset(purposes)
    if not result or not result <= PURPOSES:
        raise PkiError(
            f"purposes must be a non-empty subset of {sorted(PURPOSES)}, got {sorted(result)}",
            "信任用途无效",
        )
    return result


def _crl_key(crl: Crl) -> tuple[str, bytes | None]:
    return crl.issuer.key, crl.authority_key_id


class TrustStore:
    """Trust anchors per purpose (e.g. several external CA roots for seals), known sub-CAs and CRLs."""

    def __init__(self) -> None:
        self._anchors: dict[bytes, TrustAnchor] = {}
        self._intermediates: dict[bytes, Certificate] = {}
        self._crls: dict[tuple[str, bytes | None], Crl] = {}
        self._lock = threading.Lock()

    def add_anchor(self, data: Certificate | bytes, purposes: Iterable[str]) -> TrustAnchor:
        """Trust one CA certificate (DER/PEM) for the given purposes; a self-signature must verify."""
        cert = as_certificate(data)
        wanted = _check_purposes(purposes)
        if not cert.is_sm2:
            raise PkiError("trust anchors must carry SM2 keys", "信任锚必须是 SM2 证书")
        self_signature: ZConvention | None = None
        if cert.is_self_issued and (
            cert.subject_key_id is None or cert.authority_key_id in (None, cert.subject_key_id)
        ):
            # Accept any of the three Z conventions here: the anchor is trusted by configuration, and the
            # convention found is recorded so operators see which one a foreign CA uses.
            if cert.signature_algorithm != oids.SM2_SM3:
                raise PkiError("unsupported trust anchor signature algorithm", "信任锚签名算法不受支持")
            self_signature = verify_sm2(cert.public_key, cert.signature, cert.tbs, TOLERANT_CONVENTIONS)
            if self_signature is None:
                raise PkiError("trust anchor self-signature does not verify", "信任锚自签名验证失败")
        with self._lock:
            existing = self._anchors.get(cert.der)
            anchor = TrustAnchor(
                cert, wanted | (existing.purposes if existing else frozenset()), self_signature
            )
            self._anchors[cert.der] = anchor
        return anchor

    def add_anchors(self, data: bytes, purposes: Iterable[str]) -> list[TrustAnchor]:
        """Trust every certificate of a PEM bundle for the given purposes."""
        wanted = _check_purposes(purposes)
        return [self.add_anchor(cert, wanted) for cert in load_certificates(data)]

    def remove_anchor(self, fingerprint: str) -> bool:
        """Stop trusting the anchor with this SM3 fingerprint; True if one was removed."""
        with self._lock:
            for der, anchor in list(self._anchors.items()):
                if anchor.certificate.fingerprint == fingerprint.lower():
                    del self._anchors[der]
                    return True
        return False

    def add_intermediates(self, data: Certificate | bytes) -> list[Certificate]:
        """Remember sub-CA certificates (one, or a PEM bundle) for path building; they are not trusted."""
        certs = [data] if isinstance(data, Certificate) else load_certificates(data)
        with self._lock:
            for cert in certs:
                self._intermediates[cert.der] = cert
        return certs

    def add_crl(self, data: Crl | bytes) -> Crl:
        """Keep a CRL (the newest per issuer and key id); it is checked when used, not here."""
        crl = as_crl(data)
        key = _crl_key(crl)
        with self._lock:
            current = self._crls.get(key)
            if current is None or (crl.this_update, crl.crl_number or -1) > (
                current.this_update,
                current.crl_number or -1,
            ):
                self._crls[key] = crl
        return crl

    def anchors(self, purpose: str | None = None) -> tuple[TrustAnchor, ...]:
        """Trust anchors, optionally only those trusted for ``purpose``."""
        with self._lock:
            return tuple(a for a in self._anchors.values() if purpose is None or purpose in a.purposes)

    @property
    def intermediates(self) -> tuple[Certificate, ...]:
        """Known sub-CA certificates."""
        with self._lock:
            return tuple(self._intermediates.values())

    @property
    def crls(self) -> tuple[Crl, ...]:
        """The CRLs kept."""
        with self._lock:
            return tuple(self._crls.values())

    def validate(
        self,
        leaf: Certificate | bytes,
        intermediates: Iterable[Certificate | bytes] = (),
        *,
        purpose: str,
        at: datetime,
        check_revocation: RevocationMode = "leaf",
        conventions: Sequence[ZConvention] = STRICT_CONVENTIONS,
        key_usage: Iterable[str] = (),
        extended_key_usage: str | None = None,
        crls: Iterable[Crl | bytes] = (),
        crl_source: CrlSource | None = None,
        tolerate_anchor_key_usage: bool = False,
    ) -> ValidationResult:
        """Validate ``leaf`` against the anchors trusted for ``purpose``, with the stored sub-CAs and CRLs."""
        _check_purposes([purpose])
        return validate_chain(
            leaf,
            [*intermediates, *self.intermediates],
            [anchor.certificate for anchor in self.anchors(purpose)],
            at=at,
            crls=[*crls, *self.crls],
            check_revocation=check_revocation,
            conventions=conventions,
            key_usage=key_usage,
            extended_key_usage=extended_key_usage,
            crl_source=crl_source,
            tolerate_anchor_key_usage=tolerate_anchor_key_usage,
        )


@dataclass(slots=True)
class _Cached:
    crl: Crl
    fetched_at: datetime


class CrlCache:
    """CRLs per issuer, refreshed through an injected ``fetch(url) -> bytes`` once nextUpdate has passed.

    Fetched CRLs are cached only after their signature verifies with the issuer's key, so a bad download
    cannot poison the cache. ``fetch`` should itself cap the download size (``load_crl`` refuses > 10 MiB).
    """

    def __init__(
        self,
        fetch: Callable[[str], bytes],
        *,
        clock: Callable[[], datetime] = utcnow,
        conventions: Sequence[ZConvention] = STRICT_CONVENTIONS,
        max_age: timedelta = timedelta(hours=24),
        retry_after: timedelta = timedelta(minutes=5),
        max_issuers: int = 1024,
    ) -> None:
        self._fetch = fetch
        self._clock = clock
        self._conventions = tuple(conventions)
        self._max_age = max_age
        self._retry_after = retry_after
        self._max_issuers = max_issuers
        self._entries: dict[tuple[str, bytes], _Cached] = {}
        self._failures: dict[str, datetime] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(issuer: Certificate) -> tuple[str, bytes]:
        return issuer.subject.key, issuer.public_key_point or issuer.der

    def _fresh(self, cached: _Cached, now: datetime) -> bool:
        if cached.crl.next_update is not None:
            return now <= cached.crl.next_update
        # A CRL without nextUpdate gives no freshness promise: re-fetch after max_age.
        return now <= cached.fetched_at + self._max_age

    def put(self, data: Crl | bytes, issuer: Certificate) -> Crl:
        """Cache a CRL of ``issuer`` after checking name and signature (PkiError otherwise)."""
        crl = as_crl(data)
        if crl.issuer != issuer.subject:
            raise PkiError(
                "CRL issuer name does not match the issuer certificate", "撤销列表签发者与证书不符"
            )
        if (
            crl.signature_algorithm != oids.SM2_SM3
            or verify_sm2(issuer.public_key, crl.signature, crl.tbs, self._conventions) is None
        ):
            raise PkiError("CRL signature does not verify", "撤销列表签名验证失败")
        now = self._clock()
        key = self._key(issuer)
        with self._lock:
            current = self._entries.get(key)
            if current is None or crl.this_update >= current.crl.this_update:
                self._entries[key] = _Cached(crl, now)
            if len(self._entries) > self._max_issuers:
                oldest = min(self._entries, key=lambda k: self._entries[k].fetched_at)
                del self._entries[oldest]
            return self._entries[key].crl

    def get(self, issuer: Certificate) -> Crl | None:
        """The cached CRL of ``issuer`` if still fresh now."""
        with self._lock:
            cached = self._entries.get(self._key(issuer))
        return cached.crl if cached is not None and self._fresh(cached, self._clock()) else None

    def refresh(self, issuer: Certificate, urls: Iterable[str]) -> Crl | None:
        """Fetch the issuer's CRL from the first URL that yields a valid one (failures back off)."""
        now = self._clock()
        for url in urls:
            with self._lock:
                failed_at = self._failures.get(url)
            if failed_at is not None and now < failed_at + self._retry_after:
                continue
            try:
                data = self._fetch(url)
                crl = self.put(load_crl(data), issuer)
            except Exception:  # any failure of the injected fetcher or of the data is a miss
                with self._lock:
                    self._failures[url] = now
                continue
            with self._lock:
                self._failures.pop(url, None)
            return crl
        return None

    def crls_for(self, certificate: Certificate, issuer: Certificate) -> Sequence[Crl]:
        """A fresh CRL of ``issuer`` (fetched from ``certificate``'s distribution points if needed)."""
        fresh = self.get(issuer)
        if fresh is not None:
            return [fresh]
        fetched = self.refresh(issuer, certificate.crl_urls)
        if fetched is not None:
            return [fetched]
        # Hand back a stale copy so validation reports CRL_EXPIRED rather than CRL_NOT_FOUND.
        with self._lock:
            cached = self._entries.get(self._key(issuer))
        return [cached.crl] if cached is not None else []
