"""Conventions §1–2: no personal data in URLs; the log scan catches identifiers."""

from __future__ import annotations

import logging
import re
from typing import Any

import leakscan

# Parameter names that carry personal data and therefore never belong in a path or query string.
_PERSONAL = re.compile(
    r"(id_?card|id_?no|id_?number|cert_?no|cert_?num|citizen|sfz|credit_?code|uscc|phone|mobile|"
    r"e?mail|real_?name|user_?name|person_?name|holder_?code|passport|address|birthday)",
    re.I,
)


def test_no_personal_data_in_paths_or_query_strings(app: Any) -> None:
    schema = app.openapi()
    offenders = []
    for path, operations in schema["paths"].items():
        for segment in re.findall(r"{([^}]+)}", path):
            if _PERSONAL.search(segment):
                offenders.append(f"{path}: path parameter {segment}")
        for method, op in operations.items():
            for param in op.get("parameters", []):
                if param.get("in") in ("path", "query") and _PERSONAL.search(param["name"]):
                    offenders.append(f"{method.upper()} {path}: {param['in']} parameter {param['name']}")
    assert offenders == [], "personal data must travel in POST bodies or come from the session"


def test_the_log_scan_detects_a_leak() -> None:
    before = len(leakscan.LEAK_LOG)
    logging.getLogger("zhengwu.test").warning("user 11010519491231002X logged in")
    logging.getLogger("zhengwu.test").warning("body from 91350100M000100Y43 and 13912345678")
    leaked = leakscan.LEAK_LOG[before:]
    del leakscan.LEAK_LOG[before:]  # the deliberate leak must not fail the run
    kinds = {line.split(":")[0] for line in leaked}
    assert kinds == {"citizen id", "credit code", "phone"}


def test_checksum_invalid_numbers_are_not_leaks() -> None:
    before = len(leakscan.LEAK_LOG)
    logging.getLogger("zhengwu.test").warning("row 110105194912310021 counter 12345678901234567")
    assert leakscan.LEAK_LOG[before:] == []


def test_hex_identifiers_are_not_phone_numbers() -> None:
    before = len(leakscan.LEAK_LOG)
    logging.getLogger("zhengwu.test").warning("trace a13912345678b0c and 0x13812345678")
    assert leakscan.LEAK_LOG[before:] == []
