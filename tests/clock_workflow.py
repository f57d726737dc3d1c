"""A workflow that reads the wall clock, which no workflow may do. A module of its own, importing
nothing else, because the sandbox imports a workflow's module anew to run it."""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow


@workflow.defn(name="ReadsTheWallClock")
class ReadsTheWallClock:
    @workflow.run
    async def run(self) -> str:
        return datetime.now().isoformat()  # differs on every replay
