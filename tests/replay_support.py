"""A changed copy of a workflow, for tests that show a non-deterministic change is caught."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from events.alliance import AllianceCommand
from workflows.alliance import AllianceRun, AllianceWorkflow, CommandResult


@workflow.defn(name="Alliance", sandboxed=False)  # the sandbox would re-import the test module
class AllianceThatWaitsBeforeRecording(AllianceWorkflow):
    """AllianceWorkflow with one change a developer might think harmless: a short pause before recording.

    A timer where the history has the local activity's marker: the commands no longer match."""

    @workflow.run
    async def run(self, run: AllianceRun) -> None:
        await AllianceWorkflow.run(self, run)

    @workflow.update
    async def execute(self, command: AllianceCommand) -> CommandResult:
        await workflow.sleep(timedelta(milliseconds=10))
        return await AllianceWorkflow.execute(self, command)

    @execute.validator
    def validate(self, command: AllianceCommand) -> None:
        AllianceWorkflow.validate(self, command)
