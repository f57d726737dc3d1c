"""34 processes of every kind while workers are SIGKILLed, Temporal restarts and PostgreSQL stops.

One round runs in the README's test command. `ACCORD_SOAK_ROUNDS=N` runs N rounds with more faults each (the
soak of docs/reliability.md); `ACCORD_FAULT_SEED=S` repeats a run's faults and choices exactly.
"""

from __future__ import annotations

import asyncio
import os
import random
import uuid
from pathlib import Path

import pytest

from faults.chaos import draw_faults, inflict, problems_after, save_histories
from faults.scenarios import MIX, Ledger, found, launch
from faults.stack import FaultStack

ROUNDS = int(os.environ.get("ACCORD_SOAK_ROUNDS", "1"))


@pytest.mark.parametrize("round_number", range(ROUNDS))
async def test_every_process_ends_as_expected_and_the_record_holds_whatever_is_killed(
    fault_stack: FaultStack, round_number: int
) -> None:
    seed = int(os.environ.get("ACCORD_FAULT_SEED") or random.SystemRandom().randrange(2**32)) + round_number
    rng = random.Random(seed)
    stack = fault_stack
    again = f"ACCORD_FAULT_SEED={seed - round_number}" + (f" ACCORD_SOAK_ROUNDS={ROUNDS}" if ROUNDS > 1 else "")
    print(f"fault seed {seed}: {again} repeats this run" + (f" as its round {round_number}" if ROUNDS > 1 else ""))
    for _ in range(2):
        stack.worker()
    alliance_id = f"faults-{uuid.uuid4().hex[:6]}"
    await found(stack.app, alliance_id)
    ledger = Ledger(stack.app, rng)
    soak = ROUNDS > 1
    faults = draw_faults(rng, within=80, kills=8 if soak else 4, temporal=2 if soak else 1, postgres=2 if soak else 1)
    log: list[str] = []
    chaos = asyncio.create_task(inflict(stack, faults, rng, log))
    try:
        async with asyncio.timeout(900):
            processes = [launch(ledger, alliance_id, kind, n) for kind, count in MIX for n in range(count)]
            scenarios = await asyncio.gather(*processes)
            await chaos
            problems = await problems_after(stack, ledger, scenarios, timeout=400)
    finally:
        chaos.cancel()
    if os.environ.get("ACCORD_FAULT_HISTORIES"):
        await save_histories(stack, [s.stream_id for s in scenarios], Path(os.environ["ACCORD_FAULT_HISTORIES"]))
    if problems:  # the histories of the processes named, beside the workers' logs
        named = sorted({s.stream_id for s in scenarios if any(s.stream_id in p for p in problems)})
        await save_histories(stack, named, stack.root / "histories")
    outcomes = {o: sum(c.outcome == o for c in ledger.calls) for o in ("ok", "refused", "failed", "unknown")}
    summary = (
        f"seed {seed}; {len(scenarios)} processes; faults: {'; '.join(log)}; calls: {outcomes}; "
        f"worker kills: {sum(w.kills for w in stack.workers)}"
    )
    print(summary)
    assert not problems, summary + "\n" + "\n".join(problems)
