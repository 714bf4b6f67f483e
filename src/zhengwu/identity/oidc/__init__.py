"""OIDC provider and relying party of a node (统一身份认证 · 单点登录 · 信任传递 · 单点注销).

Provider (Authlib server grants + joserfc, ES256): discovery, JWKS with rotation, authorization code + PKCE,
refresh-token rotation, client credentials (RFC 9068 JWT access tokens), introspection (RFC 7662),
revocation (RFC 7009), userinfo with pairwise ``sub``, consent records, ``acr`` = real-name level,
RP-initiated and back-channel logout. Relying party of the upstream node (trust transfer) in
``federation``. Public surface: ``wiring.install(node)``, ``wiring.mount(app, node)``, ``wiring.subscribe(node)``,
``service`` (client management), ``claims`` (consents), ``keys`` (rotation), ``federation``.
"""
