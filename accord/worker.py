"""The accord worker: every workflow and activity of accord on one task queue."""

from __future__ import annotations

import asyncpg
from temporalio.client import Client
from temporalio.worker import Worker

from activities.notify import NotifyActivities
from activities.store import StoreActivities
from events.store import EventStore
from workflows.alliance import AllianceWorkflow
from workflows.decision import DecisionWorkflow
from workflows.dispute import DisputeWorkflow

WORKFLOWS = [AllianceWorkflow, DecisionWorkflow, DisputeWorkflow]


def build_worker(client: Client, pool: asyncpg.Pool, task_queue: str) -> Worker:
    store = StoreActivities(EventStore(pool))
    notify = NotifyActivities(pool)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=[store.append_events, notify.deliver_notifications],
        max_concurrent_local_activities=200,
    )


def main() -> None:
    """`python worker.py`: the same as `accord worker`."""
    from accord.cli import main as cli

    cli(["worker"])
