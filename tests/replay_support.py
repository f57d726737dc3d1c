"""A changed copy of a workflow, for tests that show a non-deterministic change is caught."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from events.alliance import AllianceCommand
from workflows.alliance import AllianceWorkflow
from workflows.shapes import AllianceRun, CommandResult


@workflow.defn(name="Alliance", sandboxed=False)  # the sandbox would re-import the test module
class AllianceThatWaitsBeforeRecording(AllianceWorkflow):
    """AllianceWorkflow with one change a developer might think harmless: a short pause before recording.

    A timer where the history has the local activity's marker: the commands no longer match."""

    @workflow.run
    async def run(self, run: AllianceRun) -> None:
        await AllianceWorkflow.run(self, run)

    async def command(self, command: AllianceCommand) -> CommandResult:  # what every command's Update runs
        await workflow.sleep(timedelta(milliseconds=10))
        return await AllianceWorkflow.command(self, command)
