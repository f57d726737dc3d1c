"""The alliance registry workflow (`alliance-<id>`): one long-lived run per alliance.

Commands arrive as Updates; the validator runs the decider, so a command that is not allowed is
refused before anything is recorded. The run continues-as-new, carrying state and head, well before
its history or its count of Updates grows large.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from pydantic import BaseModel
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from events import alliance
    from events.alliance import AllianceCommand, AllianceState
    from events.store import Receipt, StreamHead

from workflows.recording import EventStream, decided, empty_head


FOUNDING_TIMEOUT = timedelta(minutes=10)


def alliance_workflow_id(alliance_id: str) -> str:
    return f"alliance-{alliance_id}"


class AllianceRun(BaseModel):
    alliance_id: str
    state: AllianceState | None = None
    head: StreamHead | None = None
    continue_after_updates: int = 500
    """Continue-as-new after this many commands (Temporal caps Updates per run)."""


class CommandResult(BaseModel):
    receipts: list[Receipt]


@workflow.defn(name="Alliance")
class AllianceWorkflow:
    @workflow.init
    def __init__(self, run: AllianceRun) -> None:
        self.state = run.state
        self.stream = EventStream(run.head or empty_head(alliance_workflow_id(run.alliance_id)))
        self.continue_after = run.continue_after_updates
        self.commands_this_run = 0
        self.lock = asyncio.Lock()

    @workflow.run
    async def run(self, run: AllianceRun) -> None:
        try:
            await workflow.wait_condition(lambda: self.state is not None, timeout=FOUNDING_TIMEOUT)
        except asyncio.TimeoutError:
            return  # started, but the founding command never came: nothing was recorded
        await workflow.wait_condition(
            lambda: workflow.info().is_continue_as_new_suggested() or self.commands_this_run >= self.continue_after
        )
        await workflow.wait_condition(lambda: not self.lock.locked() and workflow.all_handlers_finished())
        workflow.continue_as_new(
            AllianceRun(
                alliance_id=run.alliance_id,
                state=self.state,
                head=self.stream.head,
                continue_after_updates=self.continue_after,
            )
        )

    @workflow.update
    async def execute(self, command: AllianceCommand) -> CommandResult:
        async with self.lock:
            # Decide again under the lock: an earlier command may have changed the state since validation.
            events = decided(alliance.decide, self.state, command, workflow.now())
            receipts = await self.stream.record(events, actor=command.actor)
            for event in events:
                self.state = alliance.evolve(self.state, event)
            self.commands_this_run += 1
            return CommandResult(receipts=receipts)

    @execute.validator
    def validate(self, command: AllianceCommand) -> None:
        decided(alliance.decide, self.state, command, workflow.now())

    @workflow.query
    def current(self) -> AllianceState | None:
        return self.state

    @workflow.query
    def head(self) -> StreamHead:
        return self.stream.head
