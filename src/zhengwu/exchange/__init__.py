"""Data sharing and exchange (数据共享交换) between tiers: province → national, city → province.

Pipeline: kernel outbox → ``relay`` (dispatcher: leases, batching, per-topic back-pressure, retries
with backoff + jitter, dead letter) → transport (``transports.http``: signed HTTP between zhengwu nodes;
``transports.frontdb``: the national 前置库 ``up_*``/``dn_*`` tables) → upper node's idempotent inbox
(``receiving``) → apply → signed receipt → delivered; refused rows come back as abnormal feedback.

Public surface: ``topics.TopicRegistry`` (capabilities register topic → national table, business key,
validators, apply and refresh functions through the composition root), ``national`` (table specs,
``national_row`` for emitting rows), ``service`` (status, feedback, resend, overview, log verification),
``join`` (joining an upper node; approving/revoking lower nodes), ``verification`` (共享核验),
``exlog`` (SM3 hash-chained exchange log), ``wiring.install(node, declarations)`` and ``wiring.mount``; the worker loop
is ``zhengwu.worker``.
"""
