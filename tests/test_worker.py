"""How the worker is built: the sandbox passes accord's `workflows` package through, the cache is a
setting, and audit replays histories under the same sandbox as the worker runs them."""

from __future__ import annotations


import uuid
from types import SimpleNamespace

from temporalio.worker import UnsandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from accord.app import Accord
from accord.config import Settings
from accord.runner import worker_for
from accord.worker import replayer, sandboxed_runner
from decision_support import charter
from events.alliance import FoundAlliance


def test_the_sandbox_passes_the_workflows_package_through() -> None:
    runner = sandboxed_runner()
    assert isinstance(runner, SandboxedWorkflowRunner)
    assert "workflows" in runner.restrictions.passthrough_modules
    # What the sandbox would still refuse, it refuses: the passthrough is not an unsandboxed worker.
    assert "datetime" in runner.restrictions.invalid_module_members.children


async def test_the_worker_cache_comes_from_the_settings(app: Accord) -> None:
    # A queue of its own: the fixture's worker already polls the app's.
    elsewhere = SimpleNamespace(client=app.client, pool=app.pool, task_queue=f"{app.task_queue}-cache")
    worker = worker_for(elsewhere, Settings(worker_cache=7))  # type: ignore[arg-type]
    assert worker.config()["max_cached_workflows"] == 7
    assert isinstance(worker.config()["workflow_runner"], SandboxedWorkflowRunner)


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


def test_audit_replays_with_the_workers_sandbox() -> None:
    assert isinstance(replayer().config()["workflow_runner"], SandboxedWorkflowRunner)
    assert "workflows" in replayer().config()["workflow_runner"].restrictions.passthrough_modules
