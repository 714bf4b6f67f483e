"""ModSecurity JSON audit log lines for the security tests, in the shape ModSecurity v3.0.9 writes them."""

from __future__ import annotations

import json
from typing import Any


def transaction(
    n: int,
    *,
    client: str = "203.0.113.7",
    uri: str = "/api/v1/catalog/search?q=1%27%20OR%201=1--",
    status: int = 403,
    second: int = 0,
    rules: tuple[tuple[str, str, str], ...] = (
        ("942100", "2", "SQL Injection Attack Detected via libinjection"),
        ("949110", "2", "Inbound Anomaly Score Exceeded (Total Score: 5)"),
    ),
) -> str:
    """One audit log line; ``rules`` are (id, CRS severity, message)."""
    messages: list[dict[str, Any]] = [
        {
            "message": message,
            "details": {
                "match": "Matched data: secret-query-value",
                "ruleId": rule,
                "data": "secret-query-value",
                "severity": severity,
                "tags": ["application-multi", "attack-sqli", "paranoia-level/1"]
                if rule.startswith("942")
                else [],
            },
        }
        for rule, severity, message in rules
    ]
    document = {
        "transaction": {
            "client_ip": client,
            "time_stamp": f"Sat Dec  5 22:{second // 60:02d}:{second % 60:02d} 2026",
            "server_id": "0" * 40,
            "client_port": 40000 + n,
            "host_ip": "127.0.0.1",
            "host_port": 8080,
            "unique_id": f"1796508392{n:08d}.{n}",
            "request": {
                "method": "GET",
                "http_version": 1.1,
                "uri": uri,
                "headers": {"Host": "zwfw.example.gov.cn", "Cookie": "zw_session=secret-cookie"},
            },
            "response": {"http_code": status, "headers": {}},
            "producer": {"modsecurity": "ModSecurity v3.0.9 (Linux)"},
            "messages": messages,
        }
    }
    return json.dumps(document)
