"""安全保障 — security events of the node: what the WAF in front refused and what the node itself noticed
(rate-limit hits, lockouts, refused signatures, broken audit chains), stored typed for the security
administrator (docs/security.md)."""
