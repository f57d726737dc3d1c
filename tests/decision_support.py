"""Shared set-up for decision tests: an alliance with a known membership, opened decisions."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from accord.app import Accord
from events.alliance import AdmitMember, FoundAlliance, Role
from events.charter import Charter, load_charter
from events.decision import DecisionState
from workflows.decision import DecisionWorkflow, decision_workflow_id

CHARTER = Path(__file__).resolve().parent.parent / "examples" / "charter.toml"
MEMBERS = ["amber", "birch", "cedar", "dune"]  # with the founder 'gw': an electorate of 5, quorum 3


def charter(**rules: object) -> Charter:
    base = load_charter(CHARTER)
    return base.model_copy(update={"decisions": base.decisions.model_copy(update=rules)})


async def alliance_with_members(app: Accord, alliance_id: str = "rivers", **rules: object) -> str:
    await app.found_alliance(
        FoundAlliance(alliance_id=alliance_id, charter=charter(**rules), founder_id="gw", founder_name="GreenWatch")
    )
    roles = {"amber": [Role.STEERING], "birch": [Role.MEDIATOR]}
    for member in MEMBERS:
        await app.alliance_command(
            alliance_id,
            AdmitMember(actor="gw", member_id=member, name=member.title(), roles=roles.get(member, [Role.MEMBER])),
        )
    return alliance_id


DAY = timedelta(days=1)


async def final_state(env: WorkflowEnvironment, decision_id: str, step: timedelta = timedelta(hours=6)) -> DecisionState:
    """Skip time until a decision ends and return its final state.

    Only handles made by the environment's own start_workflow skip time while awaiting a result, and
    the test server cannot answer a result request that names no run, so: sleep, describe, repeat.
    """
    workflow_id = decision_workflow_id(decision_id)
    for _ in range(400):
        description = await env.client.get_workflow_handle(workflow_id).describe()
        if description.status != WorkflowExecutionStatus.RUNNING:
            break
        await env.sleep(step)
    handle = env.client.get_workflow_handle_for(DecisionWorkflow.run, workflow_id, run_id=description.run_id)
    state = await handle.result()
    assert state is not None
    return state
