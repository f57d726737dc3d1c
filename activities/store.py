"""The append activity: the only way a workflow's events reach the event store.

It runs as a local activity (cheap: no extra round trip through the Temporal server). Event ids are
chosen deterministically by the workflow, so a retried attempt whose first try committed is recognised
by the store and writes nothing. Notification outbox rows are written in the same transaction.
"""

from __future__ import annotations

import uuid

import asyncpg
from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.notify import WITH_WEBHOOK_SQL
from events.store import ConcurrencyError, EventStore, NewEvent, Receipt

APPEND_EVENTS = "append_events"


class OutboxNotice(BaseModel):
    event_id: uuid.UUID
    alliance_id: str
    member_id: str
    kind: str
    message: str

    @property
    def notification_id(self) -> uuid.UUID:
        # Deterministic, so a retried append can never write a notification twice.
        return uuid.uuid5(self.event_id, self.member_id)


class AppendRequest(BaseModel):
    stream_id: str
    expected_version: int
    events: list[NewEvent]
    notifications: list[OutboxNotice] = []


class AppendResult(BaseModel):
    receipts: list[Receipt]
    notification_ids: list[uuid.UUID]


class StoreActivities:
    def __init__(self, store: EventStore):
        self.store = store

    @activity.defn(name=APPEND_EVENTS)
    async def append_events(self, request: AppendRequest) -> AppendResult:
        async def write_outbox(conn: asyncpg.Connection) -> None:
            await conn.executemany(
                "INSERT INTO accord.notifications"
                " (notification_id, event_id, stream_id, alliance_id, member_id, kind, message)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (notification_id) DO NOTHING",
                [
                    (n.notification_id, n.event_id, request.stream_id, n.alliance_id, n.member_id, n.kind, n.message)
                    for n in request.notifications
                ],
            )

        try:
            receipts = await self.store.append(
                request.stream_id,
                request.expected_version,
                request.events,
                extra=write_outbox if request.notifications else None,
            )
        except ConcurrencyError as error:
            # Retrying cannot help: someone else wrote to this process's stream.
            raise ApplicationError(str(error), type="ConcurrencyError", non_retryable=True) from error
        except ValueError as error:
            # Nor when an event cannot be recorded at all (e.g. a number JSON cannot carry exactly).
            raise ApplicationError(f"the events cannot be recorded: {error}", type="InvalidEvent", non_retryable=True) from error
        return AppendResult(receipts=receipts, notification_ids=await self._deliverable(request.notifications))

    async def _deliverable(self, notices: list[OutboxNotice]) -> list[uuid.UUID]:
        """The notifications worth a delivery activity: those whose member has a webhook. The others
        wait in the outbox for the member to read them; no activity is scheduled for nothing."""
        if not notices:
            return []
        alliance_id = notices[0].alliance_id
        members = sorted({n.member_id for n in notices})
        rows = await self.store.pool.fetch(WITH_WEBHOOK_SQL, alliance_id, members)
        with_webhook = {r["member_id"] for r in rows}
        return [n.notification_id for n in notices if n.member_id in with_webhook]
