"""`python -m bench [NAME...] [--quick] [--out PATH]`: start the embedded stack, run the benchmarks,
print a table, write JSON."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench.report import Run, progress, table
from bench.stack import Stack, bench_stack

DEFAULT_OUT = Path(__file__).resolve().parent / "results.json"


def _stances(stack: Stack, args: argparse.Namespace, run: Run) -> Awaitable[None]:
    from bench import stances

    size = {"full": stances.FULL, "quick": stances.QUICK, "tiny": stances.TINY}[args.size]
    return stances.run(stack, size, run)


def _append(stack: Stack, args: argparse.Namespace, run: Run) -> Awaitable[None]:
    from bench import append

    size = {"full": append.FULL, "quick": append.QUICK, "tiny": append.TINY}[args.size]
    return append.run(stack, size, run)


def _replay(stack: Stack, args: argparse.Namespace, run: Run) -> Awaitable[None]:
    from bench import replay

    size = {"full": replay.FULL, "quick": replay.QUICK, "tiny": replay.TINY}[args.size]
    if args.replay_events:
        size = replay.sized(size, args.replay_events)
    return replay.run(stack, size, run)


def _scale(stack: Stack, args: argparse.Namespace, run: Run) -> Awaitable[None]:
    from bench import scale

    size = {"full": scale.FULL, "quick": scale.QUICK, "tiny": scale.TINY}[args.size]
    if args.decisions:
        size = scale.sized(size, args.decisions)
    return scale.run(stack, size, run, worker_cache=args.worker_cache)


def _peer(stack: Stack, args: argparse.Namespace, run: Run) -> Awaitable[None]:
    from bench import peer

    size = {"full": peer.FULL, "quick": peer.QUICK, "tiny": peer.TINY}[args.size]
    return peer.run(stack, size, run)


def _cli(stack: Stack, args: argparse.Namespace, run: Run) -> Awaitable[None]:
    from bench import cli

    size = {"full": cli.FULL, "quick": cli.QUICK, "tiny": cli.TINY}[args.size]
    return cli.run(stack, size, run)


def _log(stack: Stack, args: argparse.Namespace, run: Run) -> Awaitable[None]:
    from bench import log

    size = {"full": log.FULL, "quick": log.QUICK, "tiny": log.TINY}[args.size]
    return log.run(stack, size, run)


BENCHMARKS: dict[str, Callable[[Stack, argparse.Namespace, Run], Awaitable[None]]] = {
    "stances": _stances,
    "append": _append,
    "replay": _replay,
    "scale": _scale,
    "peer": _peer,
    "cli": _cli,
    "log": _log,
}


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="accord's benchmarks, each against a baseline measured in the same run.",
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"benchmarks to run: {', '.join(BENCHMARKS)} (default: all)")
    sizes = parser.add_mutually_exclusive_group()
    sizes.add_argument("--quick", dest="size", action="store_const", const="quick", help="a fast smoke size (about a minute)")
    sizes.add_argument(
        "--tiny", dest="size", action="store_const", const="tiny", help="seconds; for the test that keeps the code from rotting"
    )
    parser.set_defaults(size="full")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the JSON results (default: bench/results.json)")
    parser.add_argument("--replay-events", type=int, default=None, help="events to replay (the full size is 1,000,000)")
    parser.add_argument("--decisions", type=int, default=None, help="open decisions for the scale benchmark (full: 10,000)")
    parser.add_argument(
        "--runner", choices=["sandboxed", "passthrough", "unsandboxed"], default=None,
        help="experiment: every worker (accord's and the bare one) with this workflow runner "
        "(default: what `accord worker` runs, Temporal's sandbox unless ACCORD_WORKFLOW_SANDBOX=false)",
    )
    parser.add_argument(
        "--worker-cache", type=int, default=None, help="experiment: the scale benchmark's worker with this max_cached_workflows"
    )
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    return args


async def run_all(args: argparse.Namespace) -> Run:
    names = args.names or list(BENCHMARKS)
    run = Run(quick=args.size != "full")
    run.details["size"] = args.size
    progress("starting the stack")
    async with bench_stack(args.runner) as stack:
        run.versions = await stack.versions()
        for name in names:
            progress(f"{name} ...")
            started = time.monotonic()
            await BENCHMARKS[name](stack, args, run)
            run.seconds[name] = round(time.monotonic() - started, 1)
            progress(f"{name}: done in {run.seconds[name]} s")
    return run


def main(argv: list[str] | None = None) -> int:
    from accord.logs import configure_logging

    args = parse(argv)
    configure_logging(os.environ.get("ACCORD_LOG_LEVEL", "warning"))
    started = time.monotonic()
    run = asyncio.run(run_all(args))
    run.seconds["total"] = round(time.monotonic() - started, 1)
    print(table(run.figures))
    print(f"\n{run.seconds['total']} s in all; results in {args.out}")
    run.write(args.out)
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # the Temporal client's native threads must not hold the interpreter's shutdown
