"""The top of the federation: the national node's own rows go into its own aggregate.

A national node has no upper node, yet its catalog, users and cases are national data too. Relayed
through this transport, its outbox rows are taken in exactly as a lower node's batch would be (same
validation, the inbox's exactly-once rule, the same aggregate and feedback), with the node as sender —
instead of waiting for an upstream that does not exist and growing the outbox backlog for ever.
Only a node of the national tier uses it: a province without an upstream yet keeps its rows pending
until it has one (sending them here would mark them delivered and they would never go up).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import OperationalError

from zhengwu.exchange import exlog
from zhengwu.exchange.receiving import IncomingRecord, ingest
from zhengwu.exchange.runtime import ExchangeRuntime
from zhengwu.exchange.transports import Delivery, OutboundBatch, TransportError
from zhengwu.kernel.session import unit_of_work
from zhengwu.kernel.topics import RowError


class LocalTransport:
    """Takes a batch into this node's own inbox and aggregate, in one transaction.

    The work happens in ``prepare``, on the relay's own thread between its other database work;
    ``deliver`` (run on the relay's sending thread) only hands over the outcome. A failure is kept for
    ``deliver`` to raise, so the relay blames the right batch and tries it again later.
    """

    name = "local"

    def __init__(self, runtime: ExchangeRuntime) -> None:
        self.runtime = runtime

    def prepare(self, batch: OutboundBatch) -> Delivery | TransportError:
        """Ingest the batch as if a child had sent it (sender = this node)."""
        records = [
            IncomingRecord(message_id=r.message_id, order=i, trace_id=r.trace_id, row=r.row)
            for i, r in enumerate(batch.records)
        ]
        try:
            with unit_of_work(self.runtime.session_factory) as session:
                exlog.lock_head(session)  # the first write, as a receiver's: no stale SQLite snapshot
                result = ingest(
                    session,
                    self.runtime.registry,
                    sender=self.runtime.node_id,
                    division_code=self.runtime.settings.division_code,
                    batch_id=batch.batch_id,
                    topic_name=batch.topic,
                    table_name=batch.table,
                    records=records,
                )
        except OperationalError as exc:  # the database is busy or away: the relay tries again later
            return TransportError(f"local ingest failed: {type(exc).__name__}", transient=True)
        return Delivery(
            accepted=frozenset(v.row_guid for v in result.verdicts if v.applied),
            rejected={
                v.row_guid: RowError(v.code or "invalid", v.reason or "", v.column)
                for v in result.verdicts
                if not v.applied
            },
            peer=self.runtime.node_id,
        )

    def deliver(self, prepared: Any) -> Delivery:
        """The outcome of ``prepare`` (raises its TransportError)."""
        if isinstance(prepared, TransportError):
            raise prepared
        outcome: Delivery = prepared
        return outcome

    def send(self, batch: OutboundBatch) -> Delivery:
        """Prepare and deliver."""
        return self.deliver(self.prepare(batch))

    def close(self) -> None:
        """Nothing to release."""
