"""How the worker is built: Temporal's sandbox unless ACCORD_WORKFLOW_SANDBOX=false, the cache from the
settings, and replays (the tests, `accord audit check`) always under the sandbox, where a workflow that
reads the clock or draws random numbers is refused."""

from __future__ import annotations

import importlib
import logging
import uuid
from types import SimpleNamespace

import pytest
from clock_workflow import ReadsTheWallClock
from decision_support import charter
from logging_workflow import LogsAnError
from pydantic import BaseModel
from temporalio.worker import UnsandboxedWorkflowRunner, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from accord.app import Accord
from accord.config import Settings
from accord.logs import configure_logging
from accord.runner import worker_for
from accord.worker import replayer, workflow_runner
from events.alliance import FoundAlliance


async def test_the_worker_is_sandboxed_with_the_cache_from_the_settings(app: Accord) -> None:
    # A queue of its own: the fixture's worker already polls the app's.
    elsewhere = SimpleNamespace(client=app.client, pool=app.pool, task_queue=f"{app.task_queue}-cache")
    worker = worker_for(elsewhere, Settings(worker_cache=7))  # type: ignore[arg-type]
    assert worker.config()["max_cached_workflows"] == 7
    runner = worker.config()["workflow_runner"]
    assert isinstance(runner, SandboxedWorkflowRunner)
    # Nothing of accord's is let through unchecked: its workflows run against the restricted modules.
    assert not {"workflows", "accord"} & set(runner.restrictions.passthrough_modules)


async def test_with_the_sandbox_off_the_worker_runs_accords_workflows_unsandboxed(app: Accord) -> None:
    elsewhere = Accord(client=app.client, pool=app.pool, task_queue=f"{app.task_queue}-unsandboxed")
    worker = worker_for(elsewhere, Settings(workflow_sandbox=False))
    assert isinstance(worker.config()["workflow_runner"], UnsandboxedWorkflowRunner)
    alliance_id = f"open-{uuid.uuid4().hex[:8]}"
    async with worker:
        await elsewhere.found_alliance(
            FoundAlliance(alliance_id=alliance_id, charter=charter(), founder_id="gw", founder_name="GreenWatch")
        )
        assert [m.member_id for m in (await elsewhere.alliance(alliance_id)).active_members()] == ["gw"]


async def test_replays_run_under_the_sandbox_and_refuse_a_workflow_that_reads_the_clock(app: Accord) -> None:
    queue = f"{app.task_queue}-clock"
    async with Worker(
        app.client, task_queue=queue, workflows=[ReadsTheWallClock], workflow_runner=UnsandboxedWorkflowRunner()
    ):
        handle = await app.client.start_workflow(ReadsTheWallClock.run, id=f"clock-{uuid.uuid4().hex[:8]}", task_queue=queue)
        await handle.result()  # unsandboxed, nothing stopped it
    history = await handle.fetch_history()

    result = await replayer(ReadsTheWallClock).replay_workflow(history, raise_on_replay_failure=False)

    assert result.replay_failure is not None
    assert "Cannot access datetime.datetime.now" in str(result.replay_failure)


async def test_what_a_sandboxed_workflow_logs_reaches_the_log(app: Accord, capfd: pytest.CaptureFixture[str]) -> None:
    """A record emitted inside the sandbox is rendered by the worker's structlog handler; the sandbox must
    let structlog through, or rendering it re-imports structlog there and fails ('Logging error')."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    configure_logging("info", json=True)
    try:
        queue = f"{app.task_queue}-logs"
        async with Worker(app.client, task_queue=queue, workflows=[LogsAnError], workflow_runner=workflow_runner()):
            handle = await app.client.start_workflow(LogsAnError.run, id=f"logs-{uuid.uuid4().hex[:8]}", task_queue=queue)
            assert await handle.result() == "logged"
    finally:
        root.handlers[:], _ = saved[0], root.setLevel(saved[1])
    err = capfd.readouterr().err
    assert "--- Logging error ---" not in err
    assert "recording a batch failed" in err and "something nobody expected" in err


@pytest.mark.parametrize("module_name", ["workflows.recording", "workflows.process", "workflows.alliance",
                                         "workflows.decision", "workflows.dispute"])
def test_the_sandboxed_workflow_modules_build_no_pydantic_model_of_their_own(module_name: str) -> None:
    """The sandbox imports these modules anew for every workflow run it holds, and a model class costs tens
    of KiB to build each time (the scale benchmark's worker RSS): models live in workflows.shapes, which
    the workflows import through the sandbox."""
    module = importlib.import_module(module_name)
    own = [
        name for name, value in vars(module).items()
        if isinstance(value, type) and issubclass(value, BaseModel) and value.__module__ == module_name
    ]
    assert own == []
    assert all(
        value.__module__ == "workflows.shapes" for name, value in vars(module).items()
        if name in {"CommandResult", "Quarantine", "Carried", "AllianceRun", "DecisionRun", "DisputeRun"}
    )
