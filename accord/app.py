"""The application layer: the one API that the CLI, the HTTP API, the demo and the tests all call.

It starts processes, sends commands (Temporal Updates, retried when the server's in-flight limit is
reached), reads state (queries) and reads the event store (asyncpg). Every command answers with its
receipts: stream, version, global position and hash of each event it recorded.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import inspect
import random
import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, overload

import asyncpg
from pydantic import BaseModel, TypeAdapter, ValidationError
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.workflow import UpdateMethodMultiParam

from accord.config import Settings, database_url
from accord.failures import LIBRARY_ERRORS, as_accord_error, from_workflow, transient
from accord.temporal import connect
from events import access, alliance, decision, dispute
from events.access import AUDITOR_PREFIX, Caller, Outline, Seen, TokenHolder
from events.alliance import AllianceCommand, AllianceState, AmendCharter, FoundAlliance, Role
from events.charter import windows_within_limits
from events.decision import DecisionCommand, DecisionRow, DecisionState, OpenDecision, Tally
from events.dispute import DisputeCommand, DisputeState, RaiseDispute
from events.errors import CorruptRecord, Unavailable
from events.processes import ALLIANCE, DECISION, DISPUTE, Process, parse_stream, process_of, update_name
from events.projector import listed, located, member_field, row_of, streams_of
from events.rules import Command, RefusalKind, Refused, Slug, build, conflict, invalid, not_found
from events.store import EventStore, Receipt, StreamHead, VerifyReport
from events.streams import StreamId
from events.text import clean_command, clean_text
from workflows import search
from workflows.shapes import AllianceRun, CommandResult, DecisionRun, DisputeRun

R = TypeVar("R")
"""What a workflow's Update answers."""


class IssuedToken(BaseModel):
    token_id: uuid.UUID
    alliance_id: str
    member_id: str
    label: str
    token: str
    """Shown once: only its hash is stored."""


class TokenInfo(BaseModel):
    token_id: uuid.UUID
    member_id: str
    label: str
    issued_by: str
    issued_at: datetime
    revoked_at: datetime | None


class Founded(BaseModel):
    alliance_id: str
    receipts: list[Receipt]
    token: IssuedToken


class AllianceSummary(BaseModel):
    alliance_id: str
    name: str
    founded_at: datetime
    events: int


def _token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _lost_update(error: RPCError) -> bool:
    """NOT_FOUND for the Update itself (the server lost an Update it had not yet delivered), not for
    the workflow: the same Update is sent again."""
    return error.status == RPCStatusCode.NOT_FOUND and "update" in str(error).lower()


@overload
async def send_update(
    handle: WorkflowHandle[Any, Any], update: str, *args: Any, patience: float, update_id: str | None = None,
    result_type: type[R],
) -> R: ...
@overload
async def send_update(
    handle: WorkflowHandle[Any, Any], update: UpdateMethodMultiParam[..., R], *args: Any, patience: float,
    update_id: str | None = None,
) -> R: ...
async def send_update(
    handle: WorkflowHandle[Any, Any], update: Any, *args: Any, patience: float, update_id: str | None = None,
    result_type: type | None = None,
) -> Any:
    """Send an Update under one id until Temporal answers, for at most `patience` seconds.

    The id stays the same across retries, so an Update that did arrive is never run twice (Temporal
    deduplicates it; one whose events were recorded by a lost workflow task is answered from the
    record). Retried: Temporal's refusal when too many Updates are in flight on one workflow, Temporal
    being unreachable or restarting, and an Update the server lost while the workflow still runs."""
    update_id = update_id or str(uuid.uuid4())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience
    delay = 0.05
    while True:
        try:
            return await handle.execute_update(  # pyright: ignore[reportUnknownMemberType]  # temporalio: an overload's `args` is unannotated
                update, args=list(args), id=update_id, result_type=result_type
            )
        except WorkflowUpdateRPCTimeoutOrCancelledError as error:
            last: BaseException = error
        except RPCError as error:
            if not (transient(error) or (_lost_update(error) and await _running(handle))):
                raise
            last = error
        if loop.time() + delay > deadline:
            raise Unavailable(
                f"Temporal did not confirm the command within {patience:.0f} s ({last}); it may still be "
                "recorded: look at the process before sending it again",
                outcome_unknown=True,
            ) from None
        await asyncio.sleep(delay * (1 + random.random()))
        delay = min(delay * 2, 2.0)


