"""The worker's webhook transport against a real local receiver: connections kept alive and reused,
never reused once the receiver closed them or after the idle limit, bounded timeouts, failures as
TransportFailed."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from zhengwu.cases.webhooks import signing
from zhengwu.cases.webhooks.transport import KeepAlive, TransportFailed


class Receiver:
    """A local HTTP/1.1 server that counts connections and POSTs; ``mode`` scripts its answer."""

    def __init__(self) -> None:
        self.connections = 0
        self.posts: list[tuple[dict[str, str], bytes]] = []
        self.mode = "ok"
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                with owner.lock:
                    owner.connections += 1

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                with owner.lock:
                    owner.posts.append((dict(self.headers.items()), body))
                if owner.mode == "hang":
                    time.sleep(1.5)
                answer = b"x" * 100_000 if owner.mode == "big" else b""
                self.send_response(200 if owner.mode != "fail" else 503)
                self.send_header("content-length", str(len(answer)))
                if owner.mode == "close":
                    self.send_header("connection", "close")
                    self.close_connection = True
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks?x=1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    yield made
    made.close()


HEADERS = {"content-type": "application/json", "webhook-id": "msg_1"}


def test_posts_reuse_one_kept_alive_connection(receiver: Receiver) -> None:
    hooks = KeepAlive()
    try:
        codes = [hooks.post(receiver.url, b'{"n":%d}' % n, HEADERS) for n in range(5)]
    finally:
        hooks.close()
    assert codes == [200] * 5
    assert receiver.connections == 1
    assert [body for _, body in receiver.posts] == [b'{"n":%d}' % n for n in range(5)]
    sent = receiver.posts[0][0]
    assert sent["webhook-id"] == "msg_1" and sent["Content-Length"] == "7"


def test_a_connection_the_receiver_ends_or_that_idled_too_long_is_not_reused(receiver: Receiver) -> None:
    hooks = KeepAlive(idle_seconds=0.3)
    try:
        receiver.mode = "close"  # the receiver says it closes: a new connection for the next POST
        assert hooks.post(receiver.url, b"{}", HEADERS) == 200
        receiver.mode = "ok"
        assert hooks.post(receiver.url, b"{}", HEADERS) == 200
        assert receiver.connections == 2
        time.sleep(0.5)  # past the idle limit
        assert hooks.post(receiver.url, b"{}", HEADERS) == 200
        assert receiver.connections == 3
        receiver.mode = "big"  # an answer too large to read through: closed, not pooled
        assert hooks.post(receiver.url, b"{}", HEADERS) == 200
        receiver.mode = "ok"
        assert hooks.post(receiver.url, b"{}", HEADERS) == 200
        assert receiver.connections == 4
        assert hooks.post(receiver.url, b"{}", HEADERS) == 200
        assert receiver.connections == 4
    finally:
        hooks.close()


def test_a_connection_the_peer_closed_while_idle_is_replaced_without_a_failed_post() -> None:
    # A bare server answering one request per connection, then closing it without saying so first.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted: list[int] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(1)
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/hooks"
    hooks = KeepAlive()
    try:
        assert hooks.post(url, b"{}", HEADERS) == 204
        time.sleep(0.2)  # the close reaches our idle socket
        assert hooks.post(url, b"{}", HEADERS) == 204
        assert len(accepted) == 2
    finally:
        hooks.close()
        listener.close()


def test_failures_are_bounded_and_named(receiver: Receiver) -> None:
    hooks = KeepAlive(read_seconds=0.5)
    try:
        receiver.mode = "hang"
        started = time.monotonic()
        with pytest.raises(TransportFailed, match=r"TimeoutError|timed out"):
            hooks.post(receiver.url, b"{}", HEADERS)
        assert time.monotonic() - started < 1.4
        receiver.mode = "fail"
        assert hooks.post(receiver.url, b"{}", HEADERS) == 503  # an answer, not a transport failure
        with socket.socket() as free:
            free.bind(("127.0.0.1", 0))
            port = free.getsockname()[1]
        with pytest.raises(TransportFailed, match="ConnectionRefused"):
            hooks.post(f"http://127.0.0.1:{port}/hooks", b"{}", HEADERS)
        with pytest.raises(TransportFailed, match="not an http"):
            hooks.post("ftp://127.0.0.1/hooks", b"{}", HEADERS)
        with pytest.raises(TransportFailed):
            hooks.post("http://127.0.0.1:99999/hooks", b"{}", HEADERS)  # no such port
        with pytest.raises(TransportFailed):
            hooks.post(receiver.url, b"{}", {"webhook-id": "bad\r\nheader"})
    finally:
        hooks.close()


def test_signed_headers_arrive_as_signed(receiver: Receiver) -> None:
    secret = signing.new_secret()
    body = b'{"type":"case.submitted"}'
    stamp = int(time.time())
    headers = {
        "content-type": "application/json",
        "webhook-id": "msg_abc",
        "webhook-timestamp": str(stamp),
        "webhook-signature": signing.sign(secret, "msg_abc", stamp, body),
    }
    hooks = KeepAlive()
    try:
        assert hooks.post(receiver.url, body, headers) == 200
    finally:
        hooks.close()
    got_headers, got_body = receiver.posts[0]
    assert got_body == body
    for scheme in signing.SCHEMES:
        assert signing.verify(secret, got_headers, got_body, now=stamp, schemes=(scheme,)) == scheme
