"""A worker or the Temporal server dies at each point of the commit path; the record and the workflow agree."""

from __future__ import annotations

import asyncio

import pytest

from accord import audit
from decision_support import alliance_with_members, stance, unique
from faults.stack import FaultStack



async def _open(stack: FaultStack) -> str:
    alliance_id = await alliance_with_members(stack.app, unique("rivers"))
    decision_id = unique("d")
    await stack.app.open_decision(alliance_id, "gw", decision_id, "Spring campaign", [{"text": "A march"}, {"text": "A petition"}])
    return decision_id


async def _wait_fired(stack: FaultStack, timeout: float = 30) -> None:
    for _ in range(int(timeout * 10)):
        if stack.fired:
            return
        await asyncio.sleep(0.1)
    raise TimeoutError("the fault never fired")


@pytest.mark.parametrize("point", ["before_append", "after_append"])
async def test_worker_killed_during_a_commit(fault_stack: FaultStack, point: str) -> None:
  async with asyncio.timeout(240):
    stack = fault_stack
    first = stack.worker(harmful=True)
    decision_id = await _open(stack)
    stack.arm(point, "decision-")
    calls = [
        asyncio.ensure_future(stance(stack.app, decision_id, member, "p1", "agree"))
        for member in ("amber", "birch", "cedar")
    ]
    await _wait_fired(stack)
    await asyncio.sleep(0.5)
    assert not first.alive
    stack.worker(harmful=True)
    results = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 90)
    print(results)
    report = await audit.check(stack.app, f"decision-{decision_id}")
    print(report)
    print(stack.logs()[-5000:])
    assert report.ok
