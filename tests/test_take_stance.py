"""Accord.take_stance: the stance path checked in the event store instead of two workflow queries.

It must refuse exactly what decision_command refuses (unknown decision, another alliance's decision,
a non-member, a suspended or removed member, bad input, an ended decision) and record exactly what
it records, on a real Temporal dev server and a real PostgreSQL.
"""

from __future__ import annotations

import pytest
from decision_support import alliance_with_members, event_types, unique

from accord.app import Accord
from events.alliance import ReinstateMember, RemoveMember, SuspendMember
from events.decision import WithdrawDecision
from events.processes import DECISION
from events.rules import RefusalKind, Refused


async def opened(app: Accord) -> tuple[str, str]:
    alliance_id = await alliance_with_members(app, unique("rivers"))
    decision_id = unique("d")
    await app.open_decision(alliance_id, "gw", decision_id, "Spring campaign", [{"text": "march"}, {"text": "sponsor"}])
    return alliance_id, decision_id


async def refusal(call) -> Refused:  # type: ignore[no-untyped-def]
    with pytest.raises(Refused) as caught:
        await call
    return caught.value


async def test_a_stance_is_recorded_and_answered_with_its_receipt(app: Accord) -> None:
    alliance_id, decision_id = await opened(app)
    result = await app.take_stance(decision_id, "amber", "p1", "agree", alliance_id=alliance_id)
    assert [r.stream_version for r in result.receipts] == [2]
    changed = await app.take_stance(decision_id, "amber", "p1", "object", reason="too costly")
    assert changed.receipts[0].stream_version == 3
    assert await event_types(app.store, DECISION.stream_name(decision_id, alliance_id)) == ["DecisionOpened", "StanceTaken", "StanceTaken"]
    view = await app.decision(decision_id)
    assert view.state.points["p1"].stances["amber"].stance == "object"


async def test_it_refuses_what_decision_command_refuses_and_records_nothing(app: Accord) -> None:
    alliance_id, decision_id = await opened(app)
    stream = DECISION.stream_name(decision_id, alliance_id)

    missing = await refusal(app.take_stance(unique("nope"), "amber", "p1", "agree"))
    assert missing.kind == RefusalKind.NOT_FOUND
    other = await refusal(app.take_stance(decision_id, "amber", "p1", "agree", alliance_id="elsewhere"))
    assert (other.kind, other.message) == (RefusalKind.NOT_FOUND, f"no decision {decision_id!r}")  # ids are the alliance's
    stranger = await refusal(app.take_stance(decision_id, "zed", "p1", "agree"))
    assert stranger.kind == RefusalKind.FORBIDDEN and "not a member" in stranger.message
    point = await refusal(app.take_stance(decision_id, "amber", "p9", "agree"))
    assert point.kind == RefusalKind.NOT_FOUND and point.field == "point_id"
    reason = await refusal(app.take_stance(decision_id, "amber", "p1", "block"))
    assert reason.kind == RefusalKind.INVALID and reason.field == "reason"
    kind = await refusal(app.take_stance(decision_id, "amber", "p1", "maybe"))
    assert kind.kind == RefusalKind.INVALID and kind.field == "stance"

    await app.alliance_command(alliance_id, SuspendMember(actor="gw", member_id="birch", reason="dues unpaid"))
    suspended = await refusal(app.take_stance(decision_id, "birch", "p1", "agree"))
    assert suspended.kind == RefusalKind.FORBIDDEN and "is suspended" in suspended.message
    await app.alliance_command(alliance_id, ReinstateMember(actor="gw", member_id="birch"))
    await app.take_stance(decision_id, "birch", "p1", "agree")  # reinstated: active again
    await app.alliance_command(alliance_id, RemoveMember(actor="gw", member_id="cedar", reason="left the coalition"))
    removed = await refusal(app.take_stance(decision_id, "cedar", "p1", "agree"))
    assert removed.kind == RefusalKind.FORBIDDEN and "is removed" in removed.message

    assert await event_types(app.store, stream) == ["DecisionOpened", "StanceTaken"]


async def test_an_ended_decision_says_why_through_decision_command(app: Accord) -> None:
    _, decision_id = await opened(app)
    await app.decision_command(decision_id, WithdrawDecision(actor="gw", reason="no longer needed"))
    ended = await refusal(app.take_stance(decision_id, "amber", "p1", "agree"))
    assert ended.kind == RefusalKind.CONFLICT and "withdrawn" in ended.message
