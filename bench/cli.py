"""Benchmark 7: what the `accord` command costs before and around its work, as a process from outside.

Each case runs the installed `accord` entry point as an operator does, in a clean environment (no
ACCORD_* or TEMPORAL_* settings, a HOME without a dev stack), timed with `os.wait4`: its wall time
and the CPU its process used (every thread: the interpreter, asyncpg, the Temporal client's core).

- `accord --help` and `accord decision stance --help` (a subcommand's help shows its options and
  choices);
- a command up to its first network call: `accord member admit ...` against PostgreSQL and Temporal
  addresses where nothing listens, so the first connection is refused by the kernel at once and the
  command exits 1 ("cannot reach a service"). Its wall time is everything the command does before it
  waits on a server: start, imports, argument parsing, settings, the event loop;
- the same command against the stack, admitting a new member each time through a worker process:
  its CPU time is the command's own work (waiting on a server costs no CPU), its wall time adds the
  round trips (connecting to PostgreSQL and Temporal, the Update and its commit).

The baseline is the same interpreter starting and doing nothing (`python -c pass`), run in the same
rounds: cases alternate within a round, so drift on a shared machine hits them alike. Each figure
is the median over the rounds.
"""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import asyncpg

from accord.app import Accord
from bench import setup
from bench.report import Figure, Run, progress
from bench.stack import Stack, worker_process


@dataclass(frozen=True)
class Size:
    rounds: int = 15
    warmup: int = 2
    """Rounds run first and not counted (the page cache, compiled bytecode)."""


FULL = Size()
QUICK = Size(rounds=5, warmup=1)
TINY = Size(rounds=1, warmup=0)


@dataclass
class Sample:
    wall: float
    cpu: float


def accord_command() -> list[str]:
    """The `accord` entry point installed next to this interpreter (`python -m accord.cli` without one)."""
    script = Path(sys.executable).parent / "accord"
    return [str(script)] if script.exists() else [sys.executable, "-m", "accord.cli"]


def clean_environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ACCORD_", "TEMPORAL_"))}
    env["HOME"] = str(home)
    return env


def refused_address() -> str:
    """127.0.0.1 and a port nothing listens on: connecting is refused at once, with no server involved."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


def timed(argv: list[str], env: dict[str, str], expect: int, expect_in_stderr: str = "") -> Sample:
    """Run a process to its end: its wall time and the CPU it used (user + system, all threads)."""
    with tempfile.TemporaryFile() as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        stderr.seek(0)
        said = stderr.read().decode(errors="replace")
    if process.returncode != expect or expect_in_stderr not in said:
        raise RuntimeError(f"{' '.join(argv)} exited {process.returncode} (expected {expect}): {said[-2000:]}")
    return Sample(wall=wall, cpu=usage.ru_utime + usage.ru_stime)


async def run(stack: Stack, size: Size, report: Run) -> None:
    tag = uuid.uuid4().hex[:6]
    queue, alliance_id = f"bench-cli-{tag}", f"bench-{tag}"
    async with stack.database("cli") as url:
        pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
        try:
            with worker_process(stack, url, queue, "accord"), tempfile.TemporaryDirectory() as home:
                await setup.alliance(Accord(client=stack.client, pool=pool, task_queue=queue), alliance_id, 1)
                plain = clean_environment(Path(home))
                nowhere = refused_address()
                envs = {
                    "plain": plain,
                    "served": {**plain, "ACCORD_DATABASE_URL": url, "TEMPORAL_ADDRESS": stack.temporal_address,
                               "ACCORD_TASK_QUEUE": queue},
                    "refused": {**plain, "ACCORD_DATABASE_URL": f"postgresql://accord@{nowhere}/accord",
                                "TEMPORAL_ADDRESS": nowhere},
                }
                samples = await asyncio.to_thread(_rounds, size, envs, alliance_id)
        finally:
            await pool.close()
    _report(samples, size, report)


def _rounds(size: Size, envs: dict[str, dict[str, str]], alliance_id: str) -> dict[str, list[Sample]]:
    """Every case once a round, in the same order; the warm-up rounds are left out."""
    accord = accord_command()
    admit = [*accord, "member", "admit", alliance_id]
    as_founder = ["--name", "A member", "--as", setup.FOUNDER]
    samples: dict[str, list[Sample]] = {}
    for index in range(size.warmup + size.rounds):
        progress(f"cli: round {index + 1} of {size.warmup + size.rounds}{' (warm-up)' if index < size.warmup else ''}")
        taken = {
            "baseline": timed([sys.executable, "-c", "pass"], envs["plain"], 0),
            "help": timed([*accord, "--help"], envs["plain"], 0),
            "subcommand_help": timed([*accord, "decision", "stance", "--help"], envs["plain"], 0),
            "unreachable": timed([*admit, f"x{index:03d}", *as_founder], envs["refused"], 75, "did not answer"),
            "command": timed([*admit, f"c{index:03d}", *as_founder], envs["served"], 0),
        }
        if index >= size.warmup:
            for case, sample in taken.items():
                samples.setdefault(case, []).append(sample)
    return samples


def _ms(samples: list[Sample], what: str) -> float:
    """The median, in milliseconds, of the samples' wall or CPU time."""
    return statistics.median(s.cpu if what == "cpu" else s.wall for s in samples) * 1000


def _report(samples: dict[str, list[Sample]], size: Size, report: Run) -> None:
    baseline = samples["baseline"]

    def figure(case: str, metric: str, what: str, target: float | None = None) -> Figure:
        return Figure(
            "cli", metric, f"ms {what}", _ms(samples[case], what), _ms(baseline, what), "python -c pass",
            higher_is_better=False, target_absolute=target,
        )

    report.figures += [
        figure("help", "`accord --help`", "wall", 300),
        figure("subcommand_help", "`accord decision stance --help`", "wall"),
        figure("unreachable", "`accord member admit` up to its first network call", "wall", 500),
        figure("command", "`accord member admit` against the stack, own work", "cpu", 500),
        figure("command", "`accord member admit` against the stack, with its round trips", "wall"),
    ]
    program, *arguments = accord_command()
    report.details["cli"] = {
        "size": asdict(size),
        "command": [Path(program).name, *arguments],  # the results name no path of this machine
        "samples_ms": {
            case: [{"wall": round(s.wall * 1000, 1), "cpu": round(s.cpu * 1000, 1)} for s in runs]
            for case, runs in samples.items()
        },
    }
