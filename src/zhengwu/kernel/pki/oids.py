"""Object identifiers used by the SM2 PKI and their registration with asn1crypto."""

from __future__ import annotations

from typing import Final

from asn1crypto import algos, keys

# GB/T 33560 / GM/T 0006
SM2_CURVE: Final = "1.2.156.10197.1.301"
SM2_SIGN: Final = "1.2.156.10197.1.301.1"
SM3: Final = "1.2.156.10197.1.401"
SM2_SM3: Final = "1.2.156.10197.1.501"
# RFC 5480
EC_PUBLIC_KEY: Final = "1.2.840.10045.2.1"
# RFC 3161 / RFC 5652 / RFC 5035
TST_INFO: Final = "1.2.840.113549.1.9.16.1.4"
SIGNED_DATA: Final = "1.2.840.113549.1.7.2"
CONTENT_TYPE_ATTR: Final = "1.2.840.113549.1.9.3"
MESSAGE_DIGEST_ATTR: Final = "1.2.840.113549.1.9.4"
SIGNING_TIME_ATTR: Final = "1.2.840.113549.1.9.5"
SIGNING_CERTIFICATE_ATTR: Final = "1.2.840.113549.1.9.16.2.12"
SIGNING_CERTIFICATE_V2_ATTR: Final = "1.2.840.113549.1.9.16.2.47"

#: Signature algorithm identifiers accepted as "SM2 over SM3": GM/T 0006 sm2-with-sm3 and, as seen in
#: GB/T 35275 SignerInfos, the bare SM2 signature OIDs (the digest is then given separately as SM3).
SM2_SIGNATURE_ALGORITHMS: Final = frozenset({SM2_SM3, SM2_SIGN, SM2_CURVE})

_registered = False


def register_asn1crypto() -> None:
    """Teach asn1crypto the SM2 curve, SM3 and SM2-with-SM3 names (idempotent; codes use dotted OIDs anyway)."""
    global _registered
    if _registered:
        return
    if SM2_CURVE not in keys.NamedCurve._map:
        keys.NamedCurve.register("sm2", SM2_CURVE, 32)
    for cls, oid, name in (
        (algos.SignedDigestAlgorithmId, SM2_SM3, "sm2_sm3"),
        (algos.DigestAlgorithmId, SM3, "sm3"),
    ):
        if oid not in cls._map:
            cls._map[oid] = name
            if cls._reverse_map is not None:
                cls._reverse_map[name] = oid
    _registered = True
