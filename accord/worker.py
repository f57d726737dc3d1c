"""The accord worker: every workflow and activity of accord on one task queue."""

from __future__ import annotations

import asyncpg
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from accord.config import DEFAULT_WORKER_CACHE, Settings
from activities.notify import NotifyActivities
from activities.store import StoreActivities
from events.processes import PROCESSES
from events.store import EventStore

WORKFLOWS = [process.workflow for process in PROCESSES.values()]


def workflow_runner(sandbox: bool = True) -> WorkflowRunner:
    """Temporal's sandbox (the default), or none.

    The sandbox imports `workflows` anew for every workflow run and checks what the code calls
    (the clock, randomness, I/O) while it runs. Passing `workflows` through it would halve the memory
    per cached decision, but the package's code would then run with the real modules, unchecked, so
    the sandbox is all or nothing for code; only `workflows.shapes`, pydantic models without behaviour,
    is imported through it (built once per worker, not once per run). Without it (`ACCORD_WORKFLOW_SANDBOX=false`) a worker takes
    about 1.5x the stances per second; replays (the test suite, `accord audit check`) still run under
    the sandbox, which is where non-determinism is then caught (docs/performance.md).

    structlog passes through: a log record emitted inside a workflow is rendered by the worker's
    structlog handler, whose lazy imports would otherwise re-import structlog in the sandbox, where
    reading its settings from the environment is refused (a "Logging error" instead of the record).
    """
    if not sandbox:
        return UnsandboxedWorkflowRunner()
    return SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules("structlog"))


def build_worker(
    client: Client,
    pool: asyncpg.Pool,
    task_queue: str,
    *,
    max_cached_workflows: int = DEFAULT_WORKER_CACHE,
    runner: WorkflowRunner | None = None,
    store: StoreActivities | None = None,
    settings: Settings | None = None,
) -> Worker:
    """The worker; `store` replaces the append activity's implementation (the fault tests' does harm)."""
    store = store or StoreActivities(EventStore(pool))
    notify = NotifyActivities(pool, settings=settings)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=[store.append_events, store.notify_quarantine, notify.deliver_notifications],
        max_concurrent_local_activities=200,
        max_cached_workflows=max_cached_workflows,
        workflow_runner=runner or workflow_runner(),
    )


def replayer(*workflows: type) -> Replayer:
    """A Replayer that runs workflow histories under Temporal's sandbox, whatever the workers do."""
    return Replayer(
        workflows=list(workflows or WORKFLOWS), data_converter=pydantic_data_converter, workflow_runner=workflow_runner()
    )


def main() -> None:
    """`python worker.py`: the same as `accord worker`."""
    from accord.cli import main as cli

    cli(["worker"])
