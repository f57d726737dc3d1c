"""`python -m bench.worker accord|bare [--cache N] [--runner R]`: a worker in a process of its own.

`accord` is exactly what `accord worker` runs (migrated_app + build_worker); `bare` is a worker with
the same options running the baselines' workflows. For experiments only, `--cache N` and `--runner
sandboxed|passthrough|unsandboxed` build accord's worker with another `max_cached_workflows` or
workflow runner (`sandboxed` is Temporal's sandbox, build_worker's default; `passthrough` the sandbox
with the workflows' package passed through; `unsandboxed` none, as with
ACCORD_WORKFLOW_SANDBOX=false). Prints `ready` once polling; stops on SIGTERM or when stdin closes
(the benchmark that started it has gone).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import threading

from temporalio.worker import UnsandboxedWorkflowRunner, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from accord.config import Settings
from accord.logs import configure_logging
from accord.runner import migrated_app, stop_on_signals
from accord.worker import build_worker, workflow_runner
from bench.bare import BARE_WORKFLOWS


def runner(name: str | None, package: str, settings: Settings) -> WorkflowRunner:
    """The workflow runner called `name` for workflows defined in `package`; by default what
    `accord worker` runs with these settings (ACCORD_WORKFLOW_SANDBOX)."""
    if name is None:
        return workflow_runner(settings.workflow_sandbox)
    if name == "sandboxed":
        return SandboxedWorkflowRunner()
    if name == "passthrough":  # the sandbox with the package passed through: less memory, no checks on it
        return SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules(package))
    if name == "unsandboxed":
        return UnsandboxedWorkflowRunner()
    raise ValueError(f"unknown runner {name!r}: {', '.join(RUNNERS)}")


RUNNERS = ("sandboxed", "passthrough", "unsandboxed")


def _stop_when_stdin_closes(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()

    def watch() -> None:
        sys.stdin.read()
        loop.call_soon_threadsafe(stop.set)

    # A daemon thread: it must not keep the process alive once the worker has stopped.
    threading.Thread(target=watch, daemon=True).start()


async def main(kind: str, cache: int | None, runner_name: str | None) -> None:
    stop = stop_on_signals()
    _stop_when_stdin_closes(stop)
    settings = Settings()
    async with migrated_app(settings) as app:
        if kind == "bare":
            # The same options as accord's worker, the same workflow runner.
            worker = Worker(
                app.client, task_queue=app.task_queue, workflows=BARE_WORKFLOWS, max_concurrent_local_activities=200,
                max_cached_workflows=settings.worker_cache if cache is None else cache,
                workflow_runner=runner(runner_name, "bench", settings),
            )
        else:
            # `accord worker` is build_worker with the settings' cache and runner; --cache and
            # --runner are experiments with one option changed.
            worker = build_worker(
                app.client, app.pool, app.task_queue,
                max_cached_workflows=settings.worker_cache if cache is None else cache,
                runner=runner(runner_name, "workflows", settings),
            )
        async with worker:
            print("ready", flush=True)
            await stop.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.worker")
    parser.add_argument("kind", choices=["accord", "bare"])
    parser.add_argument("--cache", type=int, default=None)
    parser.add_argument("--runner", choices=RUNNERS, default=None)
    args = parser.parse_args()
    configure_logging("warning", json=True)
    asyncio.run(main(args.kind, args.cache, args.runner))
    sys.stdout.flush()
    os._exit(0)  # the Temporal client's native threads may hold the interpreter's shutdown
