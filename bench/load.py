"""Load drivers: closed loop (N callers, each calling again as soon as it is answered) for
throughput, open loop (calls started at a fixed rate, whatever the answers) for latency."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

Call = Callable[[int, int], Awaitable[object]]
"""(caller or sequence number, call number) -> awaitable."""


class Meter(Protocol):
    def snapshot(self) -> dict[str, float]: ...

    def per_call(self, before: dict[str, float], after: dict[str, float], calls: int) -> dict[str, float]: ...


@dataclass
class LoadResult:
    duration: float
    latencies: list[float] = field(default_factory=list[float])
    """Seconds from call to answer, of the calls answered inside the measured window."""
    errors: Counter[str] = field(default_factory=Counter[str])
    cpu: dict[str, float] = field(default_factory=dict[str, float])
    """Milliseconds of CPU per answered call, by part of the stack (see bench.stack.CpuMeter)."""

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.duration if self.duration else 0.0

    def percentile(self, q: float) -> float:
        return percentile(self.latencies, q)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), nearest rank; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


async def closed_loop(
    call: Call, callers: int, warmup: float, duration: float, meter: Meter | None = None
) -> LoadResult:
    """`callers` callers in a loop; counts the answers that arrive in [warmup, warmup + duration)."""
    loop = asyncio.get_running_loop()
    begin = loop.time() + warmup
    end = begin + duration
    result = LoadResult(duration=duration)
    snapshots: list[dict[str, float]] = []

    async def measure() -> None:
        if meter is None:
            return
        await asyncio.sleep(max(0.0, begin - loop.time()))
        snapshots.append(meter.snapshot())
        await asyncio.sleep(max(0.0, end - loop.time()))
        snapshots.append(meter.snapshot())

    async def caller(index: int) -> None:
        number = 0
        while loop.time() < end:
            started = loop.time()
            try:
                await call(index, number)
            except Exception as error:  # noqa: BLE001 - counted and shown; a benchmark must not die on one refusal
                result.errors[f"{type(error).__name__}: {str(error)[:120]}"] += 1
            else:
                answered = loop.time()
                if begin <= answered < end:
                    result.latencies.append(answered - started)
            number += 1

    await asyncio.gather(measure(), *(caller(i) for i in range(callers)))
    if meter is not None and len(snapshots) == 2:
        result.cpu = meter.per_call(snapshots[0], snapshots[1], len(result.latencies))
    return result


async def open_loop(call: Call, rate: float, warmup: float, duration: float) -> LoadResult:
    """Calls started every 1/rate seconds for warmup + duration; latencies of those started after warmup."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    total = int(rate * (warmup + duration))
    result = LoadResult(duration=duration)
    tasks: list[asyncio.Task[None]] = []

    async def one(number: int, measured: bool) -> None:
        started = loop.time()
        try:
            await call(number, number)
        except Exception as error:  # noqa: BLE001 - counted and shown, as above
            result.errors[f"{type(error).__name__}: {str(error)[:120]}"] += 1
            return
        if measured:
            result.latencies.append(loop.time() - started)

    for number in range(total):
        at = start + number / rate
        delay = at - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(number, at - start >= warmup)))
    await asyncio.gather(*tasks)
    return result
