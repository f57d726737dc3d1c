"""What every process workflow shares: a group-committing command queue over its event stream.

The order is always decide -> record (local activity, durable in PostgreSQL) -> evolve, so the state a
workflow acts on never runs ahead of the record. Commands that arrive together (many members taking
stances at once) are decided one after another against the provisional state and recorded in ONE
append: a group commit, which is what keeps recording cheap under load. The workflow keeps its
stream's head (version and hash), anchoring the hash chain in Temporal's history as well.

A workflow task can be lost after its append committed (the worker dies, or Temporal is down when the
task's completion is sent). Its next attempt decides again, at another moment, perhaps with other
commands, and finds the stream beyond its head: it adopts what the earlier attempt recorded (evolving
from the stored events, answering the commands that caused them) and decides the rest on top. What the
store holds and this process did not record puts the process in quarantine. docs/design.md, "The
commit protocol", gives the argument.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, TypeAlias, TypeVar
from uuid import UUID

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from activities.notify import DELIVER_NOTIFICATIONS
    from activities.store import (
        APPEND_EVENTS,
        NOTIFY_QUARANTINE,
        AppendRequest,
        AppendResult,
        OutboxNotice,
        QuarantineNotice,
    )
    from events.processes import process_of
    from events.rules import DomainEvent, Notice, Refused, model_summary
    from events.store import GENESIS_HASH, NewEvent, Receipt, StoredEvent, StreamHead
    from workflows.shapes import Carried, Quarantine

S = TypeVar("S")
"""A process's state (a process has none before its first event)."""
E = TypeVar("E", bound=DomainEvent)
"""A process's events."""
T = TypeVar("T")

APPEND_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=300), maximum_attempts=2)
APPEND_TIMEOUT = timedelta(seconds=2)
"""One local append: two tries of at most 2 s each, well inside the 8 s after which Temporal's core
would complete the workflow task early to keep it alive (10 s task timeout x 0.8; core does not enforce
a local activity's schedule-to-close timeout across retries, measured: 100 tries in 100 s). Such a
"heartbeat" can make a replay see other times than the first run saw, so it must not happen; a longer
outage of the store is waited out with a workflow timer between appends of the same events."""

APPEND_BACKOFF = (1, 2, 4, 8, 15, 30)
"""Seconds between appends while the store does not take them; the last repeats."""
DELIVERY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5), backoff_coefficient=2, maximum_interval=timedelta(minutes=10), maximum_attempts=10
)

CLOCK_RETRY = timedelta(seconds=30)

ONE_TIMER_PER_DUE = "one-timer-per-due"
"""Patch: a due time keeps one timer across commits (runs recorded before it replay the old way)."""

DETERMINISTIC_TIMES = "deterministic-times"
"""Patch: the clock decides at the due time it waited for, and its loop never compares a due time with
`workflow.now()`. A query that reaches a worker without the run in its cache makes that worker rebuild
the run and carry on with events the history holds after the last completed task (a fired timer) with
`workflow.now()` still at that task's time, seen 42 s behind; a decision taken then differs from the
one a replay takes at the task's real time, and the history stops replaying."""

SOON = timedelta(milliseconds=1)
"""The timer of a due time that is already past: a timer all the same, so that whether one is started
never depends on the time a task sees."""

CLOCK = "timer"
"""The cause of the events the clock decides (reminders, deadlines, escalations)."""

QUARANTINED = "quarantined"
"""The stage search attribute of a process in quarantine."""

ROUNDS = 20
"""Rounds of adopting and deciding again that one batch may take before its commands fail."""

ADOPTED_KEPT = 1000
"""How many answers to commands whose events were adopted a process keeps for their callers' retries."""

Decision: TypeAlias = Callable[[S | None, datetime], Sequence[E]]
"""A command bound to its arguments: (state, now) -> events, or raises Refused."""


Notify: TypeAlias = Callable[[S, E], Sequence[Notice]]
"""(state after the event, event) -> notices."""


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
class _Pending(Generic[S, E]):
    decide: Decision[S, E]
    actor: str
    cause: str
    future: asyncio.Future[list[Receipt]]


