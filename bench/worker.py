"""`python -m bench.worker accord|bare [--cache N] [--runner R]`: a worker in a process of its own.

`accord` is exactly what `accord worker` runs (migrated_app + build_worker); `bare` is a worker with
the same options running the baselines' workflows. For experiments only, `--cache N` and `--runner
passthrough|unsandboxed` rebuild accord's worker with another `max_cached_workflows` or workflow
runner (`passthrough`: the sandbox, with accord's `workflows` package passed through instead of
re-imported for every workflow run). Prints `ready` once polling; stops on SIGTERM or when stdin
closes (the benchmark that started it has gone).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import threading
from typing import Any

from temporalio.worker import UnsandboxedWorkflowRunner, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from accord.config import Settings
from accord.logs import configure_logging
from accord.runner import migrated_app, stop_on_signals
from accord.worker import WORKFLOWS, build_worker
from activities.notify import NotifyActivities
from activities.store import StoreActivities
from bench.bare import BARE_WORKFLOWS
from events.store import EventStore

RUNNERS = {
    "passthrough": lambda: SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules("workflows")
    ),
    "unsandboxed": UnsandboxedWorkflowRunner,
}


def _stop_when_stdin_closes(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()

    def watch() -> None:
        sys.stdin.read()
        loop.call_soon_threadsafe(stop.set)

    # A daemon thread: it must not keep the process alive once the worker has stopped.
    threading.Thread(target=watch, daemon=True).start()


async def main(kind: str, cache: int | None, runner: str | None) -> None:
    stop = stop_on_signals()
    _stop_when_stdin_closes(stop)
    settings = Settings()
    async with migrated_app(settings) as app:
        if kind == "bare":
            worker = Worker(
                app.client, task_queue=app.task_queue, workflows=BARE_WORKFLOWS, max_concurrent_local_activities=200
            )
        elif cache is not None or runner is not None:
            # An experiment: accord's worker as build_worker makes it, with one option changed.
            options: dict[str, Any] = {}
            if cache is not None:
                options["max_cached_workflows"] = cache
            if runner is not None:
                options["workflow_runner"] = RUNNERS[runner]()
            worker = Worker(
                app.client,
                task_queue=app.task_queue,
                workflows=WORKFLOWS,
                activities=[
                    StoreActivities(EventStore(app.pool)).append_events,
                    NotifyActivities(app.pool).deliver_notifications,
                ],
                max_concurrent_local_activities=200,
                **options,
            )
        else:
            worker = build_worker(app.client, app.pool, app.task_queue)
        async with worker:
            print("ready", flush=True)
            await stop.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.worker")
    parser.add_argument("kind", choices=["accord", "bare"])
    parser.add_argument("--cache", type=int, default=None)
    parser.add_argument("--runner", choices=sorted(RUNNERS), default=None)
    args = parser.parse_args()
    configure_logging("warning", json=True)
    asyncio.run(main(args.kind, args.cache, args.runner))
    sys.stdout.flush()
    os._exit(0)  # the Temporal client's native threads may hold the interpreter's shutdown
