"""The application layer: the one API that the CLI, the HTTP API, the demo and the tests all call.

It starts processes, sends commands (Temporal Updates, retried when the server's in-flight limit is
reached), reads state (queries) and reads the event store (asyncpg). Every command answers with its
receipts: stream, version, global position and hash of each event it recorded.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import asyncpg
from pydantic import BaseModel
from temporalio.client import (
    Client,
    WorkflowUpdateFailedError,
)
from temporalio.common import TypedSearchAttributes, SearchAttributePair, WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from accord.config import Settings, database_url
from accord.temporal import connect
from events import alliance
from events.alliance import AllianceCommand, AllianceState, FoundAlliance, Role
from events.rules import Refused, RefusalKind, conflict, forbidden, not_found
from events.store import EventStore, Receipt, StreamHead, VerifyReport
from workflows import search
from workflows.alliance import AllianceRun, AllianceWorkflow, CommandResult, alliance_workflow_id

T = TypeVar("T")


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


class Identity(BaseModel):
    alliance_id: str
    member_id: str


class AllianceSummary(BaseModel):
    alliance_id: str
    name: str
    founded_at: datetime
    events: int


def _token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def refusal_from(error: BaseException) -> Refused | None:
    """Recover the domain refusal that a workflow raised, from the error Temporal hands the client."""
    cause = error.cause if isinstance(error, WorkflowUpdateFailedError) else error
    while cause is not None:
        if isinstance(cause, ApplicationError) and cause.type == "Refused":
            kind, field = (list(cause.details) + [RefusalKind.INVALID, None])[:2]
            return Refused(cause.message, RefusalKind(kind), field)
        cause = cause.__cause__
    return None


async def _with_update_retry(call: Callable[[], Awaitable[T]], attempts: int = 12) -> T:
    """Retry when Temporal refuses an Update because too many are in flight on one workflow."""
    delay = 0.05
    for attempt in range(attempts):
        try:
            return await call()
        except RPCError as error:
            if error.status != RPCStatusCode.RESOURCE_EXHAUSTED or attempt == attempts - 1:
                raise
        await asyncio.sleep(delay * (1 + random.random()))
        delay = min(delay * 2, 2.0)
    raise AssertionError("unreachable")


@dataclass
class Accord:
    client: Client
    pool: asyncpg.Pool
    task_queue: str

    @property
    def store(self) -> EventStore:
        return EventStore(self.pool)

    @classmethod
    async def connect(cls, settings: Settings | None = None, *, client: Client | None = None) -> Accord:
        settings = settings or Settings()
        pool = await asyncpg.create_pool(database_url(settings), min_size=1, max_size=settings.db_pool_size)
        try:
            client = client or await connect(settings)
        except BaseException:
            await pool.close()
            raise
        return cls(client=client, pool=pool, task_queue=settings.task_queue)

    async def close(self) -> None:
        await self.pool.close()

    # --- commands --------------------------------------------------------------------------------

    async def _update(self, call: Callable[[], Awaitable[T]]) -> T:
        try:
            return await _with_update_retry(call)
        except (WorkflowUpdateFailedError, ApplicationError) as error:
            refused = refusal_from(error)
            if refused is not None:
                raise refused from None
            raise

    async def found_alliance(
        self, command: FoundAlliance, *, token_label: str = "founder"
    ) -> Founded:
        alliance.decide(None, command, datetime.now().astimezone())  # refuse bad input before starting anything
        result = await self._start_with_command(
            AllianceWorkflow.run,
            AllianceRun(alliance_id=command.alliance_id),
            alliance_workflow_id(command.alliance_id),
            AllianceWorkflow.execute,
            command,
            what=f"alliance {command.alliance_id!r}",
            attributes=[SearchAttributePair(search.KIND, "alliance"), SearchAttributePair(search.ALLIANCE, command.alliance_id)],
        )
        token = await self._insert_token(command.alliance_id, command.founder_id, token_label, command.founder_id)
        return Founded(alliance_id=command.alliance_id, receipts=result.receipts, token=token)

    async def _start_with_command(
        self,
        run: Any,
        run_arg: Any,
        workflow_id: str,
        update: Any,
        command: Any,
        *,
        what: str,
        attributes: list[SearchAttributePair[Any]],
    ) -> Any:
        """Start a process workflow and send it its first command (found, open, raise).

        Two calls rather than update-with-start: the time-skipping test server cannot skip time for a
        workflow started that way. The command was validated by the pure decider beforehand, and a
        workflow whose first command never arrives ends by itself.
        """
        if (await self.store.head(workflow_id)).version > 0:
            raise conflict(f"{what} already exists in the event store")
        try:
            handle = await self.client.start_workflow(
                run,
                run_arg,
                id=workflow_id,
                task_queue=self.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                search_attributes=TypedSearchAttributes(attributes),
            )
        except WorkflowAlreadyStartedError:
            raise conflict(f"{what} already exists") from None
        return await self._update(lambda: handle.execute_update(update, command))

    async def alliance_command(self, alliance_id: str, command: AllianceCommand) -> CommandResult:
        handle = self.client.get_workflow_handle_for(AllianceWorkflow.run, alliance_workflow_id(alliance_id))
        try:
            return await self._update(lambda: handle.execute_update(AllianceWorkflow.execute, command))
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                raise not_found(f"no alliance {alliance_id!r}") from None
            raise

    # --- reads -----------------------------------------------------------------------------------

    async def alliance(self, alliance_id: str) -> AllianceState:
        handle = self.client.get_workflow_handle_for(AllianceWorkflow.run, alliance_workflow_id(alliance_id))
        try:
            state = await handle.query(AllianceWorkflow.current)
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                raise not_found(f"no alliance {alliance_id!r}") from None
            raise
        if state is None:
            raise not_found(f"no alliance {alliance_id!r}")
        return state

    async def alliance_head(self, alliance_id: str) -> StreamHead:
        handle = self.client.get_workflow_handle_for(AllianceWorkflow.run, alliance_workflow_id(alliance_id))
        return await handle.query(AllianceWorkflow.head)

    async def alliances(self) -> list[AllianceSummary]:
        rows = await self.pool.fetch(
            """
            SELECT substr(f.stream_id, 10) AS alliance_id, f.data->'charter'->>'name' AS name,
                   f.recorded_at AS founded_at,
                   (SELECT max(stream_version) FROM accord.events e WHERE e.stream_id = f.stream_id) AS events
            FROM accord.events f
            WHERE f.event_type = 'AllianceFounded' AND f.stream_version = 1
            ORDER BY f.global_position
            """
        )
        return [AllianceSummary(**dict(row)) for row in rows]

    async def verify(self, stream_prefix: str | None = None) -> VerifyReport:
        return await self.store.verify(stream_prefix=stream_prefix)

    # --- credentials -----------------------------------------------------------------------------

    async def _insert_token(self, alliance_id: str, member_id: str, label: str, issued_by: str) -> IssuedToken:
        token = "acc_" + secrets.token_urlsafe(32)
        token_id = uuid.uuid4()
        await self.pool.execute(
            "INSERT INTO accord.api_tokens (token_id, token_hash, alliance_id, member_id, label, issued_by)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            token_id, _token_hash(token), alliance_id, member_id, label, issued_by,
        )
        return IssuedToken(token_id=token_id, alliance_id=alliance_id, member_id=member_id, label=label, token=token)

    async def _may_manage_tokens(self, alliance_id: str, actor: str, member_id: str) -> AllianceState:
        state = await self.alliance(alliance_id)
        acting = state.member(actor)
        if acting is None or not acting.active:
            raise forbidden(f"{actor!r} is not an active member of alliance {alliance_id!r}")
        if actor != member_id and not acting.has(Role.COORDINATOR):
            raise forbidden(f"only a coordinator may manage another member's tokens; {actor!r} is not one")
        return state

    async def issue_token(self, alliance_id: str, actor: str, member_id: str, label: str = "") -> IssuedToken:
        state = await self._may_manage_tokens(alliance_id, actor, member_id)
        target = state.member(member_id)
        if target is None or not target.active:
            raise not_found(f"no active member {member_id!r} in alliance {alliance_id!r}", "member_id")
        return await self._insert_token(alliance_id, member_id, label, actor)

    async def tokens(self, alliance_id: str, actor: str, member_id: str) -> list[TokenInfo]:
        await self._may_manage_tokens(alliance_id, actor, member_id)
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
        await self._may_manage_tokens(alliance_id, actor, row["member_id"])
        updated = await self.pool.fetchrow(
            "UPDATE accord.api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE token_id = $1"
            " RETURNING token_id, member_id, label, issued_by, issued_at, revoked_at",
            token_id,
        )
        return TokenInfo(**dict(updated))

    async def authenticate(self, token: str) -> Identity | None:
        """The member a bearer token stands for, or None when it is unknown or revoked."""
        row = await self.pool.fetchrow(
            "SELECT alliance_id, member_id FROM accord.api_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
            _token_hash(token),
        )
        return Identity(**dict(row)) if row else None


def receipts_json(receipts: list[Receipt]) -> list[dict[str, Any]]:
    return [r.model_dump(mode="json") for r in receipts]
