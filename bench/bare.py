"""The baselines' workflows: what Temporal and the Python SDK cost with nothing of accord's inside.

`BareStance` takes the same Update (a TakeStance command in, a CommandResult out) and does nothing
with it; `BareTimer` sleeps until a deadline and ends. They run on a worker built like accord's
(same worker options), on the same Temporal server, driven by the same load as accord's workflows.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from events.decision import TakeStance
    from workflows.shapes import CommandResult


@workflow.defn(name="BenchBareStance")
class BareStance:
    def __init__(self) -> None:
        self.done = False

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self.done)

    @workflow.update
    async def take_stance(self, command: TakeStance) -> CommandResult:
        return CommandResult(receipts=[])

    @workflow.signal
    def stop(self) -> None:
        self.done = True


@workflow.defn(name="BenchBareTimer")
class BareTimer:
    @workflow.run
    async def run(self, deadline: datetime) -> None:
        delay = deadline - workflow.now()
        if delay.total_seconds() > 0:
            await workflow.sleep(delay)


BARE_WORKFLOWS = [BareStance, BareTimer]
