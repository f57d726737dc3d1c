"""Each command is an Update of its own name, so that Temporal's history (and `temporal workflow show`, and
the Web UI) says what happened; `execute`, which took any command, still works for older callers."""

from __future__ import annotations

from typing import Any, get_args

import pytest
from decision_support import alliance_with_members, stance, unique
from temporalio.api.enums.v1 import EventType
from temporalio.workflow import _Definition

from accord.app import Accord, send_update
from events.alliance import AllianceCommand
from events.decision import AmendPoint, DecisionCommand, TakeStance
from events.dispute import DisputeCommand
from events.processes import ALLIANCE, DECISION, update_name
from events.rules import Refused
from workflows.alliance import AllianceWorkflow
from workflows.decision import DecisionWorkflow
from workflows.dispute import DisputeWorkflow
from workflows.shapes import CommandResult


async def update_names(app: Accord, workflow_id: str) -> list[str]:
    history = await app.client.get_workflow_handle(workflow_id).fetch_history()
    return [
        e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    ]


async def test_the_history_names_each_command(app: Accord) -> None:
    alliance_id = await alliance_with_members(app, unique("named"))
    decision_id = unique("d")
    await app.open_decision(alliance_id, "gw", decision_id, "Named", [{"text": "March"}])
    await stance(app, decision_id, "amber", "p1", "agree")
    await app.decision_command(decision_id, AmendPoint(actor="gw", point_id="p1", text="March on Sunday"))

    assert await update_names(app, DECISION.stream_name(decision_id, alliance_id)) == ["open_decision", "take_stance", "amend_point"]
    assert (await update_names(app, ALLIANCE.stream_name(alliance_id)))[:2] == ["found_alliance", "admit_member"]


async def test_a_command_sent_as_execute_is_still_decided_and_recorded(app: Accord) -> None:
    alliance_id = await alliance_with_members(app, unique("named"))
    decision_id = unique("d")
    await app.open_decision(alliance_id, "gw", decision_id, "Named", [{"text": "March"}])
    handle = app.client.get_workflow_handle_for(DecisionWorkflow.run, DECISION.stream_name(decision_id, alliance_id))

    result = await send_update(handle, "execute", TakeStance(actor="amber", point_id="p1", stance="agree"),
                               patience=10, result_type=CommandResult)

    assert [r.stream_version for r in result.receipts] == [2]
    with pytest.raises(Refused, match="no point 'p9'"):
        await app.decision_command(decision_id, TakeStance(actor="amber", point_id="p9", stance="agree"))


@pytest.mark.parametrize(
    ("workflow_class", "union"),
    [(AllianceWorkflow, AllianceCommand), (DecisionWorkflow, DecisionCommand), (DisputeWorkflow, DisputeCommand)],
)
def test_every_command_type_has_its_update_and_validator(workflow_class: Any, union: Any) -> None:
    updates = _Definition.must_from_class(workflow_class).updates
    for command_type in get_args(get_args(union)[0]):
        definition = updates[update_name(command_type)]
        assert definition.validator is not None
        assert definition.arg_types == [command_type]
    assert "execute" in updates and update_name(TakeStance) == "take_stance"
