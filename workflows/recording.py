"""What every process workflow shares: a group-committing command queue over its event stream.

The order is always decide -> record (local activity, durable in PostgreSQL) -> evolve, so the state a
workflow acts on never runs ahead of the record. Commands that arrive together (many members taking
stances at once) are decided one after another against the provisional state and recorded in ONE
append: a group commit, which is what keeps recording cheap under load. The workflow keeps its
stream's head (version and hash), anchoring the hash chain in Temporal's history as well.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.notify import DELIVER_NOTIFICATIONS
    from activities.store import APPEND_EVENTS, AppendRequest, AppendResult, OutboxNotice
    from events.rules import DomainEvent, Refused
    from events.store import GENESIS_HASH, NewEvent, Receipt, StreamHead

S = TypeVar("S")
T = TypeVar("T")

APPEND_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=5))
DELIVERY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5), backoff_coefficient=2, maximum_interval=timedelta(minutes=10), maximum_attempts=10
)

CLOCK_RETRY = timedelta(seconds=30)

ONE_TIMER_PER_DUE = "one-timer-per-due"
"""Patch: a due time keeps one timer across commits (runs recorded before it replay the old way)."""

Decision = Callable[[Any, datetime], Sequence[DomainEvent]]
"""A command bound to its arguments: (state, now) -> events, or raises Refused."""

Notify = Callable[[Any, DomainEvent], Sequence[Any]]
"""(state after the event, event) -> notices (objects with member_id, kind, message)."""


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


@dataclass
class _Pending:
    decide: Decision
    actor: str
    cause: str
    future: asyncio.Future[list[Receipt]]


@dataclass
class Committer(Generic[S]):
    """A workflow's event stream and the queue of commands waiting to be recorded on it."""

    head: StreamHead
    state: S
    evolve: Callable[[S, Any], S]
    alliance_id: Callable[[S], str] = lambda state: ""
    notify: Notify | None = None
    commits: int = 0
    """Batches recorded in this run; the run loop waits on it to notice that the state moved."""
    _pending: list[_Pending] = field(default_factory=list)
    _flushing: bool = False
    _deliveries: list[asyncio.Future[Any]] = field(default_factory=list)
    _alarm: asyncio.Future[None] | None = None
    _alarm_due: datetime | None = None

    async def deliveries_done(self) -> None:
        """Wait for webhook deliveries; a delivery that finally fails is recorded, not fatal."""
        await asyncio.gather(*self._deliveries, return_exceptions=True)

    async def settled(self) -> None:
        """Wait until nothing is queued or being recorded, every handler is done, and deliveries too:
        the moment a run may end or continue as new."""
        await workflow.wait_condition(lambda: self.idle and workflow.all_handlers_finished())
        self.drop_alarm()
        await self.deliveries_done()

    async def wait_for_clock(self, due: datetime | None, strike: Decision) -> None:
        """Sleep until `due` (the state's next timer) or until a commit changes the state; when the
        time comes, submit the clock's decision. Timers thus always come from the recorded state."""
        commits = self.commits
        if workflow.patched(ONE_TIMER_PER_DUE):
            if not await self._alarm_rang(due, lambda: self.commits != commits):
                return
        else:
            # As runs recorded before ONE_TIMER_PER_DUE did it: a new timer each time round, so every
            # commit cancelled the deadline's timer and started it again.
            delay = due - workflow.now() if due is not None else None
            if delay is None or delay > timedelta(0):
                try:
                    await workflow.wait_condition(lambda: self.commits != commits, timeout=delay)
                    return
                except asyncio.TimeoutError:
                    pass
        try:
            if await self.submit(strike, "accord"):
                return
            await workflow.sleep(timedelta(seconds=1))  # nothing was due after all: never spin
        except ApplicationError as error:
            # The store could not take the clock's events (e.g. PostgreSQL is down): the state did not
            # move, so the same timer is due again; try again shortly rather than fail the process.
            workflow.logger.warning("recording the clock's events failed, retrying: %s", error)
            await workflow.sleep(CLOCK_RETRY)

    async def _alarm_rang(self, due: datetime | None, moved: Callable[[], bool]) -> bool:
        """Wait until `due` or until `moved()`; True if `due` came. One timer serves a due time for as
        long as it stays the state's next: commits that leave it in place (stances, mostly) neither
        cancel nor restart it, which would cost the Temporal server two timer tasks per commit."""
        if due is None:
            self.drop_alarm()
            await workflow.wait_condition(moved)
            return False
        if due <= workflow.now():
            self.drop_alarm()
            return True
        if self._alarm is None or self._alarm_due != due:
            self.drop_alarm()
            self._alarm_due = due
            self._alarm = asyncio.ensure_future(workflow.sleep(due - workflow.now()))
        alarm = self._alarm
        await workflow.wait_condition(lambda: moved() or alarm.done())
        if not alarm.done():
            return False
        self.drop_alarm()
        return True

    def drop_alarm(self) -> None:
        """Cancel the timer of a due time that no longer applies (or of a run that is ending)."""
        if self._alarm is not None and not self._alarm.done():
            self._alarm.cancel()
        self._alarm, self._alarm_due = None, None

    async def submit(self, decide: Decision, actor: str) -> list[Receipt]:
        """Queue a command; returns its receipts once its events are durable (raises if refused)."""
        update = workflow.current_update_info()
        cause = f"update:{update.id}" if update else "timer"
        future: asyncio.Future[list[Receipt]] = asyncio.get_running_loop().create_future()
        self._pending.append(_Pending(decide, actor, cause, future))
        if not self._flushing:
            self._flushing = True
            asyncio.create_task(self._flush())
        return await future

    @property
    def idle(self) -> bool:
        return not self._flushing and not self._pending

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                await self._commit(batch)
        finally:
            self._flushing = False

    async def _commit(self, batch: list[_Pending]) -> None:
        now = workflow.now()
        state = self.state
        accepted: list[tuple[_Pending, list[NewEvent]]] = []
        new_events: list[NewEvent] = []
        notices: list[OutboxNotice] = []
        for item in batch:
            try:
                events = list(item.decide(state, now))
            except Refused as error:
                item.future.set_exception(refusal(error))
                continue
            mine = []
            for event in events:
                new = self._new_event(event, item.actor, item.cause)
                state = self.evolve(state, event)  # once per event: the notices read the state it leads to
                if self.notify is not None:
                    notices += [
                        OutboxNotice(
                            event_id=new.event_id, alliance_id=self.alliance_id(state),
                            member_id=n.member_id, kind=n.kind, message=n.message,
                        )
                        for n in self.notify(state, event)
                    ]
                mine.append(new)
            accepted.append((item, mine))
            new_events += mine
        if not new_events:
            for item, _ in accepted:
                item.future.set_result([])
            return
        try:
            result = await workflow.execute_local_activity(
                APPEND_EVENTS,
                AppendRequest(
                    stream_id=self.head.stream_id,
                    expected_version=self.head.version,
                    events=new_events,
                    notifications=notices,
                ),
                result_type=AppendResult,
                start_to_close_timeout=timedelta(seconds=30),
                schedule_to_close_timeout=timedelta(minutes=2),
                retry_policy=APPEND_RETRY,
            )
        except ActivityError as error:  # the store is unreachable or refused: nothing changed
            failure = ApplicationError(f"the event could not be recorded: {error}", type="RecordingFailed")
            for item, _ in accepted:
                item.future.set_exception(failure)
            return
        receipts = result.receipts
        last = receipts[-1]
        self.head = StreamHead(stream_id=self.head.stream_id, version=last.stream_version, hash=last.hash)
        self.state = state
        self.commits += 1
        if result.notification_ids:
            self._deliveries.append(
                workflow.start_activity(
                    DELIVER_NOTIFICATIONS,
                    result.notification_ids,
                    start_to_close_timeout=timedelta(seconds=60),
                    retry_policy=DELIVERY_RETRY,
                )
            )
        offset = 0
        for item, mine in accepted:
            item.future.set_result(receipts[offset : offset + len(mine)])
            offset += len(mine)

    def _new_event(self, event: DomainEvent, actor: str, cause: str) -> NewEvent:
        info = workflow.info()
        return NewEvent(
            event_id=workflow.uuid4(),
            event_type=event.type,
            data=event.model_dump(mode="json", exclude={"type"}),
            metadata={
                "actor": actor,
                "workflow_id": info.workflow_id,
                "run_id": info.run_id,
                "correlation_id": info.workflow_id,
                "causation_id": cause,
                "schema_version": type(event).schema_version,
            },
        )


def publish_stage(stage: str, deadline: datetime | None) -> None:
    """Keep the search attributes (stage, deadline) in step with a process's state."""
    from workflows import search

    current = workflow.info().typed_search_attributes
    updates = []
    if current.get(search.STAGE) != stage:
        updates.append(search.STAGE.value_set(stage))
    if deadline is not None and current.get(search.DEADLINE) != deadline:
        updates.append(search.DEADLINE.value_set(deadline))
    if updates:
        workflow.upsert_search_attributes(updates)
