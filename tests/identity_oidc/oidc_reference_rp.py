"""A small reference department system (relying party): logs citizens in through a node, keeps its own
sessions, and ends them when the node sends a back-channel logout token (OIDC BCL 1.0 §2.6 checks).

Run it with :func:`serve_in_thread`; it is an independent program that talks to the node only over HTTP.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
import uvicorn
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

BCL_EVENT = "http://schemas.openid.net/event/backchannel-logout"


@dataclass
class RpState:
    """What the department system remembers."""

    pending: dict[str, tuple[str, str]] = field(default_factory=dict)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    logouts: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)


def make_rp(provider: str, client_id: str, client_secret: str, base_url: str) -> tuple[Starlette, RpState]:
    """The RP application and its observable state."""
    state = RpState()
    cache: dict[str, Any] = {}

    async def metadata() -> tuple[dict[str, Any], KeySet]:
        if "meta" not in cache:
            async with httpx.AsyncClient() as http:
                meta = (await http.get(f"{provider}/.well-known/openid-configuration")).json()
                jwks = (await http.get(meta["jwks_uri"])).json()
            cache["meta"], cache["keys"] = meta, KeySet.import_key_set(jwks)
        return cache["meta"], cache["keys"]

    def check(token: str, keys: KeySet, meta: dict[str, Any]) -> dict[str, Any]:
        claims = dict(jwt.decode(token, keys, algorithms=["ES256"]).claims)
        if claims.get("iss") != meta["issuer"] or claims.get("aud") != client_id:
            raise ValueError("issuer or audience")
        if float(claims.get("exp", 0)) < time.time() - 30:
            raise ValueError("expired")
        return claims

    async def login(request: Request) -> Response:
        meta, _ = await metadata()
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        st, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        state.pending[st] = (verifier, nonce)
        query = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": f"{base_url}/callback",
            "scope": request.query_params.get("scope", "openid profile"),
            "state": st,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        # A department system names the service item the person is about to apply for.
        for extra in ("item_code", "acr_values", "max_age"):
            if extra in request.query_params:
                query[extra] = request.query_params[extra]
        return RedirectResponse(f"{meta['authorization_endpoint']}?{urlencode(query)}", status_code=302)

    async def callback(request: Request) -> Response:
        meta, keys = await metadata()
        pending = state.pending.pop(request.query_params.get("state", ""), None)
        if pending is None or "code" not in request.query_params:
            return JSONResponse({"error": request.query_params.get("error", "bad_state")}, status_code=400)
        verifier, nonce = pending
        async with httpx.AsyncClient() as http:
            tokens = (
                await http.post(
                    meta["token_endpoint"],
                    data={
                        "grant_type": "authorization_code",
                        "code": request.query_params["code"],
                        "redirect_uri": f"{base_url}/callback",
                        "code_verifier": verifier,
                    },
                    auth=(client_id, client_secret),
                )
            ).json()
            id_claims = check(tokens["id_token"], keys, meta)
            if id_claims.get("nonce") != nonce:
                return JSONResponse({"error": "nonce"}, status_code=400)
            info = (
                await http.get(
                    meta["userinfo_endpoint"], headers={"Authorization": f"Bearer {tokens['access_token']}"}
                )
            ).json()
        if info.get("sub") != id_claims["sub"]:
            return JSONResponse({"error": "sub mismatch"}, status_code=400)
        token = secrets.token_urlsafe(16)
        state.sessions[token] = {
            "sub": id_claims["sub"],
            "sid": id_claims["sid"],
            "acr": id_claims["acr"],
            "claims": info,
        }
        response = JSONResponse({"logged_in": True, "claims": info, "acr": id_claims["acr"]})
        response.set_cookie("rp_session", token, httponly=True)
        return response

    async def me(request: Request) -> Response:
        found = state.sessions.get(request.cookies.get("rp_session", ""))
        if found is None:
            return JSONResponse({"logged_in": False}, status_code=401)
        return JSONResponse({"logged_in": True, **found})

    async def backchannel_logout(request: Request) -> Response:
        meta, keys = await metadata()
        form = await request.form()
        try:
            claims = check(str(form.get("logout_token", "")), keys, meta)
            if BCL_EVENT not in claims.get("events", {}) or "nonce" in claims or not claims.get("sid"):
                raise ValueError("not a logout token")
        except (JoseError, ValueError) as exc:
            state.rejected.append(str(exc))
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        state.logouts.append(claims)
        for token in [t for t, s in state.sessions.items() if s["sid"] == claims["sid"]]:
            del state.sessions[token]
        return Response(status_code=200, headers={"Cache-Control": "no-store"})

    app = Starlette(
        routes=[
            Route("/login", login),
            Route("/callback", callback),
            Route("/me", me),
            Route("/backchannel-logout", backchannel_logout, methods=["POST"]),
        ]
    )
    return app, state


def free_port(host: str = "127.0.0.1") -> int:
    """A free TCP port on ``host``."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class RpServer:
    """uvicorn in a background thread."""

    def __init__(self, app: Starlette, host: str, port: int) -> None:
        self.server = uvicorn.Server(
            uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> RpServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
