"""A workflow that logs an error with its traceback, as accord's workflows do when a command fails in a
way no one expected. A module of its own, because the sandbox imports a workflow's module anew."""

from __future__ import annotations

from temporalio import workflow


@workflow.defn(name="LogsAnError")
class LogsAnError:
    @workflow.run
    async def run(self) -> str:
        try:
            raise RuntimeError("something nobody expected")
        except RuntimeError:
            workflow.logger.exception("recording a batch failed")
        return "logged"
