"""The append activity: the only way a workflow's events reach the event store.

It runs as a local activity (cheap: no extra round trip through the Temporal server) and appends after
the head the workflow holds, version and hash (`EventStore.append_after`). When the stream is already
beyond that head (an earlier attempt of the same workflow task recorded, and the task was lost), nothing
is written: the events found there come back for the workflow to adopt (docs/design.md, "The commit
protocol"). Notification outbox rows are written in the same transaction as the events.
"""

from __future__ import annotations

import uuid

import asyncpg
from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.notify import REACHABLE_SQL
from events.store import Break, Connection, EventStore, NewEvent, Receipt, StoredEvent, StreamHead

APPEND_EVENTS = "append_events"
NOTIFY_QUARANTINE = "notify_quarantine"


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
    expected_hash: str
    """The hash of the event at `expected_version` (the genesis hash for an empty stream)."""
    events: list[NewEvent]
    notifications: list[OutboxNotice] = []

    @property
    def head(self) -> StreamHead:
        return StreamHead(stream_id=self.stream_id, version=self.expected_version, hash=self.expected_hash)


class AppendResult(BaseModel):
    receipts: list[Receipt]
    notification_ids: list[uuid.UUID]
    ahead: list[StoredEvent] = []
    """Events stored after the workflow's head instead of its own (none of its events were written)."""
    broken: Break | None = None
    """Where the stream stops following the workflow's head, when it does."""


class QuarantineNotice(BaseModel):
    """Tell a process's coordinators that it stopped: one notification each, once per finding."""

    stream_id: str
    alliance_id: str
    members: list[str]
    message: str
    key: str
    """Identifies the finding, so that a retried or repeated notice is written once."""


class StoreActivities:
    def __init__(self, store: EventStore):
        self.store = store

    @activity.defn(name=APPEND_EVENTS)
    async def append_events(self, request: AppendRequest) -> AppendResult:
        async def write_outbox(conn: Connection) -> None:
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
            outcome = await self.store.append_after(
                request.head, request.events, extra=write_outbox if request.notifications else None
            )
        except (ValueError, asyncpg.DataError) as error:
            # Retrying cannot help when an event cannot be recorded at all (a number JSON cannot carry, text
            # PostgreSQL cannot store).
            raise ApplicationError(f"the events cannot be recorded: {error}", type="InvalidEvent", non_retryable=True) from error
        if outcome.receipts:
            return AppendResult(receipts=outcome.receipts, notification_ids=await self._deliverable(request.notifications))
        adopted = [event.event_id for event in outcome.ahead]
        return AppendResult(
            receipts=[], notification_ids=await self._deliverable_for(adopted), ahead=outcome.ahead, broken=outcome.broken
        )

    @activity.defn(name=NOTIFY_QUARANTINE)
    async def notify_quarantine(self, notice: QuarantineNotice) -> list[uuid.UUID]:
        """Write the coordinators' notifications of a quarantine; returns those worth a delivery."""
        rows = [
            (uuid.uuid5(uuid.NAMESPACE_URL, f"accord:{notice.stream_id}:{notice.key}:{member}"), member)
            for member in notice.members
        ]
        await self.store.pool.executemany(
            "INSERT INTO accord.notifications (notification_id, stream_id, alliance_id, member_id, kind, message)"
            " VALUES ($1, $2, $3, $4, 'quarantined', $5) ON CONFLICT (notification_id) DO NOTHING",
            [(nid, notice.stream_id, notice.alliance_id, member, notice.message) for nid, member in rows],
        )
        reachable = await self._reachable(notice.alliance_id, notice.members)
        return [nid for nid, member in rows if member in reachable]

    async def _reachable(self, alliance_id: str, members: list[str]) -> set[str]:
        rows = await self.store.pool.fetch(REACHABLE_SQL, alliance_id, sorted(set(members)))
        return {r["member_id"] for r in rows}

    async def _deliverable(self, notices: list[OutboxNotice]) -> list[uuid.UUID]:
        """The notifications worth a delivery activity: those whose member has a webhook or an address.
        The others wait in the outbox for the member to read them; no activity is scheduled for nothing."""
        if not notices:
            return []
        reachable = await self._reachable(notices[0].alliance_id, [n.member_id for n in notices])
        return [n.notification_id for n in notices if n.member_id in reachable]

    async def _deliverable_for(self, event_ids: list[uuid.UUID]) -> list[uuid.UUID]:
        """:meth:`_deliverable` for notifications already in the outbox (those of adopted events)."""
        if not event_ids:
            return []
        rows = await self.store.pool.fetch(
            "SELECT notification_id, alliance_id, member_id FROM accord.notifications"
            " WHERE event_id = ANY($1::uuid[]) AND delivered_at IS NULL ORDER BY notification_id",
            event_ids,
        )
        if not rows:
            return []
        reachable = await self._reachable(rows[0]["alliance_id"], [r["member_id"] for r in rows])
        return [r["notification_id"] for r in rows if r["member_id"] in reachable]
