"""Electronic seals (电子印章, GB/T 38540 / GM/T 0031) and OFD documents (GB/T 33190), over the node PKI.

Public surface:
- library: ``ses`` (parse SES v1/v4/v5, build v4), ``ofd`` (safe container, ``write_ofd``, ``sign_ofd``,
  ``verify_ofd``, ``render_preview``), ``verify`` (``VerificationReport``, verdicts), ``trust`` (chain,
  time-stamp and seal-status plug-ins of the verifier over ``kernel.pki``);
- ``service``: ``create_seal``, ``suspend_seal`` / ``resume_seal`` / ``revoke_seal``, ``sign_document``,
  ``verify_document`` / ``verify_offline``, ``RegistryStatusLookup``;
- ``routes``: ``/api/v1/seals`` (registry, status, sign, verify);
  ``demo.seed_demo_seals`` for ``zhengwu seed --demo``; events ``SealCreated`` / ``SealStatusChanged``.

Keys, certificates, CRLs, trust anchors and time-stamps come from :mod:`zhengwu.pki`.
"""
