"""Everything exchange code needs at run time, built once per process by the composition root."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from zhengwu.exchange.credentials import CredentialStore
from zhengwu.exchange.topics import TopicRegistry
from zhengwu.kernel.config import Settings, Tier


@dataclass
class ExchangeRuntime:
    """Settings, sessions, the topic registry and this node's credentials."""

    settings: Settings
    session_factory: sessionmaker[Session]
    registry: TopicRegistry
    credentials: CredentialStore
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def create(
        cls, settings: Settings, session_factory: sessionmaker[Session], registry: TopicRegistry
    ) -> ExchangeRuntime:
        """A runtime with a fresh credential cache."""
        return cls(settings, session_factory, registry, CredentialStore(settings, session_factory))

    def rebind(self, session_factory: sessionmaker[Session]) -> None:
        """Use another session factory (tests join sessions to an outer transaction)."""
        if session_factory is not self.session_factory:
            self.session_factory = session_factory
            self.credentials.session_factory = session_factory
            self.credentials.invalidate()

    @property
    def node_id(self) -> str:
        """This node's id."""
        return self.settings.node_id

    @property
    def is_national(self) -> bool:
        """True on the national node (it answers verification queries from its own registries)."""
        return self.settings.tier is Tier.NATIONAL
