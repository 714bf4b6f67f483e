"""How a signed webhook reaches a department system: one POST over a kept-alive connection.

``KeepAlive`` is the worker's: plain ``http.client`` connections, a few per receiver, shared by the
sending threads and kept between rounds. A POST through it costs about a quarter of the CPU of the same
POST through an ``httpx.Client`` (bench/webhooks.py), which is what bounds the fan-out rate. A
connection is reused only while it is younger than the usual keep-alive timeouts of receivers and the
peer has not closed it, so a POST is never sent on a connection the receiver already dropped (such a
POST would fail, and a blind resend could deliver twice).

``HttpxTransport`` wraps a given ``httpx.Client`` (tests hand in one with a mock transport).
"""

from __future__ import annotations

import http.client
import select
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from typing import Final, Protocol
from urllib.parse import urlsplit

import httpx

#: A receiver gets this long to accept the connection (TLS handshake included) …
CONNECT_SECONDS: Final = 2.0
#: … and this long for each read or write of the exchange; then the attempt counts as failed.
READ_SECONDS: Final = 5.0
#: Idle connections older than this are closed, not reused: below the common keep-alive timeouts of
#: servers (uvicorn 5 s, nginx 75 s), so the receiver never closes one under a POST being sent.
IDLE_SECONDS: Final = 4.0
#: A response body larger than this (or of unknown length) is not read: the connection is closed.
BODY_LIMIT: Final = 64 * 1024
#: Idle connections kept per receiver (the dispatcher's pool sends at most this many at once).
PER_ORIGIN: Final = 16


class TransportFailed(Exception):
    """The POST did not get an HTTP answer (refused, reset, timed out, TLS failure …)."""


class Transport(Protocol):
    """Sends one POST and answers the receiver's status code (``TransportFailed`` without one)."""

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int: ...

    def close(self) -> None: ...


def _failure(exc: BaseException) -> TransportFailed:
    return TransportFailed(f"{type(exc).__name__}: {exc}"[:300])


class HttpxTransport:
    """POSTs through a given ``httpx.Client`` (redirects not followed); the caller closes the client."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        """One POST."""
        try:
            return self.client.post(
                url, content=body, headers=dict(headers), follow_redirects=False
            ).status_code
        except httpx.HTTPError as exc:
            raise _failure(exc) from exc

    def close(self) -> None:
        """Nothing of its own to close."""


Origin = tuple[str, str, int]


def _peer_closed(conn: http.client.HTTPConnection) -> bool:
    # An idle keep-alive socket is readable only when the peer closed it (or sent junk): either way it is
    # not fit to carry the next request.
    sock = conn.sock
    if sock is None:
        return True
    try:
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True


class KeepAlive:
    """Kept-alive ``http.client`` connections per receiver (scheme, host, port), shared by threads."""

    def __init__(
        self,
        *,
        connect_seconds: float = CONNECT_SECONDS,
        read_seconds: float = READ_SECONDS,
        idle_seconds: float = IDLE_SECONDS,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.connect_seconds = connect_seconds
        self.read_seconds = read_seconds
        self.idle_seconds = idle_seconds
        self._ssl = ssl_context
        self._idle: dict[Origin, list[tuple[float, http.client.HTTPConnection]]] = {}
        self._lock = threading.Lock()

    def _tls(self) -> ssl.SSLContext:
        if self._ssl is None:
            # The same trust as httpx's default client had (certifi's roots), which this replaces.
            self._ssl = httpx.create_ssl_context()
        return self._ssl

    def _take(self, origin: Origin) -> http.client.HTTPConnection | None:
        now = time.monotonic()
        with self._lock:
            idle = self._idle.get(origin, [])
            while idle:
                since, conn = idle.pop()
                if now - since < self.idle_seconds and not _peer_closed(conn):
                    return conn
                conn.close()
        return None

    def _give_back(self, origin: Origin, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            idle = self._idle.setdefault(origin, [])
            if len(idle) < PER_ORIGIN:
                idle.append((time.monotonic(), conn))
                return
        conn.close()

    def _open(self, origin: Origin) -> http.client.HTTPConnection:
        scheme, host, port = origin
        conn: http.client.HTTPConnection
        if scheme == "https":
            conn = http.client.HTTPSConnection(host, port, timeout=self.connect_seconds, context=self._tls())
        else:
            conn = http.client.HTTPConnection(host, port, timeout=self.connect_seconds)
        conn.connect()
        if conn.sock is not None:
            conn.sock.settimeout(self.read_seconds)
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        """One POST; the connection goes back to the pool when the answer was read to its end."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise TransportFailed(f"not an http(s) URL: {url[:200]}")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise _failure(exc) from exc
        origin: Origin = (parts.scheme, parts.hostname, port)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn: http.client.HTTPConnection | None = None
        try:
            conn = self._take(origin) or self._open(origin)
            conn.request("POST", target, body=body, headers=dict(headers))
            response = conn.getresponse()
            length = response.length
            reusable = not response.will_close and length is not None and length <= BODY_LIMIT
            if reusable:
                response.read()
            status = response.status
        # ValueError: a URL or header http.client refuses (a non-ASCII host, say) is that receiver's
        # failed attempt, not an error that stops the round for every other receiver.
        except (OSError, http.client.HTTPException, ValueError) as exc:
            if conn is not None:
                conn.close()
            raise _failure(exc) from exc
        if reusable:
            self._give_back(origin, conn)
        else:
            conn.close()
        return status

    def close(self) -> None:
        """Close every idle connection."""
        with self._lock:
            idle, self._idle = self._idle, {}
        for conns in idle.values():
            for _, conn in conns:
                conn.close()
