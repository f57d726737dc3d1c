"""The append activity: the only way a workflow's events reach the event store.

It runs as a local activity (cheap: no extra round trip through the Temporal server). Event ids are
chosen deterministically by the workflow, so a retried attempt whose first try committed is recognised
by the store and writes nothing.
"""

from __future__ import annotations

from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from events.store import ConcurrencyError, EventStore, NewEvent, Receipt

APPEND_EVENTS = "append_events"


class AppendRequest(BaseModel):
    stream_id: str
    expected_version: int
    events: list[NewEvent]


class StoreActivities:
    def __init__(self, store: EventStore):
        self.store = store

    @activity.defn(name=APPEND_EVENTS)
    async def append_events(self, request: AppendRequest) -> list[Receipt]:
        try:
            return await self.store.append(request.stream_id, request.expected_version, request.events)
        except ConcurrencyError as error:
            # Retrying cannot help: someone else wrote to this process's stream.
            raise ApplicationError(str(error), type="ConcurrencyError", non_retryable=True) from error
