"""The node PKI (证书体系): its CAs, key ring, CRLs, trust anchors and time-stamping authority.

One PKI per node, used by seals, the exchange, identity (certificate login) and licences. ``kernel.pki``
is the pure X.509 library underneath (no database, no network); this package keeps the node's state.

Public surface:
- ``authority``: ``init_pki`` (root CA, issuing CA, seal maker, TSA), ``create_root`` / ``adopt_root``
  (the exchange CA, ``EXCHANGE_CA``), ``authority`` (a node identity's certificate and signer), ``new_key`` /
  ``import_key`` / ``signer_for_key``, ``issue_end_entity`` (from any node CA), ``record_issued`` /
  ``record_crl`` (adoption), ``issue_exchange_certificate``, ``revoke_certificate``, ``current_crl``
  (published at ``/pki/crl/<ca>.crl``), ``ca_certificate``, ``find_certificate``, ``health``; trust anchors
  (``add_trust_anchors`` / ``list_trust_anchors`` / ``remove_or_find`` / ``update_anchor_crl``,
  ``exchange_trust_anchors``) and the verification trust store (``trust_store``, ``fetch_crl``,
  ``external_crl_source``);
- ``keys``: SM4-wrapped software keys, ``SignerBackend`` / ``register_backend`` for HSMs (SDF, PKCS#11);
- ``tsa``: the node TSA (``timestamp_token``, ``respond``); ``tstoken``: direct-DER RFC 3161 tokens;
- ``login_trust``: ``LoginCertificateTrust`` for identity's certificate login (anchors ``--for login``);
- ``routes``: ``/pki/crl/{ca}.crl``, ``/pki/ca/{ca}.crt``, ``POST /tsa``, the ``pki`` health probe;
- ``models`` (tables ``pki_key``, ``pki_certificate``, ``pki_crl``, ``pki_trust_anchor``), ``repository``,
  ``errors``.
"""
