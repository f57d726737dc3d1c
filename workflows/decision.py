"""The consensus decision workflow (`decision-<alliance>.<id>`).

Members' commands arrive as Updates (validated by the decider first) and go through the group commit;
the run loop asks the state what is due next (reminder, deadline, end of the escalation window) and
sleeps until then or until the state moves. So every timer comes from the recorded state and survives
worker and server restarts. When the decision ends, the alliance is told which points were parked.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from events import decision
    from events.decision import DecisionCommand, DecisionEvent, DecisionState, Stage
    from events.processes import ALLIANCE
    from workflows.shapes import Carried, DecisionRun

from workflows.alliance import AllianceWorkflow
from workflows.process import ProcessWorkflow, command_updates
from workflows.recording import Committer, empty_head, publish_stage

OPENING_TIMEOUT = timedelta(minutes=10)



@workflow.defn(name="Decision")
@command_updates(DecisionCommand)
class DecisionWorkflow(ProcessWorkflow[DecisionState, DecisionEvent, DecisionCommand]):
    @workflow.init
    def __init__(self, run: DecisionRun) -> None:
        self.committer: Committer[DecisionState, DecisionEvent] = Committer(
            head=run.head or empty_head(workflow.info().workflow_id),  # its stream's name (events/streams.py)
            state=run.state,
            evolve=decision.evolve,
            notify=decision.told,
            alliance_id=lambda state: state.alliance_id,
            coordinators=lambda state: state.context.coordinators,
            carried=run.carried or Carried(),
        )
        self.continue_after = run.continue_after_updates

    @workflow.run
    async def run(self, run: DecisionRun) -> DecisionState | None:
        self.committer.begin()
        if run.open is not None and self.state is None:
            opening = run.open
            await self.committer.submit(lambda state, now: decision.decide(state, opening, now), opening.actor, "open")
        try:
            await workflow.wait_condition(lambda: self.state is not None, timeout=OPENING_TIMEOUT)
        except TimeoutError:
            return None  # started, but the opening command never came: nothing was recorded
        while self.state is not None and self.state.is_live:
            if self.commands_this_run >= self.continue_after or workflow.info().is_continue_as_new_suggested():
                await self._continue_as_new(run)
            self._publish_stage()
            await self.committer.wait_for_clock(decision.next_due(self.state), decision.on_time)
        self._publish_stage()
        await self.committer.settled()
        if run.report_to_alliance:
            await self._tell_alliance()
        return self.state

    async def _continue_as_new(self, run: DecisionRun) -> None:
        await self.committer.settled()
        workflow.continue_as_new(
            DecisionRun(
                decision_id=run.decision_id, state=self.state, head=self.committer.head,
                continue_after_updates=self.continue_after, report_to_alliance=run.report_to_alliance,
                carried=self.committer.carried,
            )
        )

    def _publish_stage(self) -> None:
        state = self.state
        assert state is not None
        if self.committer.quarantine is not None:
            return
        publish_stage(state.stage.value, state.escalation_deadline if state.stage == Stage.STALLED else state.deadline)

    async def _tell_alliance(self) -> None:
        state = self.state
        assert state is not None
        result = decision.result_for_alliance(state, workflow.now())
        if result is not None:
            result = result.model_copy(update={"stream_id": workflow.info().workflow_id})
            alliance = workflow.get_external_workflow_handle_for(AllianceWorkflow.run, ALLIANCE.stream_name(state.alliance_id))
            await alliance.signal(AllianceWorkflow.decision_result, result)

    def decide(self, state: DecisionState | None, command: DecisionCommand, now: datetime) -> list[decision.DecisionEvent]:
        return decision.decide(state, command, now)

    @workflow.query
    def current(self) -> DecisionState | None:
        return self.state
