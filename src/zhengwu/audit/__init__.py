"""Audit (安全审计, 等保 8.1.4.3): tamper-evident records every capability writes.

Sits above the kernel and below every capability that writes audit records (orgs included).

Public surface:
- ``chain``: the one SM3 hash-chain primitive — ``ChainSpec`` (a named chain over a table), ``append``
  (lock the chain's head, link a record), ``append_at_commit`` (link it just before the commit, ADR 0016),
  ``lock``, ``verify`` (first break: edited, dropped, reordered,
  truncated) and ``canonical_bytes``;
- ``changes``: the change log, ``record_change`` in the caller's transaction (linked at its commit),
  ``list_changes``;
- ``reads``: the read audit of personal data, ``record_read`` and ``reads_of``;
- ``apart``: ``write_apart`` — audit rows that must outlive a failed request, in a unit of work of their own;
- ``heads``: signed chain heads (``seal_heads``, ``verify_against_heads``), the ``audit.chain_head``
  outbox topic and the upper node's ``apply_reported_heads``;
- ``minimise``: how personal data is reduced before it enters a log;
- ``routes``: ``GET /api/v1/identity/me/reads`` is served by identity with ``reads_of``;
- ``models`` (tables ``audit_chain_head``, ``audit_change``, ``audit_read``, ``audit_signed_head``,
  ``audit_reported_head``).
"""
