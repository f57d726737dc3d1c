"""The accord worker: every workflow and activity of accord on one task queue."""

from __future__ import annotations

import asyncpg
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from accord.config import DEFAULT_WORKER_CACHE
from activities.notify import NotifyActivities
from activities.store import StoreActivities
from events.store import EventStore
from workflows.alliance import AllianceWorkflow
from workflows.decision import DecisionWorkflow
from workflows.dispute import DisputeWorkflow

WORKFLOWS = [AllianceWorkflow, DecisionWorkflow, DisputeWorkflow]

def sandboxed_runner(package: str = "workflows") -> SandboxedWorkflowRunner:
    """Temporal's sandbox, with accord's `workflows` package (or another) passed through.

    The sandbox still runs every workflow in a context of its own and checks it for
    non-determinism. Without the passthrough it would also import `workflows` (its pydantic models
    and workflow classes, which do nothing at import) anew for every workflow run: the worker then
    held about twice the memory per cached decision and spent 15-25% more CPU opening one
    (docs/performance.md). Like `events`, which the workflows import through
    `imports_passed_through`, the package keeps no state of its own.
    """
    return SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules(package))


def build_worker(
    client: Client,
    pool: asyncpg.Pool,
    task_queue: str,
    *,
    max_cached_workflows: int = DEFAULT_WORKER_CACHE,
    workflow_runner: WorkflowRunner | None = None,
) -> Worker:
    store = StoreActivities(EventStore(pool))
    notify = NotifyActivities(pool)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=[store.append_events, notify.deliver_notifications],
        max_concurrent_local_activities=200,
        max_cached_workflows=max_cached_workflows,
        workflow_runner=workflow_runner or sandboxed_runner(),
    )


def replayer(*workflows: type) -> Replayer:
    """A Replayer that runs workflow histories the way the worker runs workflows."""
    return Replayer(
        workflows=list(workflows or WORKFLOWS), data_converter=pydantic_data_converter, workflow_runner=sandboxed_runner()
    )


def main() -> None:
    """`python worker.py`: the same as `accord worker`."""
    from accord.cli import main as cli

    cli(["worker"])