async def _running(handle: WorkflowHandle[Any, Any]) -> bool:
    """Whether the workflow still runs (or Temporal cannot say now); an ended one takes no Update."""
    try:
        return (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
    except RPCError as error:
        return transient(error)


C = TypeVar("C", bound=type)


def in_accords_terms(cls: C) -> C:
    """Every public coroutine method of `cls` raises accord's errors (events/errors.py) in place of what
    asyncpg or Temporal raised that accord can read: an outage is `Unavailable` for the Python API too,
    as it is for the CLI and the HTTP API."""
    for name, method in list(vars(cls).items()):
        if not name.startswith("_") and inspect.iscoroutinefunction(method):
            setattr(cls, name, _translated(method))
    return cls


def _translated(method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(method)
    async def translated(*args: Any, **kwargs: Any) -> Any:
        try:
            return await method(*args, **kwargs)
        except LIBRARY_ERRORS as error:
            known = as_accord_error(error)
            if known is None:
                raise
            raise known from error

    return translated


@in_accords_terms
@dataclass
class Accord:
    client: Client
    pool: asyncpg.Pool
    task_queue: str
    patience: float = 120.0
    """Seconds a command waits for Temporal's answer while Temporal restarts or is unreachable."""

    @property
    def store(self) -> EventStore:
        return EventStore(self.pool)

    @classmethod
    async def connect(cls, settings: Settings | None = None, *, client: Client | None = None) -> Accord:
        settings = settings or Settings()
        pool: asyncpg.Pool = await _translated(asyncpg.create_pool)(
            database_url(settings), min_size=1, max_size=settings.db_pool_size
        )
        try:
            client = client or await connect(settings)
        except BaseException:
            await pool.close()
            raise
        return cls(client=client, pool=pool, task_queue=settings.task_queue, patience=settings.command_patience)

    async def close(self) -> None:
        await self.pool.close()

    # --- commands --------------------------------------------------------------------------------

    async def _update(self, handle: WorkflowHandle[Any, Any], command: Command, command_id: str | None = None) -> CommandResult:
        """Send a command (the Update named after it) and return its result; what the workflow answered instead is raised
        as accord's error (`Refused`, `CorruptRecord` for a quarantined process, `Unavailable`).
        `command_id` names the Update: a caller that
        sends a command again under the same id gets the first one's answer, never a second recording."""
        try:
            return await send_update(
                handle, update_name(type(command)), command, patience=self.patience, update_id=command_id,
                result_type=CommandResult,
            )
        except (WorkflowUpdateFailedError, ApplicationError) as error:
            answered = from_workflow(error)
            if answered is not None:
                raise answered from None
            raise

    async def found_alliance(
        self, command: FoundAlliance, *, token_label: str = "founder"
    ) -> Founded:
        command = clean_command(command)
        windows_within_limits(command.charter)
        alliance.decide(None, command, datetime.now().astimezone())  # refuse bad input before starting anything
        result = await self._start_with_command(
            ALLIANCE,
            AllianceRun(alliance_id=command.alliance_id),
            command.alliance_id,
            command,
            alliance_id=command.alliance_id,
        )
        token = await self._insert_token(command.alliance_id, command.founder_id, token_label, command.founder_id)
        return Founded(alliance_id=command.alliance_id, receipts=result.receipts, token=token)

    async def _start_with_command(
        self,
        process: Process,
        run_arg: BaseModel,
        process_id: str,
        command: Command,
        *,
        alliance_id: str,
        attributes: tuple[SearchAttributePair[Any], ...] = (),
    ) -> CommandResult:
        """Start a process workflow and send it its first command (found, open, raise).

        Two calls rather than update-with-start: the time-skipping test server cannot skip time for a
        workflow started that way. The command was validated by the pure decider beforehand, and a
        workflow whose first command never arrives ends by itself.
        """
        workflow_id, what = str(await self._locate(process, process_id, alliance_id)), f"{process.kind} {process_id!r}"
        common = (SearchAttributePair(search.KIND, process.kind), SearchAttributePair(search.ALLIANCE, alliance_id))
        if (await self.store.head(workflow_id)).version > 0:
            raise conflict(f"{what} already exists in the event store")
        try:
            handle = await self.client.start_workflow(
                process.workflow_type,
                run_arg,
                id=workflow_id,
                task_queue=self.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                search_attributes=TypedSearchAttributes([*common, *attributes]),
            )
        except WorkflowAlreadyStartedError:
            raise conflict(f"{what} already exists") from None
        return await self._update(handle, command)

    async def start_process(
        self, process: Process, run_arg: BaseModel, process_id: str, command: Command, *, alliance_id: str
    ) -> CommandResult:
        """Start a process whose first command opens it (the costs ledger's: accord/costs.py)."""
        return await self._start_with_command(process, run_arg, process_id, command, alliance_id=alliance_id)

    async def process_command(self, stream_id: str, command: Command, command_id: str | None = None) -> CommandResult:
        """Send a command to the running process of `stream_id` (the costs ledger's: accord/costs.py)."""
        return await self._update(self.client.get_workflow_handle(stream_id), command, command_id)

    async def alliance_command(
        self, alliance_id: str, command: AllianceCommand, *, command_id: str | None = None
    ) -> CommandResult:
        """Send a command to an alliance; its decider says who may (access: an auditor never acts)."""
        access.not_an_auditor(Caller(member_id=command.actor))
        command = clean_command(command)
        if isinstance(command, AmendCharter):
            windows_within_limits(command.charter)
        handle = self.client.get_workflow_handle(ALLIANCE.stream_name(alliance_id))
        try:
            return await self._update(handle, command, command_id)
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                raise not_found(f"no alliance {alliance_id!r}") from None
            raise

    # --- decisions ---------------------------------------------------------------------------------

    async def open_decision(
        self,
        alliance_id: str,
        actor: str,
        decision_id: str,
        title: str,
        points: list[Any],
        *,
        body: str = "",
        response_window: Any = None,
    ) -> CommandResult:
        """Open a decision, pinning the charter's rules and the electorate as they are now."""
        command = await self.decision_opening(
            alliance_id, actor, decision_id, title, points, body=body, response_window=response_window
        )
        opened = decision.decide(None, command, datetime.now().astimezone())[0]
        assert isinstance(opened, decision.DecisionOpened)  # what an opening records first
        return await self._start_with_command(
            DECISION,
            DecisionRun(decision_id=decision_id),
            decision_id,
            command,
            alliance_id=alliance_id,
            attributes=(SearchAttributePair(search.STAGE, "open"), SearchAttributePair(search.DEADLINE, opened.deadline)),
        )

    async def decision_opening(
        self, alliance_id: str, actor: str, decision_id: str, title: str, points: list[Any], *,
        body: str = "", response_window: Any = None,
    ) -> OpenDecision:
        """The command that opens a decision, pinning the charter's rules and the electorate as they are
        now (refused when the actor may not open one)."""
        state = await self.alliance(alliance_id)
        windows_within_limits(state.charter)  # a charter recorded before windows were bounded: amend it first
        context = decision.pinned_context(state)
        command = build(
            OpenDecision,
            actor=actor,
            decision_id=decision_id,
            alliance_id=alliance_id,
            title=title,
            body=body,
            points=points,
            response_window=response_window,
            context=context,
        )
        _may_act_in(state, actor)
        return clean_command(command)

    async def stream_of(self, process: Process, process_id: str, alliance_id: str | None = None) -> str:
        """The name of the stream (and workflow) of `process_id` in `alliance_id`; without an alliance, of
        the one process of that id in any alliance (see `_locate`)."""
        return str(await self._locate(process, process_id, alliance_id))

    async def _locate(self, process: Process, process_id: str, alliance_id: str | None) -> StreamId:
        """The stream of `process_id` in `alliance_id` (events/streams.py): the one it was recorded under
        (scoped, or unscoped from before ids were scoped), else the scoped one a new process takes.
        Without an alliance (the operator's command line), the one process of that id in any alliance."""
        if not process.scoped:
            return process.stream(process_id)
        rows = await located(self.pool, process, process_id, alliance_id)
        if alliance_id is not None:
            return StreamId(process.kind, rows[0]["key"]) if rows else process.stream(process_id, alliance_id)
        if len(rows) == 1:
            return StreamId(process.kind, rows[0]["key"])
        if not rows:
            raise not_found(f"no {process.kind} {process_id!r}")
        alliances = ", ".join(repr(row["alliance_id"]) for row in rows)
        names = " or ".join(repr(str(StreamId(process.kind, row["key"]))) for row in rows)
        raise invalid(
            f"{process.kind} {process_id!r} is in alliances {alliances}: name one with --alliance "
            f"(decision and dispute commands), or give its stream's full name ({names})",
            "alliance",
        )

    async def _membership(self, stream: StreamId, member_id: str) -> tuple[str, str | None]:
        """The alliance of the process of `stream` and the member's status there (None: not a member),
        from the read models: one read, not workflow queries (the store never lags the workflows, which
        record before they evolve). Refused as not found when there is no such process."""
        row = await member_field(self.pool, stream, member_id, "status")
        if row is None:
            raise not_found(f"no {stream.kind} {stream.process_id!r}")
        return row["alliance_id"], row["status"]

    async def _acting_in(self, stream: StreamId, caller: Caller) -> str:
        """Refuse a caller who may not act in the process (access.may_act); returns its alliance."""
        owner, status = await self._membership(stream, caller.member_id)
        access.may_act(caller, owner, status, f"{stream.kind} {stream.process_id!r}")
        return owner

    async def _reading(self, stream: StreamId, reader: Caller | None) -> None:
        """Refuse a reader who may not read the alliance's records (access.may_read_alliance), or the
        appeal of a dispute it may not read (`_appeal_seen`); the operator (None) reads everything."""
        if reader is None:
            return
        if not process_of(stream).scoped:  # another alliance's token is refused alike whether it exists or not
            access.speaks_for(reader, stream.id, f"alliance {stream.id!r}")
        owner, status = await self._membership(stream, reader.member_id)
        access.may_read_alliance(reader, owner, status, f"{stream.kind} {stream.process_id!r}")
        await self._appeal_seen(stream, owner, reader)

    async def _appeal_seen(self, stream: StreamId, alliance_id: str, caller: Caller) -> None:
        """Refuse a caller who may not see the decision of `stream` because it is the appeal of a dispute
        (access.appeal_seen): as a decision that does not exist to who may not know of the dispute, with
        one refusal to who may see only its outline."""
        dispute_id = decision.appealed_dispute(stream.process_id) if stream.kind == DECISION.kind else None
        if dispute_id is None:
            return
        row = await row_of(self.pool, DISPUTE.listing, (await self._locate(DISPUTE, dispute_id, alliance_id)).id)
        seen = Seen.FULL if row is None else access.appeal_seen(row.row, caller)
        if seen is Seen.NOTHING:
            raise not_found(f"no decision {stream.process_id!r}")
        if seen is Seen.OUTLINE:
            raise access.outside_the_appeal(stream.process_id, dispute_id)

    async def decision_command(
        self, decision_id: str, command: DecisionCommand, *, alliance_id: str | None = None, command_id: str | None = None
    ) -> CommandResult:
        """Send a command to a decision; a suspended or removed member is refused before it is sent.

        `alliance_id` is the alliance the caller speaks for (an API token's): the decision is that
        alliance's (ids are scoped to an alliance); without it, the one decision of that id.
        """
        stream = await self._locate(DECISION, decision_id, alliance_id)
        caller = Caller(member_id=command.actor, alliance_id=alliance_id)
        await self._appeal_seen(stream, await self._acting_in(stream, caller), caller)
        command = clean_command(command)
        handle = self.client.get_workflow_handle(str(stream))
        try:
            return await self._update(handle, command, command_id)
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
        # An ended decision's workflow has completed and takes no Update: let the decider say why.
        view = await self.decision(decision_id, alliance_id=alliance_id)
        decision.decide(view.state, command, datetime.now().astimezone())
        raise conflict(f"decision {decision_id!r} has ended ({view.state.outcome})")

    async def take_stance(
        self,
        decision_id: str,
        actor: str,
        point_id: str,
        stance: str,
        *,
        reason: str | None = None,
        principle: str | None = None,
        alliance_id: str | None = None,
    ) -> CommandResult:
        """Take or change a stance (the electorate's busiest command), from loose input."""
        command = build(
            decision.TakeStance, actor=actor, point_id=point_id, stance=stance, reason=reason, principle=principle
        )
        return await self.decision_command(decision_id, command, alliance_id=alliance_id)

    async def decision(self, decision_id: str, reader: Caller | None = None, *, alliance_id: str | None = None) -> DecisionView:
        """A decision as its alliance's members (or the operator: `reader` None) see it; of the reader's
        alliance when it speaks for one (an API token), else of `alliance_id`."""
        stream = await self._locate(DECISION, decision_id, _alliance(reader, alliance_id))
        await self._reading(stream, reader)
        state: DecisionState = await self.present(stream)
        return DecisionView(
            state=state,
            tallies=[decision.tally(state, p) for p in state.active_points],
            next_due=decision.next_due(state),
            pending_members=state.pending_members() if state.is_live else [],
        )

    async def decisions(self, alliance_id: str, reader: Caller | None = None) -> list[DecisionRow]:
        """The alliance's decisions with their stage, deadline and outcome, from the `decisions` read model."""
        await self._reading(ALLIANCE.stream(alliance_id), reader)
        rows = [listed_row.row for listed_row in await listed(self.pool, DECISION.listing, alliance_id)]
        if reader is None or not any(decision.appealed_dispute(row.decision_id) for row in rows):
            return rows
        disputes = {row.row.dispute_id: row.row for row in await listed(self.pool, DISPUTE.listing, alliance_id)}
        return [seen for row in rows if (seen := _appeal_row(row, disputes, reader)) is not None]

    async def notifications(self, alliance_id: str, actor: str, member_id: str, limit: int = 100) -> list[NotificationRow]:
        """A member's notifications, newest first (the member or a coordinator may read them)."""
        await self.self_or_coordinator(alliance_id, actor, member_id, "read another member's notifications")
        rows = await self.pool.fetch(
            "SELECT notification_id, stream_id, member_id, kind, message, created_at, attempts, delivered_at,"
            " last_error FROM accord.notifications WHERE alliance_id = $1 AND member_id = $2"
            " ORDER BY created_at DESC, notification_id LIMIT $3",
            alliance_id, member_id, limit,
        )
        return [NotificationRow(**dict(row)) for row in rows]

    # --- disputes ----------------------------------------------------------------------------------

    async def raise_dispute(
        self,
        alliance_id: str,
        actor: str,
        dispute_id: str,
        respondents: list[str],
        subject: str,
        description: str,
        severity: str = "normal",
    ) -> CommandResult:
        """Raise a dispute, pinning the dispute procedure, the mediator roster and the panel pool."""
        state = await self.alliance(alliance_id)
        _may_act_in(state, actor)
        windows_within_limits(state.charter)  # a charter recorded before windows were bounded: amend it first
        context = dispute.pinned_context(state)
        command = build(
            RaiseDispute, actor=actor, dispute_id=dispute_id, alliance_id=alliance_id, respondents=respondents,
            subject=subject, description=description, severity=severity, context=context,
        )
        command = clean_command(command)
        raised = dispute.decide(None, command, datetime.now().astimezone())[0]
        assert isinstance(raised, dispute.DisputeRaised)  # what raising a dispute records first
        return await self._start_with_command(
            DISPUTE,
            DisputeRun(dispute_id=dispute_id),
            dispute_id,
            command,
            alliance_id=alliance_id,
            attributes=(
                SearchAttributePair(search.STAGE, "negotiation"),
                SearchAttributePair(search.SEVERITY, command.severity.value),
                SearchAttributePair(search.DEADLINE, raised.deadline),
            ),
        )

    async def _dispute_state(self, stream: StreamId) -> DisputeState:
        state: DisputeState = await self.present(stream)
        return state

    async def dispute_command(
        self, dispute_id: str, command: DisputeCommand, *, alliance_id: str | None = None, command_id: str | None = None
    ) -> CommandResult:
        """Send a command to a dispute. A refusal reaches the actor only if the actor may know that the
        dispute exists: anyone else gets the answer of a dispute that does not exist (access.dispute_seen)."""
        caller = Caller(member_id=command.actor, alliance_id=alliance_id)
        stream = await self._locate(DISPUTE, dispute_id, alliance_id)  # refused as access.unknown_dispute words it
        try:
            await self._acting_in(stream, caller)
            state = await self._dispute_state(stream)
            if not state.is_live:
                raise conflict(f"dispute {dispute_id!r} is {state.stage}; nothing more can happen in it")
            handle = self.client.get_workflow_handle(str(stream))
            return await self._update(handle, clean_command(command), command_id)
        except (Refused, CorruptRecord) as refusal:
            state_row = await row_of(self.pool, DISPUTE.listing, stream.id)
            seen = Seen.NOTHING if state_row is None else access.dispute_seen(state_row.row, caller)
            if seen is Seen.NOTHING:
                raise access.unknown_dispute(dispute_id) from None
            if seen is Seen.OUTLINE and isinstance(refusal, Refused):  # the decider's reason may tell what the outline keeps
                raise access.outside_the_dispute(dispute_id) from None
            raise

    async def dispute(self, dispute_id: str, reader: Caller | None, *, alliance_id: str | None = None) -> DisputeView | Outline:
        """The dispute as `reader` may see it (access.dispute_seen): in full, as an outline, or not at all
        (the answer of a dispute that does not exist); of the reader's alliance when it speaks for one."""
        stream = await self._locate(DISPUTE, dispute_id, _alliance(reader, alliance_id))
        seen = self._seen(await self._dispute_state(stream), reader)  # the workflow's own state, as a command meets it
        if seen is None:
            raise access.unknown_dispute(dispute_id)
        await self._reading(stream, reader)
        return seen

    def _seen(self, state: DisputeState, reader: Caller | None) -> DisputeView | Outline | None:
        seen = access.dispute_seen(state, reader)
        if seen is Seen.FULL:
            return DisputeView(state=state, next_due=dispute.next_due(state), must_act=state.must_act())
        return access.outline(state) if seen is Seen.OUTLINE else None

    async def disputes(self, alliance_id: str, reader: Caller | None) -> list[DisputeView | Outline]:
        """The alliance's disputes as `reader` may see them; those whose existence is kept from the reader
        are left out."""
        await self._reading(ALLIANCE.stream(alliance_id), reader)
        rows = await listed(self.pool, DISPUTE.listing, alliance_id)
        return [seen for row in rows if (seen := self._seen(row.row, reader)) is not None]

    # --- reads -----------------------------------------------------------------------------------

    async def present(self, stream: StreamId, query: str = "current", result_type: Any = None) -> Any:
        """A process's query that must answer something (its state, say): None is `not_found`."""
        what = f"{stream.kind} {stream.process_id!r}"
        result = await self.query(str(stream), query, result_type or process_of(stream).state_type, what)
        if result is None:
            raise not_found(f"no {what}")
        return result

    async def query(self, workflow_id: str, query: str, result_type: Any, what: str) -> Any:
        """A workflow's query, asked again while Temporal restarts or is unreachable (for at most
        `patience` seconds); a workflow Temporal does not know is `not_found`."""
        handle = self.client.get_workflow_handle(workflow_id)
        deadline = asyncio.get_running_loop().time() + self.patience
        while True:
            try:
                return await handle.query(query, result_type=result_type)
            except RPCError as error:
                if error.status == RPCStatusCode.NOT_FOUND:
                    raise not_found(f"no {what}") from None
                if not transient(error) or asyncio.get_running_loop().time() > deadline:
                    raise
            await asyncio.sleep(0.5)

    async def alliance(self, alliance_id: str, reader: Caller | None = None) -> AllianceState:
        """The alliance (charter, members, parked points) as its members (or the operator) see it."""
        access.speaks_for(reader, alliance_id, f"alliance {alliance_id!r}")  # before it is looked up: alike for any other alliance
        state: AllianceState = await self.present(ALLIANCE.stream(alliance_id))
        if reader is not None:
            access.may_read_alliance(reader, alliance_id, _status(state, reader.member_id))
        return access.settings_seen(state, reader)

    async def alliance_head(self, alliance_id: str, reader: Caller | None = None) -> StreamHead:
        await self._reading(ALLIANCE.stream(alliance_id), reader)
        head: StreamHead = await self.present(ALLIANCE.stream(alliance_id), "head", StreamHead)
        return head

    async def alliances(self) -> list[AllianceSummary]:
        return [
            AllianceSummary(alliance_id=row.key, name=row.row.name, founded_at=row.row.founded_at, events=row.version)
            for row in await listed(self.pool, ALLIANCE.listing)
        ]

    async def verify(self, stream_prefix: str | None = None) -> VerifyReport:
        return await self.store.verify(stream_prefix=stream_prefix)

    async def readable_record(self, stream_id: str | StreamId, reader: Caller | None, *, alliance_id: str | None = None) -> str:
        """The stream a reader names, refused if the reader may not read its record (access.may_read_record).

        A process's id without its alliance (`decision-spring`) names that process of the reader's
        alliance (an API token's), or of the one alliance that has it. The operator reads every stream,
        one written outside accord (with no read-model row) included."""
        stream = await self._named(parse_stream(stream_id), _alliance(reader, alliance_id))
        stream_id = str(stream)
        if reader is None:
            return stream_id
        row = await member_field(self.pool, stream, reader.member_id, "status")
        if row is None:
            raise access.no_stream(stream_id)
        owner: str = row["alliance_id"]
        status: str | None = row["status"]
        if reader.auditor:  # an auditor's standing: a live token of the alliance's
            status = await self.pool.fetchval(
                "SELECT 'active' FROM accord.api_tokens WHERE alliance_id = $1 AND member_id = $2 AND auditor"
                " AND revoked_at IS NULL LIMIT 1",
                owner, reader.member_id,
            )
        appealed = decision.appealed_dispute(stream.process_id) if stream.kind == DECISION.kind else None
        dispute_key = stream.id if stream.kind == DISPUTE.kind else (await self._locate(DISPUTE, appealed, owner)).id if appealed else None
        state = (await row_of(self.pool, DISPUTE.listing, dispute_key)) if dispute_key else None
        access.may_read_record(reader, stream_id, owner, status, state.row if state else None, appeal=appealed is not None)
        return stream_id

    async def _named(self, stream: StreamId, alliance_id: str | None) -> StreamId:
        """A stream name as given, or for a process's id without its alliance, its stream (_locate);
        a name that locates nothing stays as given (a stream written outside accord, say)."""
        process = process_of(stream)
        if not process.scoped or stream.scope is not None:
            return stream
        try:
            return await self._locate(process, stream.id, alliance_id)
        except Refused as refusal:
            if refusal.kind is RefusalKind.NOT_FOUND:
                return stream
            raise

    async def readable_streams(self, alliance_id: str, reader: Caller | None) -> list[str]:
        """The streams of an alliance whose record `reader` may read (refused if none may be read at all)."""
        access.speaks_for(reader, alliance_id, f"alliance {alliance_id!r}")
        streams = await streams_of(self.pool, alliance_id)
        if not streams:
            raise not_found(f"no alliance {alliance_id!r} in the record", "alliance_id")
        await self.readable_record(ALLIANCE.stream_name(alliance_id), reader)
        readable: list[str] = []
        for stream_id in streams:
            try:
                await self.readable_record(stream_id, reader)
            except Refused:
                continue
            readable.append(stream_id)
        return readable

    # --- credentials -----------------------------------------------------------------------------

    async def _insert_token(
        self, alliance_id: str, member_id: str, label: str, issued_by: str, *, auditor: bool = False
    ) -> IssuedToken:
        token = "acc_" + secrets.token_urlsafe(32)
        token_id = uuid.uuid4()
        await self.pool.execute(
            "INSERT INTO accord.api_tokens (token_id, token_hash, alliance_id, member_id, label, issued_by, auditor)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7)",
            token_id, _token_hash(token), alliance_id, member_id, label, issued_by, auditor,
        )
        return IssuedToken(token_id=token_id, alliance_id=alliance_id, member_id=member_id, label=label, token=token)

    async def self_or_coordinator(self, alliance_id: str, actor: str, member_id: str, what: str) -> AllianceState:
        """The alliance, once `actor` is found to be `member_id` itself or one of its coordinators (else refused)."""
        state = await self.alliance(alliance_id)
        acting = state.member(actor)
        coordinator = acting is not None and acting.has(Role.COORDINATOR)
        access.self_or_coordinator(alliance_id, actor, _status(state, actor), coordinator, member_id, what)
        return state

    async def issue_token(self, alliance_id: str, actor: str, member_id: str, label: str = "") -> IssuedToken:
        label = clean_text(label, "label") if label else label
        state = await self.self_or_coordinator(alliance_id, actor, member_id, "issue another member's tokens")
        target = state.member(member_id)
        if target is None or not target.active:
            raise not_found(f"no active member {member_id!r} in alliance {alliance_id!r}", "member_id")
        return await self._insert_token(alliance_id, member_id, label, actor)

    async def issue_auditor_token(self, alliance_id: str, actor: str, label: str) -> IssuedToken:
        """A read-only token for an outside auditor of the alliance (coordinators); shown once.

        The auditor is named 'auditor:<label>': list or revoke its tokens under that name.
        """
        await self.self_or_coordinator(alliance_id, actor, f"{AUDITOR_PREFIX}{label}", "issue an auditor token")
        try:
            label = TypeAdapter(Slug).validate_python(label)
        except ValidationError:
            raise invalid(
                f"{label!r} is not a valid auditor label: use 1-63 lowercase letters, digits, '-' or '_' "
                "(e.g. the audit firm and year)",
                "label",
            ) from None
        return await self._insert_token(alliance_id, f"{AUDITOR_PREFIX}{label}", label, actor, auditor=True)

    async def tokens(self, alliance_id: str, actor: str, member_id: str) -> list[TokenInfo]:
        await self.self_or_coordinator(alliance_id, actor, member_id, "list another member's tokens")
        rows = await self.pool.fetch(
            "SELECT token_id, member_id, label, issued_by, issued_at, revoked_at FROM accord.api_tokens"
            " WHERE alliance_id = $1 AND member_id = $2 ORDER BY issued_at",
            alliance_id, member_id,
        )
        return [TokenInfo(**dict(row)) for row in rows]

    async def revoke_token(self, alliance_id: str, actor: str, token_id: uuid.UUID) -> TokenInfo:
        row = await self.pool.fetchrow(
            "SELECT member_id FROM accord.api_tokens WHERE token_id = $1 AND alliance_id = $2", token_id, alliance_id
        )
        if row is None:
            raise not_found(f"no token {token_id} in alliance {alliance_id!r}", "token_id")
        await self.self_or_coordinator(alliance_id, actor, row["member_id"], "revoke another member's tokens")
        updated = await self.pool.fetchrow(
            "UPDATE accord.api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE token_id = $1"
            " RETURNING token_id, member_id, label, issued_by, issued_at, revoked_at",
            token_id,
        )
        assert updated is not None  # the token was found above, and tokens are never deleted
        return TokenInfo(**dict(updated))

    async def authenticate(self, token: str) -> TokenHolder | None:
        """The member or auditor a bearer token stands for, or None when it is unknown or revoked."""
        row = await self.pool.fetchrow(
            "SELECT alliance_id, member_id FROM accord.api_tokens"
            " WHERE token_hash = $1 AND revoked_at IS NULL",
            _token_hash(token),
        )
        return TokenHolder(alliance_id=row["alliance_id"], member_id=row["member_id"]) if row else None


def receipts_json(receipts: list[Receipt]) -> list[dict[str, Any]]:
    return [r.model_dump(mode="json") for r in receipts]


class DecisionView(BaseModel):
    """A decision as `show` presents it: the state, a tally per point, and what is due next."""

    state: DecisionState
    tallies: list[Tally]
    next_due: datetime | None
    pending_members: list[str]


class NotificationRow(BaseModel):
    notification_id: uuid.UUID
    stream_id: str
    member_id: str
    kind: str
    message: str
    created_at: datetime
    attempts: int
    delivered_at: datetime | None
    last_error: str | None


class DisputeView(BaseModel):
    state: DisputeState
    next_due: datetime | None
    must_act: list[str]


def _appeal_row(row: DecisionRow, disputes: dict[str, DisputeState], reader: Caller) -> DecisionRow | None:
    """A row of the alliance's decisions as `reader` may see it: an appeal's as much as its dispute."""
    dispute_id = decision.appealed_dispute(row.decision_id)
    if dispute_id is None or dispute_id not in disputes:
        return row
    seen = access.appeal_seen(disputes[dispute_id], reader)
    return row if seen is Seen.FULL else access.appeal_outline(row, dispute_id) if seen is Seen.OUTLINE else None


def _alliance(reader: Caller | None, alliance_id: str | None) -> str | None:
    """The alliance a read is in: the one the reader speaks for (an API token's), else the one named."""
    return reader.alliance_id if reader is not None and reader.alliance_id is not None else alliance_id


def _status(state: AllianceState, member_id: str) -> str | None:
    member = state.member(member_id)
    return member.status if member else None


def _may_act_in(state: AllianceState, actor: str) -> None:
    """Refuse an actor who may not act in the alliance (access.may_act), from its state."""
    access.may_act(Caller(member_id=actor), state.alliance_id, _status(state, actor), f"alliance {state.alliance_id!r}")
