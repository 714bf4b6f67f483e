"""Electronic seals (电子印章, GB/T 38540 / GM/T 0031), OFD documents (GB/T 33190) and the node's SM2 PKI.

Public surface:
- library: ``ses`` (parse SES v1/v4/v5, build v4), ``ofd`` (safe container, ``write_ofd``, ``sign_ofd``,
  ``verify_ofd``, ``render_preview``), ``verify`` (``VerificationReport``, verdicts), ``trust`` (chain,
  time-stamp and seal-status plug-ins), ``tstoken`` (RFC 3161 tokens in direct DER);
- ``authority``: ``init_pki``, ``issue_end_entity``, ``issue_exchange_certificate(session, settings,
  csr_der, node_id)``, ``revoke_certificate``, ``current_crl`` (published at ``/pki/crl/<ca>.crl``),
  ``add_trust_anchors`` / ``list_trust_anchors`` / ``remove_or_find``, ``trust_store``, ``fetch_crl``;
- ``keys``: SM4-wrapped software keys, ``SignerBackend`` / ``register_backend`` for HSMs (SDF, PKCS#11);
- ``service``: ``create_seal``, ``suspend_seal`` / ``resume_seal`` / ``revoke_seal``, ``sign_document``,
  ``verify_document`` / ``verify_offline``, ``RegistryStatusLookup``; ``tsa``: the node TSA;
- ``routes``: ``/api/v1/seals`` (registry, status, sign, verify), ``/pki/crl``, ``/pki/ca``, ``/tsa``;
  ``demo.seed_demo_seals`` for ``zhengwu seed --demo``; events ``SealCreated`` / ``SealStatusChanged``.
"""
