"""Electronic seals (电子印章, GB/T 38540 / GM/T 0031) and OFD documents (GB/T 33190): parse, write, sign, verify.

Public surface (library phase):
- ``zhengwu.seals.ses``: ``parse_seal``, ``parse_signature``, ``SealSpec``, ``build_seal_info``,
  ``assemble_seal``, ``build_tbs_sign``, ``assemble_signature`` (SES v1/v4/v5 ASN.1);
- ``zhengwu.seals.ofd``: the safe container reader, ``write_ofd`` (writer), ``sign_ofd`` (signer),
  ``verify_ofd`` (verifier) and ``render_preview``;
- ``zhengwu.seals.verify``: ``VerificationReport``, ``SignatureReport``, ``Verdict``, ``Reason``;
- ``zhengwu.seals.trust``: pluggable chain validation, time-stamp checking and seal status lookups.
"""