@dataclass
class _Round(Generic[S, E]):
    """One decision round of a batch: the state it leads to and what it would record."""

    state: S | None
    accepted: list[tuple[_Pending[S, E], list[NewEvent]]] = field(default_factory=list[tuple[_Pending[S, E], list[NewEvent]]])
    refused: list[tuple[_Pending[S, E], ApplicationError]] = field(default_factory=list[tuple[_Pending[S, E], ApplicationError]])
    notices: list[OutboxNotice] = field(default_factory=list[OutboxNotice])

    @property
    def events(self) -> list[NewEvent]:
        return [event for _, mine in self.accepted for event in mine]


@dataclass
class Committer(Generic[S, E]):
    """A workflow's event stream and the queue of commands waiting to be recorded on it."""

    head: StreamHead
    state: S | None
    evolve: Callable[[S | None, E], S]
    alliance_id: Callable[[S], str] = lambda state: ""
    notify: Notify[S, E] | None = None
    coordinators: Callable[[S], list[str]] = lambda state: []
    carried: Carried = field(default_factory=Carried)
    commits: int = 0
    """Batches recorded (or adopted) in this run; the run loop waits on it to notice that the state moved."""
    quarantine: Quarantine | None = None
    fixed_times: bool = False
    """DETERMINISTIC_TIMES applies to this run (`begin` asks, first thing in the run)."""
    _pending: list[_Pending[S, E]] = field(default_factory=list[_Pending[S, E]])
    _flushing: bool = False
    _flushed: asyncio.Task[None] | None = None
    """The task that records what is queued (kept, so that it is not collected while it runs)."""
    _deliveries: list[asyncio.Future[Any]] = field(default_factory=list[asyncio.Future[Any]])
    _alarm: asyncio.Future[None] | None = None
    _alarm_due: datetime | None = None
    _adopted_ids: set[UUID] = field(default_factory=set[UUID])
    """Ids of the events adopted in this run: a later attempt's draws repeat them, so they are skipped."""

    def begin(self) -> None:
        """First thing in a run: ask for the run's patches before any command, so that their markers
        never follow a local activity's in a task (a query rebuilding the run on a fresh worker was seen
        to fail on a patch marker recorded right after a local activity's failure)."""
        self.fixed_times = workflow.patched(DETERMINISTIC_TIMES)

    async def deliveries_done(self) -> None:
        """Wait for webhook deliveries; a delivery that finally fails is recorded, not fatal."""
        await asyncio.gather(*self._deliveries, return_exceptions=True)

    async def settled(self) -> None:
        """Wait until nothing is queued or being recorded, every handler is done, and deliveries too:
        the moment a run may end or continue as new."""
        await workflow.wait_condition(lambda: self.idle and workflow.all_handlers_finished())
        self.drop_alarm()
        await self.deliveries_done()

    # --- the clock ---------------------------------------------------------------------------------

    async def wait_for_clock(self, due: datetime | None, strike: Callable[[S, datetime], Sequence[E]]) -> None:
        """Sleep until `due` (the state's next timer) or until a commit changes the state; when the
        time comes, submit the clock's decision. Timers thus always come from the recorded state.
        A quarantined process keeps no timer: nothing is due until it is resumed."""
        if self.quarantine is not None:
            self.drop_alarm()
            await workflow.wait_condition(lambda: self.quarantine is None)
            return
        commits = self.commits

        def moved() -> bool:
            return self.commits != commits or self.quarantine is not None

        decide: Decision[S, E] = lambda state, now: strike(_present(state), now)
        if self.fixed_times:
            if not await self._alarm_rang(due, moved, compare_now=False):
                return
            assert due is not None  # the alarm rings only for a due time
            decide = lambda state, _now: strike(_present(state), due)  # the due time, not the task's
        elif workflow.patched(ONE_TIMER_PER_DUE):
            if not await self._alarm_rang(due, moved):
                return
        else:
            # As runs recorded before ONE_TIMER_PER_DUE did it: a new timer each time round, so every
            # commit cancelled the deadline's timer and started it again.
            delay = due - workflow.now() if due is not None else None
            if delay is None or delay > timedelta(0):
                try:
                    await workflow.wait_condition(lambda: self.commits != commits, timeout=delay)
                    return
                except TimeoutError:
                    pass
        try:
            if await self.submit(decide, "accord", CLOCK):
                return
            await workflow.sleep(timedelta(seconds=1))  # nothing was due after all: never spin
        except ApplicationError as error:
            if error.type == "Quarantined":
                return
            # The store refused the clock's events outright (nothing else ends a submit without
            # receipts): the state did not move, so the same timer is due again; try again later.
            workflow.logger.warning("recording the clock's events failed, retrying: %s", error)
            await workflow.sleep(CLOCK_RETRY)

    async def _alarm_rang(self, due: datetime | None, moved: Callable[[], bool], *, compare_now: bool = True) -> bool:
        """Wait until `due` or until `moved()`; True if `due` came. One timer serves a due time for as
        long as it stays the state's next: commits that leave it in place (stances, mostly) neither
        cancel nor restart it, which would cost the Temporal server two timer tasks per commit.
        Without `compare_now` (DETERMINISTIC_TIMES) a due time already past gets a timer too."""
        if due is None:
            self.drop_alarm()
            await workflow.wait_condition(moved)
            return False
        if compare_now and due <= workflow.now():
            self.drop_alarm()
            return True
        if self._alarm is None or self._alarm_due != due:
            self.drop_alarm()
            self._alarm_due = due
            self._alarm = asyncio.ensure_future(workflow.sleep(max(due - workflow.now(), SOON)))
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

    # --- commands ----------------------------------------------------------------------------------

    def already_recorded(self) -> bool:
        """For an Update's validator: refuse at once while quarantined; True when the Update's events
        were recorded by a lost attempt of an earlier task and adopted (its caller is sending it again),
        so it must be accepted without deciding it anew."""
        if self.quarantine is not None:
            raise self.quarantine.error()
        update = workflow.current_update_info()
        return update is not None and f"update:{update.id}" in self.carried.adopted

    async def keep(self, decide: Callable[[S, datetime], Sequence[E]], actor: str, cause: str) -> None:
        """Record what the workflow decided by itself (a signal's news, a child's outcome), which no caller
        waits for and which cannot be refused back: tried again every CLOCK_RETRY while the store does not
        take it, and after a quarantine once the process is resumed; a refusal by the decider is logged."""
        while True:
            try:
                await self.submit(lambda state, now: decide(_present(state), now), actor, cause)
                return
            except ApplicationError as error:
                if error.type == "Refused":
                    workflow.logger.warning("%s refused: %s", cause, error.message)
                    return
                if error.type == "Quarantined":
                    await workflow.wait_condition(lambda: self.quarantine is None)
                    continue
                workflow.logger.warning("recording for %s failed, retrying: %s", cause, error)
                await workflow.sleep(CLOCK_RETRY)

    async def submit(self, decide: Decision[S, E], actor: str, cause: str | None = None) -> list[Receipt]:
        """Queue a command; returns its receipts once its events are durable (raises if refused).

        `cause` names what the command answers, in the events' metadata: an Update (by default, inside
        an Update handler), the clock, or something the workflow itself does. It is how an adopted
        event finds the command it answers, so no two commands in flight share one (but the clock's)."""
        if cause is None:
            update = workflow.current_update_info()
            cause = f"update:{update.id}" if update else CLOCK
        if self.quarantine is not None:
            raise self.quarantine.error()
        answered = self.carried.adopted.pop(cause, None)
        if answered is not None:
            return answered
        future: asyncio.Future[list[Receipt]] = asyncio.get_running_loop().create_future()
        self._pending.append(_Pending[S, E](decide, actor, cause, future))
        if not self._flushing:
            self._flushing = True
            self._flushed = asyncio.create_task(self._flush())
        return await future

    @property
    def idle(self) -> bool:
        return not self._flushing and not self._pending

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    await self._commit(batch)
                except Exception as error:  # noqa: BLE001 - a defect, not an outcome: still, every caller gets an answer
                    workflow.logger.exception("recording a batch of %d command(s) failed", len(batch))
                    _fail(batch, ApplicationError(f"accord could not record the command: {error}", type="InternalError"))
        finally:
            self._flushing = False

    async def _commit(self, batch: list[_Pending[S, E]]) -> None:
        """Decide the batch and record it; when the store is found beyond the head, adopt what it holds
        and decide again what remains. Every command of the batch gets its answer here."""
        queue = batch
        for _ in range(ROUNDS):
            if not queue:
                return
            if self.quarantine is not None:
                _fail(queue, self.quarantine.error())
                return
            decision = self._decide(queue, workflow.now())
            if not decision.accepted:
                _answer(decision, [])
                return
            result = await self._append(decision)
            if result is None:
                return
            if result.receipts:
                self._recorded(decision.state, result)
                _answer(decision, result.receipts)
                return
            if not result.ahead and result.broken is None:
                break  # the store said neither yes nor what it holds: not an outcome to act on
            queue = self._adopt(result, queue)
        _fail(queue, ApplicationError("the event could not be recorded: the event store's answers did not settle", type="RecordingFailed"))

    def _decide(self, queue: list[_Pending[S, E]], now: datetime) -> _Round[S, E]:
        decision = _Round[S, E](state=self.state)
        for item in queue:
            try:
                events = list(item.decide(decision.state, now))
            except Refused as error:
                decision.refused.append((item, refusal(error)))
                continue
            except Exception as error:  # noqa: BLE001 - a defect in a decider: that command fails, the others go on
                workflow.logger.exception("deciding a command failed")
                decision.refused.append((item, ApplicationError(f"accord could not decide the command: {error}", type="InternalError")))
                continue
            mine: list[NewEvent] = []
            for event in events:
                new = self._new_event(event, item.actor, item.cause)
                after = decision.state = self.evolve(decision.state, event)  # the notices read the state it leads to
                if self.notify is not None:
                    decision.notices += [
                        OutboxNotice(
                            event_id=new.event_id, alliance_id=self.alliance_id(after),
                            member_id=n.member_id, kind=n.kind, message=n.message,
                        )
                        for n in self.notify(after, event)
                    ]
                mine.append(new)
            decision.accepted.append((item, mine))
        return decision

    async def _append(self, decision: _Round[S, E]) -> AppendResult | None:
        """The append; None when it failed for good (its commands have their answer then).

        While the store does not answer (PostgreSQL down, a network partition) the same request is
        sent again after a timer, for as long as it takes: the commands wait, recorded exactly once
        when the store is back (their callers give up waiting on their own, told the outcome is
        unknown). Only events the store refuses outright fail their commands."""
        request = AppendRequest(
            stream_id=self.head.stream_id, expected_version=self.head.version, expected_hash=self.head.hash,
            events=decision.events, notifications=decision.notices,
        )
        for attempt in itertools.count():
            try:
                result: AppendResult = await workflow.execute_local_activity(
                    APPEND_EVENTS, request, result_type=AppendResult,
                    start_to_close_timeout=APPEND_TIMEOUT, retry_policy=APPEND_RETRY,
                )
                return result
            except FailureError as error:
                # The local activity's failure arrives as the ApplicationError it raised, or wrapped in
                # an ActivityError (a timeout, say).
                cause = error if isinstance(error, ApplicationError) else error.cause
                if isinstance(cause, ApplicationError) and cause.type == "InvalidEvent":
                    await self._invalid(decision, cause)
                    return None
                pause = APPEND_BACKOFF[min(attempt, len(APPEND_BACKOFF) - 1)]
                workflow.logger.warning(
                    "the event store did not take %d event(s) (attempt %d); trying again in %d s: %s",
                    len(request.events), attempt + 1, pause, cause,
                )
                await workflow.sleep(timedelta(seconds=pause))
        raise AssertionError("unreachable")

    async def _invalid(self, decision: _Round[S, E], cause: ApplicationError) -> None:
        """The store refused the events outright (nothing was written): one command's events cannot be
        stored. Each command is recorded on its own then, so the others do not fail with it."""
        if len(decision.accepted) > 1:
            for item, _ in decision.accepted:
                await self._commit([item])
        else:
            _fail([item for item, _ in decision.accepted], ApplicationError(
                f"the store cannot record this command's events ({cause.message}); nothing was recorded",
                type="Unrecordable", non_retryable=True,
            ))
        _answer_refused(decision)

    def _recorded(self, state: S | None, result: AppendResult) -> None:
        last = result.receipts[-1]
        self.head = StreamHead(stream_id=self.head.stream_id, version=last.stream_version, hash=last.hash)
        self.state = state
        self.commits += 1
        self._deliver(result.notification_ids)

    def _deliver(self, notification_ids: list[Any]) -> None:
        if notification_ids:
            self._deliveries.append(
                workflow.start_activity(
                    DELIVER_NOTIFICATIONS,
                    notification_ids,
                    start_to_close_timeout=timedelta(seconds=60),
                    retry_policy=DELIVERY_RETRY,
                )
            )

    # --- adoption and quarantine -------------------------------------------------------------------

    def _adopt(self, result: AppendResult, queue: list[_Pending[S, E]]) -> list[_Pending[S, E]]:
        """Take the events an earlier attempt of this run recorded as this process's own, answer the
        commands that caused them, and return the commands still to decide. A stored event this run
        did not record, or cannot fold, quarantines the process instead (the events before it are kept)."""
        answers: dict[str, list[Receipt]] = {}
        for stored in result.ahead:
            problem = self._not_ours(stored)
            if problem is None:
                try:
                    self.state = self.evolve(self.state, self._parse(stored))
                except Exception as error:  # noqa: BLE001 - whatever the reason, the process cannot take this event as its own
                    problem = f"it does not fold into the process: {_why(error)}"
            if problem is not None:
                self._enter_quarantine(Quarantine(
                    stream_id=self.head.stream_id, version=stored.stream_version, event_type=stored.event_type, reason=problem,
                ))
                break
            self.head = StreamHead(stream_id=self.head.stream_id, version=stored.stream_version, hash=stored.hash)
            self._adopted_ids.add(stored.event_id)
            answers.setdefault(str(stored.metadata.get("causation_id")), []).append(stored.receipt())
        if answers:
            self.commits += 1
            self._deliver(result.notification_ids)
            workflow.logger.warning(
                "adopted %d event(s) that an earlier attempt recorded, up to version %d",
                sum(len(r) for r in answers.values()), self.head.version,
            )
        if result.broken is not None and self.quarantine is None:
            self._enter_quarantine(Quarantine(stream_id=self.head.stream_id, **result.broken.model_dump()))
        remaining: list[_Pending[S, E]] = []
        for item in queue:
            answer = answers.pop(item.cause, None)
            if answer is not None:
                item.future.set_result(answer)
            else:
                remaining.append(item)
        for item in list(self._pending):
            answer = answers.pop(item.cause, None)
            if answer is not None:
                self._pending.remove(item)
                item.future.set_result(answer)
        answers.pop(CLOCK, None)  # the clock decides afresh from the state: nothing to keep for it
        self._keep_answers(answers)
        return remaining

    def _keep_answers(self, answers: dict[str, list[Receipt]]) -> None:
        """Keep answers whose commands are not here (an Update the server lost and its caller will send
        again, a signal still to come), the newest `ADOPTED_KEPT`."""
        adopted = {**self.carried.adopted, **answers}
        self.carried.adopted = dict(list(adopted.items())[-ADOPTED_KEPT:])

    def _not_ours(self, stored: StoredEvent) -> str | None:
        info = workflow.info()
        recorded_by = (stored.metadata.get("workflow_id"), stored.metadata.get("run_id"))
        if recorded_by == (info.workflow_id, info.run_id):
            return None
        if recorded_by == (None, None):
            return "this process did not record it (its metadata names no workflow)"
        return (
            f"this process did not record it (its metadata names workflow {recorded_by[0]!r}, run {recorded_by[1]!r}; "
            f"the process is run {info.run_id!r})"
        )

    def _parse(self, stored: StoredEvent) -> Any:
        schema_version = int(stored.metadata.get("schema_version", 1))
        return process_of(self.head.stream_id).event(stored.event_type, schema_version, stored.data)

    def _enter_quarantine(self, finding: Quarantine) -> None:
        from workflows import search

        self.quarantine = finding
        self.drop_alarm()
        _upsert_search_attributes([search.STAGE.value_set(QUARANTINED)])
        workflow.logger.error("%s", finding.message)
        pending, self._pending = self._pending, []
        _fail(pending, finding.error())
        notice = QuarantineNotice(
            stream_id=finding.stream_id, alliance_id=self.alliance_id(self.state) if self.state is not None else "",
            members=self.coordinators(self.state) if self.state is not None else [], message=finding.message,
            key=f"{finding.version}:{finding.reason}",
        )
        self._deliveries.append(asyncio.ensure_future(self._notify_quarantine(notice)))

    async def _notify_quarantine(self, notice: QuarantineNotice) -> None:
        if not notice.members:
            return
        deliverable = await workflow.execute_activity(
            NOTIFY_QUARANTINE, notice, result_type=list, start_to_close_timeout=timedelta(seconds=60),
            retry_policy=DELIVERY_RETRY,
        )
        self._deliver(deliverable)

    async def resume(self) -> Quarantine | None:
        """Look at the stream again (an operator repaired it): adopt what this run recorded, and leave
        quarantine if nothing else is there. Returns the finding that still holds, if any."""
        finding = self.quarantine
        if finding is None:
            return None
        await workflow.wait_condition(lambda: self.idle)
        result = await self._append(_Round[S, E](state=self.state))  # no events: it only looks
        if result is None:
            return finding  # the store did not answer: nothing is known, nothing changes
        self.quarantine = None
        if result.ahead or result.broken:
            self._adopt(result, [])
        if self.quarantine is None:
            publish_stage("active", None)  # until the process's run loop publishes its own stage
            self.commits += 1  # the run loop looks at the state again
        return self.quarantine

    def _new_event(self, event: E, actor: str, cause: str) -> NewEvent:
        info = workflow.info()
        # A task attempt draws the same ids as the lost attempts before it (the random sequence replays);
        # those drawn for events that were adopted are taken already.
        event_id = workflow.uuid4()
        while event_id in self._adopted_ids:
            event_id = workflow.uuid4()
        return NewEvent(
            event_id=event_id,
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


def _present(state: S | None) -> S:
    """The state of a process that has one: the clock, signals and children act only after its first event."""
    if state is None:
        raise ValueError("the process has no state yet")
    return state


def _fail(items: Sequence[_Pending[Any, Any]], error: ApplicationError) -> None:
    for item in items:
        if not item.future.done():
            item.future.set_exception(error)


def _answer(decision: _Round[Any, Any], receipts: list[Receipt]) -> None:
    """Give each accepted command its receipts (in order) and each refused one its refusal."""
    offset = 0
    for item, mine in decision.accepted:
        item.future.set_result(receipts[offset : offset + len(mine)])
        offset += len(mine)
    _answer_refused(decision)


def _answer_refused(decision: _Round[Any, Any]) -> None:
    for item, error in decision.refused:
        if not item.future.done():
            item.future.set_exception(error)


def _why(error: BaseException) -> str:
    if isinstance(error, ValidationError):
        return model_summary(error)[0]
    if isinstance(error, Refused):
        return error.message
    return f"{type(error).__name__}: {error}"


def publish_stage(stage: str, deadline: datetime | None) -> None:
    """Keep the search attributes (stage, deadline) in step with a process's state."""
    from workflows import search

    current = workflow.info().typed_search_attributes
    updates: list[SearchAttributeUpdate[Any]] = []
    if current.get(search.STAGE) != stage:
        updates.append(search.STAGE.value_set(stage))
    if deadline is not None and current.get(search.DEADLINE) != deadline:
        updates.append(search.DEADLINE.value_set(deadline))
    if updates:
        _upsert_search_attributes(updates)


def _upsert_search_attributes(updates: Sequence[SearchAttributeUpdate[Any]]) -> None:
    workflow.upsert_search_attributes(updates)  # pyright: ignore[reportUnknownMemberType]  # temporalio: the updates' value type is unparameterised
