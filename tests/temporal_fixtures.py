"""Temporal for the tests: a real dev server (session-wide) and a worker per test on its own task queue."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from accord.app import Accord
from accord.binaries import binary
from accord.worker import build_worker
from workflows import search


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"),
        data_converter=pydantic_data_converter,
        search_attributes=search.ALL,
        dev_server_extra_args=["--dynamic-config-value", "history.maxInFlightUpdates=50"],
    )
    async with env:
        yield env


@pytest.fixture
def task_queue() -> str:
    return f"test-{uuid.uuid4()}"


@pytest.fixture
async def app(temporal_env: WorkflowEnvironment, app_pool: asyncpg.Pool, task_queue: str) -> AsyncIterator[Accord]:
    """The application layer on a fresh database, with a worker running for it, both as the service role
    (`pool` is the test's own superuser connection, for what only an operator may do)."""
    async with build_worker(temporal_env.client, app_pool, task_queue):
        yield Accord(client=temporal_env.client, pool=app_pool, task_queue=task_queue)


@pytest.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server: timers of days pass in milliseconds while tests wait on results."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server", extra="dev"),
        data_converter=pydantic_data_converter,
    )
    async with env:
        await env.client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=env.client.namespace,
                search_attributes={key.name: key.indexed_value_type for key in search.ALL},
            )
        )
        yield env


@pytest.fixture
async def skipping_app(
    time_skipping_env: WorkflowEnvironment, app_pool: asyncpg.Pool, task_queue: str
) -> AsyncIterator[Accord]:
    """The application layer on the time-skipping server, with a worker running for it.

    At the end it terminates the processes the test left running: on the shared time-skipping server
    a workflow with pending timers and no worker would hold the clock for every later test."""
    async with build_worker(time_skipping_env.client, app_pool, task_queue):
        yield Accord(client=time_skipping_env.client, pool=app_pool, task_queue=task_queue)
        await end_running_processes(time_skipping_env.client, app_pool)


async def end_running_processes(client: Client, pool: asyncpg.Pool) -> None:
    """Terminate the workflows of every stream in this test's database that are still running."""
    for row in await pool.fetch("SELECT DISTINCT stream_id FROM accord.events"):
        handle = client.get_workflow_handle(row["stream_id"])
        try:
            if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                await handle.terminate(reason="test finished")
        except RPCError:
            continue  # already gone
