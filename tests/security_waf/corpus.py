"""The attack corpus (attacks.jsonl) and a raw HTTP/1.1 sender that sends each request exactly as written.

Raw sockets rather than an HTTP client library: libraries normalise paths (``../``), refuse header
values with CR/LF and unknown methods — which is what the corpus must be able to send.
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

CORPUS = Path(__file__).with_name("attacks.jsonl")


@dataclass(frozen=True)
class Attack:
    """One request of the corpus."""

    id: str
    category: str
    raw: dict[str, Any]

    def request(self, host: str) -> bytes:
        """The request bytes, as a client on the internet could send them."""
        r = self.raw
        path = r["path"] if r.get("raw_path") else quote(r["path"], safe="/%")
        if "raw_query" in r:
            path += "?" + r["raw_query"]
        elif "query" in r:
            path += "?" + urlencode(r["query"])
        body = b""
        content_type = r.get("content_type")
        if "json" in r:
            body, content_type = json.dumps(r["json"], ensure_ascii=False).encode(), "application/json"
        elif "form" in r:
            body, content_type = urlencode(r["form"]).encode(), "application/x-www-form-urlencoded"
        elif "body" in r:
            body = r["body"].encode()
        headers = {"Host": host, "User-Agent": "Mozilla/5.0 (zhengwu WAF corpus)", "Accept": "*/*"}
        headers.update(r.get("headers", {}))
        if body or r["method"] == "POST":
            headers.setdefault("Content-Type", content_type or "application/octet-stream")
            headers.setdefault("Content-Length", str(len(body)))
        headers["Connection"] = "close"
        head = f"{r['method']} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        return head.encode("utf-8") + b"\r\n" + body


def load() -> list[Attack]:
    """Every request of the corpus, in file order."""
    attacks = []
    for line in CORPUS.read_text(encoding="utf-8").splitlines():
        if line.strip():
            raw = json.loads(line)
            attacks.append(Attack(raw["id"], raw["category"], raw))
    return attacks


def send(host: str, port: int, payload: bytes, timeout: float = 10.0) -> int:
    """Send raw request bytes; the response's status code (0 when the server closed without one)."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(payload)
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    status_line = data.split(b"\r\n", 1)[0].split()
    return int(status_line[1]) if len(status_line) >= 2 and status_line[1].isdigit() else 0
