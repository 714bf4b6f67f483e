"""Unified identity authentication (统一身份认证): accounts, sessions, login, second factor, migration.

Public surface (``zhengwu.identity.service``): ``register_natural_person``, ``register_legal_person``,
``authenticate_password``, ``find_account_by_citizen_id``, ``start_session``, ``end_session``,
``end_all_sessions``, ``account_claims``, ``reveal_citizen_id``; FastAPI dependencies in
``zhengwu.identity.deps`` (``current_session``, ``require_session``, ``require_level``); the staff-rights
policy every staff route goes through in ``zhengwu.identity.policy`` (``guard``, ``right``; ADR 0010); models in
``zhengwu.identity.models``; ``install(app)`` in ``zhengwu.identity.routes`` wires pages and API.
Ending a session publishes ``events.UserLoggedOut(session_id, account_id, reason)`` on the node's bus.
The OIDC provider lives in ``zhengwu.identity.oidc`` and builds on this surface.
"""
