"""Talking to the node: its discovery document and keys, the system's own token (client credentials,
scopes ``cases.handle`` and ``licenses.issue``, the latter for concluding with a license) and the case API. Endpoints come from discovery, never hard-coded."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from department_system.config import Config

SCOPE = "cases.handle licenses.issue"


@dataclass
class Answer:
    """A node's answer: status, JSON body, and the Chinese reason when refused."""

    status: int
    body: Any

    @property
    def ok(self) -> bool:
        """2xx."""
        return 200 <= self.status < 300

    @property
    def reason(self) -> str:
        """The problem's ``detail`` (Chinese), or a generic sentence."""
        if isinstance(self.body, dict):
            return str(self.body.get("detail") or self.body.get("title") or f"平台返回 {self.status}")
        return f"平台返回 {self.status}"


class NodeError(RuntimeError):
    """The node could not be reached or answered something unusable."""


class Node:
    """The node as this system sees it (thread-safe; one per process)."""

    def __init__(self, config: Config, http: httpx.Client | None = None) -> None:
        self.config = config
        self.http = http or httpx.Client(timeout=httpx.Timeout(10.0, connect=3.0))
        self._lock = threading.Lock()
        self._meta: dict[str, Any] | None = None
        self._keys: KeySet | None = None
        self._keys_at = 0.0
        self._token: tuple[str, float] | None = None

    # discovery and keys ------------------------------------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        """The discovery document (cached)."""
        with self._lock:
            if self._meta is None:
                try:
                    got = self.http.get(f"{self.config.node_url}/.well-known/openid-configuration")
                    got.raise_for_status()
                except httpx.HTTPError as exc:
                    raise NodeError(f"无法连接政务服务平台：{exc}") from exc
                self._meta = got.json()
            return self._meta

    def keys(self, *, refresh: bool = False) -> KeySet:
        """The node's signing keys (refetched on demand, at most every 60 s, for a rotated key)."""
        with self._lock:
            stale = refresh and time.monotonic() - self._keys_at > 60
            if self._keys is None or stale:
                meta = self._meta or {}
                uri = meta.get("jwks_uri") or f"{self.config.node_url}/oidc/jwks"
                self._keys = KeySet.import_key_set(self.http.get(uri).json())
                self._keys_at = time.monotonic()
            return self._keys

    def check_jwt(self, token: str) -> dict[str, Any]:
        """Claims of an ID token or logout token from the node: signature, ``iss``, ``aud``, ``exp``."""
        meta = self.metadata()
        try:
            claims = dict(jwt.decode(token, self.keys(), algorithms=["ES256"]).claims)
        except JoseError:  # perhaps a key the node rotated in since we fetched its keys
            claims = dict(jwt.decode(token, self.keys(refresh=True), algorithms=["ES256"]).claims)
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if claims.get("iss") != meta["issuer"] or self.config.client_id not in audiences:
            raise ValueError("issuer or audience does not match")
        if "exp" in claims and float(claims["exp"]) < time.time() - 30:
            raise ValueError("expired")
        return claims

    # the system's own token --------------------------------------------------------------------------

    def token(self) -> str:
        """A client-credentials access token with ``SCOPE`` (renewed a minute before it expires)."""
        with self._lock:
            if self._token is not None and self._token[1] > time.monotonic() + 60:
                return self._token[0]
        endpoint = self.metadata()["token_endpoint"]
        got = self.http.post(
            endpoint,
            data={"grant_type": "client_credentials", "scope": SCOPE},
            auth=(self.config.client_id, self.config.client_secret),
        )
        if got.status_code != 200:
            raise NodeError(f"获取接口令牌失败：{got.json().get('detail', got.status_code)}")
        body = got.json()
        with self._lock:
            self._token = (body["access_token"], time.monotonic() + float(body.get("expires_in", 300)))
            return self._token[0]

    def call(self, method: str, path: str, **kwargs: Any) -> Answer:
        """A case-API call with the system's token."""
        headers = {"Authorization": f"Bearer {self.token()}", **kwargs.pop("headers", {})}
        try:
            got = self.http.request(method, f"{self.config.node_url}{path}", headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise NodeError(f"无法连接政务服务平台：{exc}") from exc
        try:
            body = got.json()
        except ValueError:
            body = None
        return Answer(got.status_code, body)

    # the case API ------------------------------------------------------------------------------------

    def case(self, case_no: str) -> Answer:
        """One case of the department (404 for any other)."""
        return self.call("GET", f"/api/v1/department-systems/cases/{case_no}")

    def act(self, case_no: str, body: dict[str, Any], idempotency_key: str) -> Answer:
        """An action; the key makes a retry (a lost answer, a double click) act once."""
        return self.call(
            "POST",
            f"/api/v1/cases/{case_no}/actions",
            json=body,
            headers={"Idempotency-Key": idempotency_key},
        )

    def events(self, after: int, limit: int = 100) -> Answer:
        """The pull feed after a cursor."""
        return self.call("GET", "/api/v1/cases/events", params={"after": after, "limit": limit})

    def license_types(self) -> list[dict[str, Any]]:
        """The license types of the node (public)."""
        got = self.http.get(f"{self.config.node_url}/api/v1/licenses/types")
        return list(got.json()) if got.status_code == 200 else []
