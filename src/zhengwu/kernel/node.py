"""The node: one typed object holding what every capability of a running node shares.

The composition root (``zhengwu.main``) builds it once per process — for the HTTP server, the CLI and the
worker alike — and hands it to each capability's ``wiring.install(node)``. Capabilities reach shared
things through its typed fields and publish their own services under a :class:`ServiceKey`, so that a
lookup says what it returns and a missing registration fails loudly at start-up, not as an
``AttributeError`` in a request (ADR 0012).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar, cast

from fastapi import Depends, FastAPI, Request
from prometheus_client import CollectorRegistry
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette

from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.config import Settings
from zhengwu.kernel.events import EventBus
from zhengwu.kernel.files import FileStore

T = TypeVar("T")

HealthProbe = Callable[[], dict[str, Any]]

#: Where a node's sessions carry their node (``Session.info``): a service that holds a session reaches
#: the node's configuration through it, with no process-wide setting (ADR 0012).
NODE_INFO = "zhengwu.node"


@dataclass(frozen=True, slots=True, eq=False)
class ServiceKey(Generic[T]):
    """The typed name of a service on the node (``OIDC = ServiceKey[OidcRuntime]("identity.oidc")``).

    Keys compare by identity: two capabilities cannot collide by choosing the same text.
    """

    name: str

    def __repr__(self) -> str:
        return f"ServiceKey({self.name!r})"


class ServiceMissing(LookupError):
    """A capability asked for a service nobody installed (a wiring mistake, found at start-up)."""


class ServiceRegistry:
    """The node's services, each under its typed key; registered once by the capability that owns it."""

    def __init__(self) -> None:
        self._values: dict[ServiceKey[Any], Any] = {}

    def put(self, key: ServiceKey[T], value: T) -> T:
        """Register ``value`` under ``key``; a second registration is a wiring mistake."""
        if key in self._values:
            raise ValueError(f"service {key.name} is already installed on this node")
        self._values[key] = value
        return value

    def replace(self, key: ServiceKey[T], value: T) -> T:
        """Swap a registered service (tests substitute fakes, e.g. a real-name verifier)."""
        if key not in self._values:
            raise ServiceMissing(f"service {key.name} is not installed on this node")
        self._values[key] = value
        return value

    def remove(self, key: ServiceKey[Any]) -> None:
        """Take a service away (tests of a node without an optional collaborator)."""
        self._values.pop(key, None)

    def provide(self, key: ServiceKey[T]) -> T:
        """The service under ``key``; raises :class:`ServiceMissing` when nobody installed it."""
        try:
            return cast(T, self._values[key])
        except KeyError:
            raise ServiceMissing(f"service {key.name} is not installed on this node") from None

    def get(self, key: ServiceKey[T]) -> T | None:
        """The service under ``key``, or ``None`` for an optional collaborator (a bridge not wired)."""
        # The type as a string: ``T | None`` would build a typing union at run time on every call.
        return cast("T | None", self._values.get(key))

    def __contains__(self, key: ServiceKey[Any]) -> bool:
        return key in self._values

    def names(self) -> list[str]:
        """Names of the installed services (diagnostics)."""
        return sorted(key.name for key in self._values)


@dataclass(eq=False)
class Node:
    """Everything a node's capabilities share; one per process (server, CLI command or worker)."""

    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    bus: EventBus
    files: FileStore
    metrics: CollectorRegistry
    git_commit: str | None = None
    clock: Callable[[], datetime] = utcnow
    started_at: float = field(default_factory=time.monotonic)
    health_probes: dict[str, HealthProbe] = field(default_factory=dict)
    services: ServiceRegistry = field(default_factory=ServiceRegistry)

    def __post_init__(self) -> None:
        self.use_sessions(self.session_factory)

    def use_sessions(self, factory: sessionmaker[Session]) -> None:
        """Open this node's sessions from ``factory`` (tests join them to a rolled-back transaction);
        each session it opens carries this node (:func:`node_in`)."""
        factory.configure(info={**factory.kw.get("info", {}), NODE_INFO: self})
        self.session_factory = factory

    @contextmanager
    def unit(self) -> Iterator[Session]:
        """One unit of work on the node database (commit at the end, roll back on error)."""
        from zhengwu.kernel.session import unit_of_work

        with unit_of_work(self.session_factory) as session:
            yield session

    def close(self) -> None:
        """Release the database connections (CLI commands and workers end with this)."""
        self.engine.dispose()

    def __enter__(self) -> Node:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def attach(app: FastAPI, node: Node) -> None:
    """Make ``node`` the node of ``app`` (the only write to ``app.state``; see :func:`node_of`)."""
    app.state.node = node


def node_of(source: Request | Starlette) -> Node:
    """The node of a request's application (or of an application)."""
    app = source.app if isinstance(source, Request) else source
    node = getattr(app.state, "node", None)
    if not isinstance(node, Node):
        raise RuntimeError("this application has no node attached (build it with zhengwu.main.create_app)")
    return node


def node_in(session: Session) -> Node:
    """The node whose session factory opened ``session``."""
    node = session.info.get(NODE_INFO)
    if not isinstance(node, Node):
        raise RuntimeError("this session was not opened by a node's session factory (Node.use_sessions)")
    return node


def service_in(session: Session, key: ServiceKey[T]) -> T | None:
    """The service under ``key`` on the node that opened ``session``; ``None`` when it is not wired, or
    when the session was opened outside a node (a script's, some tests') — an optional collaborator."""
    node = session.info.get(NODE_INFO)
    return node.services.get(key) if isinstance(node, Node) else None


def _current_node(request: Request) -> Node:
    return node_of(request)


CurrentNode = Annotated[Node, Depends(_current_node)]
