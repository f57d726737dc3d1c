"""The dispute workflow (`dispute-<alliance>.<id>`): the ladder from negotiation to a final ruling.

Like a decision, it takes people's commands as validated Updates through the group commit, and its
run loop asks the state what the clock must do next (a reminder, a stage deadline, the end of an
interim measure). Draws are verifiable (events/draws.py): accord's secret for each comes from a key
the workflow draws once from `workflow.random()` (deterministic on replay) and carries to its next run,
never into the record; the record holds the commitment and, once the draw is made, the secret. Runs
recorded before keep drawing with an integer seed and CPython's `random`, as they did. An appeal runs as a child decision workflow
among the members who are not parties; its outcome is final.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ChildWorkflowError, WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from events import dispute
    from events.dispute import (
        ContributeToDraw,
        DeclareImpasse,
        DisputeCommand,
        DisputeEvent,
        DisputeStage,
        DisputeState,
        LodgeAppeal,
        ObjectToMediator,
    )
    from events.processes import DECISION
    from events.streams import StreamId
    from workflows.shapes import Carried, DecisionRun, DisputeRun

from workflows import search
from workflows.decision import DecisionWorkflow
from workflows.process import ProcessWorkflow, command_updates
from workflows.recording import Committer, empty_head, publish_stage

RAISING_TIMEOUT = timedelta(minutes=10)

APPEAL_PANEL = "appeal-panel"
"""Patch: an appeal is decided by a panel drawn from the neutral members (runs that took an appeal before
replay as they were recorded: decided by every member who is not a party)."""

VERIFIABLE_DRAWS = "verifiable-draws"
"""Patch: draws follow `sha256-rank/1` with a committed secret and the parties' contributions (runs that
drew before replay with the integer seeds and CPython's `random` their events hold)."""

SCOPED_IDS = "scoped-ids"
"""Patch: an appeal's decision takes a stream scoped to the alliance (runs that started an appeal before
replay with the unscoped id their history holds)."""



def _seed() -> int:
    return workflow.random().getrandbits(52)  # within JSON's safe integers: it is hashed as RFC 8785 JSON


