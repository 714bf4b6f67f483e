"""Exchange topic declarations: what a capability says about the rows it sends and receives upward.

Each capability that owns data travelling between tiers lists its declarations in ``<capability>/topics.py``
(a ``declarations(settings)`` function); ``main.exchange_topics`` collects them into the exchange's topic
registry. The exchange therefore never imports the capabilities whose rows it carries (ADR 0012).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from sqlalchemy.orm import Session

from zhengwu.kernel.codes.verdict import Verdict
from zhengwu.kernel.events import DomainEvent


@dataclass(frozen=True, slots=True)
class RowError:
    """Why a row is refused: a stable code, a Chinese reason for operators, the column concerned."""

    code: str
    reason: str
    column: str | None = None


class ReceivedRow(Protocol):
    """A row accepted by the receiving node, as a table hook sees it."""

    @property
    def sender(self) -> str: ...
    @property
    def row_guid(self) -> str:
        """The row's id: what a hook's refusals are keyed by (the receipt answers per row)."""
        ...

    @property
    def business_key(self) -> str: ...
    @property
    def operation(self) -> str: ...
    @property
    def order(self) -> int: ...
    @property
    def row(self) -> dict[str, Any]: ...
    @property
    def origin(self) -> str:
        """The node that made the row (the sender itself, or where a relayed row came from)."""
        ...

    @property
    def route(self) -> str:
        """``origin/…/sender``: the nodes the row passed through to reach us."""
        ...


#: The current national-format payload of the object with this business key (None: it is gone).
Refresh = Callable[[Session, str], dict[str, Any] | None]
#: Applies accepted rows inside the receiving transaction; returns the rows it refuses instead, by row_guid.
Apply = Callable[[Session, Sequence[Any]], Mapping[str, RowError]]


@dataclass(frozen=True, slots=True)
class TopicDeclaration:
    """An outbox topic: ``<capability>.<national table>`` by convention, with its business key column and
    the function that rebuilds a row when an operator resends a refused one."""

    name: str
    table: str | None = None
    key_column: str | None = None
    refresh: Refresh | None = None
    label: str = ""
    #: For downward (``dn_*``) topics, whether a node that took a row from its upper node passes it on to
    #: its own lower nodes: ``"*"`` to every one (catalog pushes), a column name to the lower node whose
    #: area holds the division code in that column, None (default) not at all (it concerns this node).
    route_column: str | None = None
    #: For a report of our own (no national table), whether a middle node passes the rows its lower nodes
    #: send on to its own upper node with their origin, like the national ``up_*`` rows (exchange.tiers),
    #: so that the top node hears from every node of the federation.
    relayed: bool = False


@dataclass(frozen=True, slots=True)
class CodeCheck:
    """A column of a national table that must hold a valid national code (whatever topic carries it)."""

    table: str
    column: str
    check: Callable[[object], Verdict]
    label: str


@dataclass(frozen=True, slots=True)
class TableHook:
    """Work to do with the accepted rows of a table on the receiving node (e.g. a registry index)."""

    table: str
    apply: Apply


@dataclass(frozen=True, slots=True)
class RefusedRow:
    """A row of this node that the upper node refused — in the receipt of the batch that carried it, or
    through the 前置库's feedback tables — as a refusal hook sees it."""

    via: str  # "receipt" | "frontdb"
    #: The refused row's id (its outbox message id when the exchange still knows it; else an id of the
    #: feedback that reported it): the same refusal reported twice carries the same id.
    row_guid: str
    business_key: str | None
    #: The refused row's national columns as far as the exchange knows them: the row sent (receipt), or
    #: the feedback row (前置库: ``dn_lic_data_error`` repeats the ``up_lic_data`` columns).
    row: Mapping[str, Any]
    error: RowError


#: Records refusals inside the transaction that stores them in the exchange's feedback list.
OnRefused = Callable[[Session, Sequence[RefusedRow]], None]
#: Closes the owner's entries of refusals the exchange's operators resent (by ``RefusedRow.row_guid``).
OnSettled = Callable[[Session, Sequence[str]], None]


@dataclass(frozen=True, slots=True)
class RefusalHook:
    """Work to do when the upper node refuses rows of a table this node sent (e.g. an owner's queue of
    abnormal data, so that staff correct and resubmit them where they fix everything else), and when
    the exchange's operators resend such a row from the feedback list (``on_settled``), so the owner's
    entry does not stay open beside the closed feedback."""

    table: str
    on_refused: OnRefused
    on_settled: OnSettled | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RefusalSettled(DomainEvent):
    """The owner of a refused row settled it in its own queue (corrected and resubmitted, or dismissed):
    the exchange closes the matching feedback entry in the same transaction, so the refusal is open in
    both places or in neither. ``row_guid`` is the ``RefusedRow.row_guid`` the refusal hook was given."""

    topic: ClassVar[str] = "kernel.RefusalSettled"

    table: str
    row_guid: str
    outcome: str  # "resubmitted" | "dismissed"
    actor: str


@dataclass(frozen=True, slots=True)
class Census:
    """How many objects of a kind this node holds that ought to reach the upper node (应上尽上), per
    department code as its national rows carry it ("" for objects of no department)."""

    kind: str  # items | cases | licenses | users (exchange.progress.KINDS)
    count: Callable[[Session], Mapping[str, int]]


Declaration = TopicDeclaration | CodeCheck | TableHook | RefusalHook | Census


_NOTES = "zhengwu.topics.notes"


def note(session: Session, text: str) -> None:
    """Leave a remark about the rows a table hook just applied (e.g. the result of a check it ran
    afterwards) for the exchange's apply log; it travels in the session, within the same transaction."""
    session.info.setdefault(_NOTES, []).append(text[:2000])


def take_notes(session: Session) -> list[str]:
    """The remarks left since the last call (the exchange reads them after running the hooks)."""
    notes: list[str] = session.info.pop(_NOTES, [])
    return notes


_SETTLED = "zhengwu.topics.settled"


def settled_here(session: Session, row_guid: str) -> None:
    """A table hook applied a row to what this node itself holds, so the row ends here. Downward (a
    status change of a license it issued): the exchange does not pass it on to the lower nodes — what
    they hold of it (a shared copy) reaches them as this node's own change, so the row would only be
    refused below. Upward (a receipt of a notice this node issued): a relayed topic's row is not passed
    on to the upper node."""
    session.info.setdefault(_SETTLED, set()).add(row_guid)


def settled_rows(session: Session) -> frozenset[str]:
    """The rows marked :func:`settled_here` so far, left in place (the receiver does not relay them)."""
    return frozenset(session.info.get(_SETTLED, ()))


def take_settled(session: Session) -> set[str]:
    """The rows marked :func:`settled_here` since the last call."""
    settled: set[str] = session.info.pop(_SETTLED, set())
    return settled
