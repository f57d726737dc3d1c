"""The costs ledger workflow (`ledger-<alliance>.costs`): one long-lived run per alliance.

Entries, corrections, rates and the register of responsibilities arrive as validated Updates through the
group commit; the run loop asks the state when the next review reminder is due. The first command opens
the ledger. The run continues-as-new, carrying state and head, before its history grows large.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from events import ledger
    from events.ledger import LedgerCommand, LedgerEvent, LedgerState
    from workflows.shapes import Carried, LedgerRun

from workflows.process import ProcessWorkflow, command_updates
from workflows.recording import Committer, empty_head

OPENING_TIMEOUT = timedelta(minutes=10)


@workflow.defn(name="Ledger")
@command_updates(LedgerCommand)
class LedgerWorkflow(ProcessWorkflow[LedgerState, LedgerEvent, LedgerCommand]):
    @workflow.init
    def __init__(self, run: LedgerRun) -> None:
        self.alliance_id = run.alliance_id
        self.coordinators = run.coordinators
        self.committer: Committer[LedgerState, LedgerEvent] = Committer(
            head=run.head or empty_head(workflow.info().workflow_id),  # its stream's name (events/streams.py)
            state=run.state,
            evolve=ledger.evolve,
            notify=ledger.told,
            alliance_id=lambda state: state.alliance_id,
            coordinators=lambda _state: self.coordinators,
            carried=run.carried or Carried(),
        )
        self.continue_after = run.continue_after_updates

    @workflow.run
    async def run(self, run: LedgerRun) -> None:
        self.committer.begin()
        try:
            await workflow.wait_condition(lambda: self.state is not None, timeout=OPENING_TIMEOUT)
        except TimeoutError:
            return  # started, but the opening command never came: nothing was recorded
        while True:
            if self.commands_this_run >= self.continue_after or workflow.info().is_continue_as_new_suggested():
                await self.committer.settled()
                workflow.continue_as_new(
                    LedgerRun(
                        alliance_id=run.alliance_id, state=self.state, head=self.committer.head,
                        continue_after_updates=self.continue_after, carried=self.committer.carried,
                        coordinators=self.coordinators,
                    )
                )
            assert self.state is not None
            await self.committer.wait_for_clock(ledger.next_due(self.state), ledger.on_time)

    def prepare(self, command: LedgerCommand) -> LedgerCommand:
        if command.context is not None:  # the alliance as accord found it when it sent the command
            self.coordinators = command.context.coordinators
        return command

    def decide(self, state: LedgerState | None, command: LedgerCommand, now: datetime) -> list[LedgerEvent]:
        return ledger.decide(state, command, now, self.alliance_id)

    @workflow.query
    def current(self) -> LedgerState | None:
        return self.state
