"""Structured logging (structlog, JSON, ``ensure_ascii=False``) with the request's trace id.

Personal data never reaches a log line: a last processor masks anything that looks like a citizen ID
number, a credit code, a mobile phone number, a JWT or a PEM block, in case a caller slipped.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import traceback
from collections.abc import MutableMapping
from contextvars import ContextVar
from typing import Any

import structlog

_trace_id: ContextVar[str | None] = ContextVar("zhengwu_trace_id", default=None)

# Patterns for the scrubber; kept in step with tests/architecture/test_no_personal_data_in_logs.py.
_SCRUB_PATTERNS = [
    (re.compile(r"-----BEGIN [A-Z0-9 ]+-----.*?-----END [A-Z0-9 ]+-----", re.S), "[PEM]"),
    (re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), "[JWT]"),
    (re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])"), "[ID]"),
    (re.compile(r"(?<![0-9A-Z])[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}(?![0-9A-Z])"), "[USCC]"),
    (re.compile(r"(?<![0-9A-Za-z])(?:\+?86)?1[3-9]\d{9}(?![0-9A-Za-z])"), "[PHONE]"),
]


def scrub(text: str) -> str:
    """Mask personal data, tokens and keys in a string."""
    for pattern, replacement in _SCRUB_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def current_trace_id() -> str | None:
    """The trace id of the request or job being handled, if any."""
    return _trace_id.get()


def set_trace_id(value: str | None) -> object:
    """Bind a trace id to the current context; returns a token for :func:`reset_trace_id`."""
    return _trace_id.set(value)


def reset_trace_id(token: object) -> None:
    """Restore the previous trace id."""
    _trace_id.reset(token)  # type: ignore[arg-type]


def _add_trace_id(_logger: Any, _name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    trace = _trace_id.get()
    if trace and "trace_id" not in event_dict:
        event_dict["trace_id"] = trace
    return event_dict


def _scrub_event(_logger: Any, _name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in list(event_dict.items()):
        if isinstance(value, str):
            event_dict[key] = scrub(value)
        elif isinstance(value, (dict, list, tuple)):
            event_dict[key] = json.loads(scrub(json.dumps(value, ensure_ascii=False, default=str)))
    return event_dict


def exception_frames(exc: BaseException) -> str:
    """A traceback with every frame but no exception message, causes included.

    Messages are where driver errors quote SQL parameters and DETAIL lines quote row values (personal
    data); the frames and the exception types are enough to find the fault.
    """
    lines: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    chain: list[BaseException] = []
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append(current)
        current = current.__cause__ or current.__context__
    for position, item in enumerate(reversed(chain)):
        if position:
            lines.append("-- during the handling of the above, another exception was raised --")
        frames = traceback.extract_tb(item.__traceback__)
        lines.extend(f"{f.filename}:{f.lineno} in {f.name}" for f in frames)
        lines.append(f"{type(item).__module__}.{type(item).__qualname__}")
    return "\n".join(lines)


def _exception_without_messages(
    _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    exc_info = event_dict.pop("exc_info", None)
    if exc_info is True:
        exc_info = sys.exc_info()
    if isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    if isinstance(exc_info, tuple) and len(exc_info) == 3 and exc_info[1] is not None:
        event_dict["exception"] = exception_frames(exc_info[1])
    return event_dict


def configure_logging(level: str = "INFO", *, json_output: bool = True) -> None:
    """Configure structlog and the standard library to emit one line per event."""
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=lambda o, **kw: json.dumps(o, ensure_ascii=False, **kw))
        if json_output
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_trace_id,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _exception_without_messages,
            _scrub_event,
            renderer,
        ],
    )
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_zhengwu", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    handler._zhengwu = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)


def ensure_cli_logging(level: str = "WARNING") -> None:
    """For CLI processes: send log lines to stderr (never into a command's ``--json`` stdout).

    Leaves an already configured process (a served app, the test suite) alone.
    """
    if structlog.is_configured():
        return
    configure_logging(level, json_output=True)


def get_logger(name: str) -> Any:
    """A structlog logger bound to ``name``."""
    return structlog.get_logger(name)


def error_origin(exc: BaseException) -> str:
    """Where an unexpected exception was raised: ``module:function:line`` of its innermost frame, and of
    the innermost frame of our own code when that is elsewhere.

    The exception's message is left out on purpose: driver errors quote SQL parameters, which may be
    personal data (conventions §2); the location is enough to find the fault.
    """
    frames: list[str] = []
    tb = exc.__traceback__
    while tb is not None:
        module = str(tb.tb_frame.f_globals.get("__name__", "?"))
        frames.append(f"{module}:{tb.tb_frame.f_code.co_name}:{tb.tb_lineno}")
        tb = tb.tb_next
    if not frames:
        return "?"
    ours = [f for f in frames if f.startswith("zhengwu.")]
    if ours and ours[-1] != frames[-1]:
        return f"{ours[-1]} → {frames[-1]}"
    return frames[-1]