@workflow.defn(name="Dispute")
@command_updates(DisputeCommand)
class DisputeWorkflow(ProcessWorkflow[DisputeState, DisputeEvent, DisputeCommand]):
    @workflow.init
    def __init__(self, run: DisputeRun) -> None:
        self.committer: Committer[DisputeState, DisputeEvent] = Committer(
            head=run.head or empty_head(workflow.info().workflow_id),  # its stream's name (events/streams.py)
            state=run.state,
            evolve=dispute.evolve,
            notify=dispute.told,
            alliance_id=lambda state: state.alliance_id,
            coordinators=lambda state: state.context.coordinators,
            carried=run.carried or Carried(),
        )
        self.continue_after = run.continue_after_updates
        self.draw_key = bytes.fromhex(run.draw_key) if run.draw_key else None
        self.verifiable_draws = False
        self.appeal: asyncio.Task[None] | None = None

    @workflow.run
    async def run(self, run: DisputeRun) -> DisputeState | None:
        self.committer.begin()
        # Asked first thing, as the committer's patches are: a marker never follows a local activity's failure.
        self.verifiable_draws = workflow.patched(VERIFIABLE_DRAWS)
        try:
            await workflow.wait_condition(lambda: self.state is not None, timeout=RAISING_TIMEOUT)
        except TimeoutError:
            return None  # started, but the raising command never came: nothing was recorded
        while self.state is not None and (self.state.is_live or dispute.next_due(self.state) is not None):
            if self.state.stage == DisputeStage.APPEAL and self.appeal is None:
                self.appeal = asyncio.create_task(self._run_appeal())
            due_to_continue = self.commands_this_run >= self.continue_after or workflow.info().is_continue_as_new_suggested()
            if due_to_continue and self.appeal is None:
                await self._continue_as_new(run)
            self._publish_stage()
            await self.committer.wait_for_clock(dispute.next_due(self.state), self._strike)
        self._publish_stage()
        await self.committer.settled()
        return self.state

    def _strike(self, state: DisputeState, now: datetime) -> list[dispute.DisputeEvent]:
        return dispute.on_time(state, now, _seed(), self._draw_key())

    def _draw_key(self) -> bytes | None:
        """The key of accord's draw secrets, drawn when first needed (None in a run from before them)."""
        if self.draw_key is None and self.verifiable_draws:
            self.draw_key = workflow.random().randbytes(32)
        return self.draw_key

    async def _run_appeal(self) -> None:
        """The appeal: a consensus decision among the members who are not parties; its outcome is final."""
        state = self.state
        assert state is not None
        opening = dispute.appeal_opening(state)
        try:
            result = await workflow.execute_child_workflow(
                DecisionWorkflow.run,
                DecisionRun(decision_id=opening.decision_id, open=opening, report_to_alliance=False),
                id=self._appeal_stream(opening.decision_id, state.alliance_id),
                search_attributes=TypedSearchAttributes(
                    [
                        SearchAttributePair(search.KIND, "decision"),
                        SearchAttributePair(search.ALLIANCE, state.alliance_id),
                        SearchAttributePair(search.STAGE, "open"),
                    ]
                ),
            )
        except (ChildWorkflowError, WorkflowAlreadyStartedError) as error:
            # The appeal could not be decided; an appeal must never leave the dispute hanging.
            referred = dispute.ReferredToAssembly(
                at=workflow.now(), by=None, reason=f"the appeal decision could not run: {error}"
            )
            await self._keep(referred)
            return
        # At the appeal decision's closing time, not the task's (recording.DETERMINISTIC_TIMES).
        closed_at = result.closed_at if result is not None else None
        at = closed_at if closed_at is not None and self.committer.fixed_times else workflow.now()
        decided_event = dispute.appeal_decided(state, result.outcome if result is not None else None, at)
        await self._keep(decided_event)

    @staticmethod
    def _appeal_stream(decision_id: str, alliance_id: str) -> str:
        """The appeal decision's stream: scoped to the alliance, as every process's is now; unscoped in a
        run that started its appeal before ids were scoped (its history holds that id)."""
        if workflow.patched(SCOPED_IDS):
            return DECISION.stream_name(decision_id, alliance_id)
        return str(StreamId(DECISION.kind, decision_id))

    async def _keep(self, event: dispute.DisputeEvent) -> None:
        await self.committer.keep(lambda _state, _now: [event], "accord", "appeal")

    async def _continue_as_new(self, run: DisputeRun) -> None:
        await self.committer.settled()
        workflow.continue_as_new(
            DisputeRun(
                dispute_id=run.dispute_id, state=self.state, head=self.committer.head,
                continue_after_updates=self.continue_after, carried=self.committer.carried,
                draw_key=self.draw_key.hex() if self.draw_key else None,
            )
        )

    def _publish_stage(self) -> None:
        assert self.state is not None
        if self.committer.quarantine is not None:
            return
        publish_stage(self.state.stage.value, self.state.stage_deadline)

    def decide(self, state: DisputeState | None, command: DisputeCommand, now: datetime) -> list[dispute.DisputeEvent]:
        return dispute.decide(state, command, now, self.draw_key)

    def prepare(self, command: DisputeCommand) -> DisputeCommand:
        if isinstance(command, (ObjectToMediator, DeclareImpasse, LodgeAppeal, ContributeToDraw)):
            self._draw_key()
        if isinstance(command, (ObjectToMediator, DeclareImpasse)) or (isinstance(command, LodgeAppeal) and workflow.patched(APPEAL_PANEL)):
            return command.model_copy(update={"seed": _seed()})
        return command

    @workflow.query
    def current(self) -> DisputeState | None:
        return self.state
