"""The alliance registry workflow (`alliance-<id>`): one long-lived run per alliance.

Commands arrive as Updates; the validator runs the decider, so a command that is not allowed is
refused before anything is recorded. Closed decisions report their parked points by signal. The run
continues-as-new, carrying state and head, well before its history or its count of Updates grows large.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from events import alliance
    from events.alliance import AllianceCommand, AllianceEvent, AllianceState, DecisionResult
    from events.processes import ALLIANCE
    from workflows.shapes import AllianceRun, Carried

from workflows.process import ProcessWorkflow, command_updates
from workflows.recording import Committer, empty_head

FOUNDING_TIMEOUT = timedelta(minutes=10)


@workflow.defn(name="Alliance")
@command_updates(AllianceCommand)
class AllianceWorkflow(ProcessWorkflow[AllianceState, AllianceEvent, AllianceCommand]):
    @workflow.init
    def __init__(self, run: AllianceRun) -> None:
        self.committer: Committer[AllianceState, AllianceEvent] = Committer(
            head=run.head or empty_head(ALLIANCE.stream_name(run.alliance_id)),
            state=run.state,
            evolve=alliance.evolve,
            notify=alliance.told,
            alliance_id=lambda state: state.alliance_id,
            coordinators=lambda state: state.with_role(alliance.Role.COORDINATOR),
            carried=run.carried or Carried(),
        )
        self.continue_after = run.continue_after_updates

    @workflow.run
    async def run(self, run: AllianceRun) -> None:
        try:
            await workflow.wait_condition(lambda: self.state is not None, timeout=FOUNDING_TIMEOUT)
        except TimeoutError:
            return  # started, but the founding command never came: nothing was recorded
        await workflow.wait_condition(
            lambda: workflow.info().is_continue_as_new_suggested() or self.commands_this_run >= self.continue_after
        )
        await self.committer.settled()
        workflow.continue_as_new(
            AllianceRun(
                alliance_id=run.alliance_id,
                state=self.state,
                head=self.committer.head,
                continue_after_updates=self.continue_after,
                carried=self.committer.carried,
            )
        )

    def decide(self, state: AllianceState | None, command: AllianceCommand, now: datetime) -> list[alliance.AllianceEvent]:
        return alliance.decide(state, command, now)

    @workflow.signal
    async def decision_result(self, result: DecisionResult) -> None:
        """A decision closed: keep the alliance's list of parked points."""
        await workflow.wait_condition(lambda: self.state is not None)
        # Recorded at the decision's closing time, not the task's: a signal can be handled by a worker
        # rebuilding the run for a query, at a stale time (recording.DETERMINISTIC_TIMES).
        await self.committer.keep(
            lambda state, now: alliance.record_decision_result(state, result, result.closed_at or now), result.actor,
            f"signal:decision_result:{result.decision_id}",
        )

    @workflow.query
    def current(self) -> AllianceState | None:
        return self.state
