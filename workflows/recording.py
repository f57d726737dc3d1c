"""What every process workflow shares: deciding a command, recording its events, keeping the head.

The order is always decide -> record (local activity, durable in PostgreSQL) -> evolve, so the state a
workflow acts on never runs ahead of the record. The workflow keeps its stream's head (version and
hash), which anchors the hash chain in Temporal's history as well as in the database.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.store import APPEND_EVENTS, AppendRequest
    from events.rules import DomainEvent, Refused
    from events.store import GENESIS_HASH, NewEvent, Receipt, StreamHead

T = TypeVar("T")

APPEND_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=5))


def refusal(error: Refused) -> ApplicationError:
    """A refusal as Temporal carries it to the caller: type 'Refused', details (kind, field)."""
    return ApplicationError(error.message, error.kind.value, error.field, type="Refused", non_retryable=True)


def decided(decide: Callable[..., T], *args: Any) -> T:
    """Run a decider; a refusal becomes an ApplicationError that fails the Update, not the workflow."""
    try:
        return decide(*args)
    except Refused as error:
        raise refusal(error) from None


def empty_head(stream_id: str) -> StreamHead:
    return StreamHead(stream_id=stream_id, version=0, hash=GENESIS_HASH.hex())


def event_payload(event: DomainEvent) -> dict[str, Any]:
    return event.model_dump(mode="json", exclude={"type"})


class EventStream:
    """A workflow's own stream in the event store."""

    def __init__(self, head: StreamHead):
        self.head = head

    async def record(self, events: Sequence[DomainEvent], *, actor: str, cause: str | None = None) -> list[Receipt]:
        info = workflow.info()
        update = workflow.current_update_info()
        causation = cause or (f"update:{update.id}" if update else f"workflow:{info.run_id}")
        new = [
            NewEvent(
                event_id=workflow.uuid4(),
                event_type=event.type,
                data=event_payload(event),
                metadata={
                    "actor": actor,
                    "workflow_id": info.workflow_id,
                    "run_id": info.run_id,
                    "correlation_id": info.workflow_id,
                    "causation_id": causation,
                    "schema_version": type(event).schema_version,
                },
            )
            for event in events
        ]
        receipts: list[Receipt] = await workflow.execute_local_activity(
            APPEND_EVENTS,
            AppendRequest(stream_id=self.head.stream_id, expected_version=self.head.version, events=new),
            result_type=list[Receipt],
            start_to_close_timeout=timedelta(seconds=30),
            schedule_to_close_timeout=timedelta(minutes=2),
            retry_policy=APPEND_RETRY,
        )
        last = receipts[-1]
        self.head = StreamHead(stream_id=self.head.stream_id, version=last.stream_version, hash=last.hash)
        return receipts
