"""Notifier interface for verified channels (SMS, e-mail) with file and console implementations.

A notifier either delivers or raises: the platform never reports a message as sent when it was not.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from rich.console import Console

from zhengwu.identity.protection import mask_phone
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.db import new_id


@dataclass(frozen=True, slots=True)
class Message:
    """One message to one verified destination."""

    channel: str  # "sms" or "email"
    to: str
    subject: str
    body: str


class DeliveryFailed(RuntimeError):
    """The message could not be handed to the channel."""


class Notifier(Protocol):
    """Delivers messages; raises DeliveryFailed instead of pretending."""

    def send(self, message: Message) -> str:
        """Deliver ``message``; returns a delivery id."""
        ...


class FileNotifier:
    """Appends each message as one JSON line to ``<data_dir>/notifications/outbox.jsonl`` (fsync'd).

    The file stands in for the SMS/e-mail gateway of a real deployment: it is the channel, not a log,
    so it holds the destination in full; only the node operator and the tests read it.
    """

    def __init__(self, root: Path) -> None:
        self.path = root / "notifications" / "outbox.jsonl"

    def send(self, message: Message) -> str:
        """Append the message and flush it to disk."""
        delivery_id = new_id()
        line = json.dumps(
            {
                "id": delivery_id,
                "at": utcnow().isoformat(),
                "channel": message.channel,
                "to": message.to,
                "subject": message.subject,
                "body": message.body,
            },
            ensure_ascii=False,
        )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, (line + "\n").encode())
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise DeliveryFailed(f"cannot write {self.path.name}: {exc.strerror}") from exc
        return delivery_id

    def messages(self) -> list[dict[str, str]]:
        """Everything delivered so far (for operators and tests)."""
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line]


class ConsoleNotifier:
    """Prints messages on the node's console (development only); the destination is masked."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)

    def send(self, message: Message) -> str:
        """Print the message."""
        delivery_id = new_id()
        to = mask_phone(message.to) if message.channel == "sms" else message.to.split("@")[0][:2] + "***"
        self.console.print(f"[bold]【{message.subject}】[/bold] → {message.channel}:{to}\n{message.body}")
        return delivery_id


def make_notifier(kind: str, data_dir: Path) -> Notifier:
    """The notifier a node is configured with."""
    if kind == "console":
        return ConsoleNotifier()
    return FileNotifier(data_dir)
