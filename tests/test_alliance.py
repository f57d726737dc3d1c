"""The alliance decider, pure and fast: what each command records, and why each refused one is refused.

Every refusal is checked for its kind (which the HTTP API turns into a status code) and for a message
that tells the person what is wrong; `evolve` is checked event by event, and through a JSON round trip
because that is how the events come back from the store and from Temporal.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from accord.examples import CHARTER as EXAMPLE_CHARTER
from events import decision, dispute
from events.alliance import (
    AdmitMember,
    AllianceCommand,
    AllianceFounded,
    AllianceState,
    AmendCharter,
    CharterAmended,
    FoundAlliance,
    MemberAdmitted,
    MemberReinstated,
    MemberRemoved,
    MemberStatus,
    MemberSuspended,
    ReinstateMember,
    RemoveMember,
    Role,
    RolesChanged,
    SetRoles,
    SetWebhook,
    SuspendMember,
    WebhookChanged,
    alliance_event,
    decide,
    evolve,
)
from events.charter import Charter, load_charter
from events.rules import RefusalKind, Refused, build

CHARTER = load_charter(EXAMPLE_CHARTER)
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def found_command(**changes: Any) -> FoundAlliance:
    fields: dict[str, Any] = {
        "alliance_id": "rivers",
        "charter": CHARTER,
        "founder_id": "riverkeepers",
        "founder_name": "River Keepers",
    }
    return FoundAlliance(**{**fields, **changes})


def apply(state: AllianceState | None, command: AllianceCommand, now: datetime) -> AllianceState:
    """decide then evolve, as the workflow does."""
    for event in decide(state, command, now):
        state = evolve(state, event)
    assert state is not None
    return state


def run(commands: Sequence[AllianceCommand]) -> AllianceState | None:
    state: AllianceState | None = None
    for minute, command in enumerate(commands):
        state = apply(state, command, at(minute))
    return state


def founded() -> AllianceState:
    state = run([found_command()])
    assert state is not None
    return state


@pytest.fixture
def rivers() -> AllianceState:
    """riverkeepers (coordinator, founder), anglers (member), wetlands (steering), mudlarks (suspended),
    otters (removed)."""
    state = founded()
    for minute, command in enumerate(
        [
            AdmitMember(actor="riverkeepers", member_id="anglers", name="Anglers United"),
            AdmitMember(actor="riverkeepers", member_id="wetlands", name="Wetland Trust", roles=[Role.STEERING]),
            AdmitMember(actor="riverkeepers", member_id="mudlarks", name="Mudlarks"),
            AdmitMember(actor="riverkeepers", member_id="otters", name="Otter Watch"),
            SuspendMember(actor="riverkeepers", member_id="mudlarks", reason="dues unpaid for a year"),
            RemoveMember(actor="riverkeepers", member_id="otters", reason="dissolved"),
        ],
        start=1,
    ):
        state = apply(state, command, at(minute))
    return state


def refused(state: AllianceState | None, command: AllianceCommand) -> Refused:
    with pytest.raises(Refused) as caught:
        decide(state, command, at(100))
    return caught.value


# --- founding --------------------------------------------------------------------------------------


def test_founding_records_the_charter_and_makes_the_founder_the_first_coordinator() -> None:
    events = decide(None, found_command(founder_webhook_url="https://keepers.example/hook"), T0)

    assert events == [
        AllianceFounded(
            at=T0,
            alliance_id="rivers",
            charter=CHARTER,
            founder_id="riverkeepers",
            founder_name="River Keepers",
            founder_webhook_url="https://keepers.example/hook",
        )
    ]
    state = evolve(None, events[0])
    assert state.alliance_id == "rivers"
    assert state.name == "Clean Rivers Alliance"
    assert state.charter == CHARTER
    assert state.founder == "riverkeepers"
    assert state.founded_at == T0
    assert list(state.members) == ["riverkeepers"]
    founder = state.members["riverkeepers"]
    assert founder.roles == [Role.COORDINATOR]
    assert founder.status == MemberStatus.ACTIVE
    assert founder.name == "River Keepers"
    assert founder.webhook_url == "https://keepers.example/hook"
    assert founder.joined_at == T0
    assert state.with_role(Role.COORDINATOR) == ["riverkeepers"]


def test_founding_twice_is_a_conflict() -> None:
    error = refused(founded(), found_command(founder_id="someone-else"))

    assert error.kind == RefusalKind.CONFLICT
    assert error.message == "alliance 'rivers' was already founded on 2025-03-01"


def test_any_other_command_before_founding_is_not_found() -> None:
    error = refused(None, AdmitMember(actor="riverkeepers", member_id="anglers", name="Anglers United"))

    assert error.kind == RefusalKind.NOT_FOUND
    assert error.message == "this alliance has not been founded"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"alliance_id": "Clean Rivers"}, "alliance_id"),
        ({"founder_id": "River_Keepers!"}, "founder_id"),
        ({"founder_name": "   "}, "founder_name"),
        ({"founder_webhook_url": "not a url"}, "founder_webhook_url"),
    ],
)
def test_a_founding_command_with_a_bad_field_is_refused_naming_it(changes: dict[str, Any], field: str) -> None:
    fields = {"alliance_id": "rivers", "charter": CHARTER, "founder_id": "riverkeepers", "founder_name": "Keepers"}

    with pytest.raises(Refused) as caught:
        build(FoundAlliance, **{**fields, **changes})

    assert caught.value.kind == RefusalKind.INVALID
    assert caught.value.field == field
    assert caught.value.message.startswith(f"{field}: ")


# --- who may act ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        AdmitMember(actor="{actor}", member_id="newts", name="Newt Society"),
        SuspendMember(actor="{actor}", member_id="anglers", reason="r"),
        ReinstateMember(actor="{actor}", member_id="mudlarks"),
        RemoveMember(actor="{actor}", member_id="anglers", reason="r"),
        SetRoles(actor="{actor}", member_id="anglers", roles=[Role.MEDIATOR]),
        SetWebhook(actor="{actor}", member_id="anglers", webhook_url="https://x.example/h"),
        AmendCharter(actor="{actor}", charter=CHARTER.model_copy(update={"name": "Rivers"}), reason="r"),
    ],
    ids=lambda c: c.type,
)
@pytest.mark.parametrize(
    ("actor", "message"),
    [
        ("strangers", "'strangers' is not a member of alliance 'rivers'"),
        ("mudlarks", "'mudlarks' is suspended in alliance 'rivers' and cannot act"),
        ("otters", "'otters' is removed in alliance 'rivers' and cannot act"),
    ],
)
def test_only_active_members_may_act(rivers: AllianceState, command: Any, actor: str, message: str) -> None:
    error = refused(rivers, command.model_copy(update={"actor": actor}))

    assert error.kind == RefusalKind.FORBIDDEN
    assert error.message == message


@pytest.mark.parametrize(
    ("command", "action"),
    [
        (AdmitMember(actor="wetlands", member_id="newts", name="Newt Society"), "admit members"),
        (SuspendMember(actor="wetlands", member_id="anglers", reason="r"), "suspend members"),
        (ReinstateMember(actor="wetlands", member_id="mudlarks"), "reinstate members"),
        (RemoveMember(actor="wetlands", member_id="anglers", reason="r"), "remove other members"),
        (SetRoles(actor="wetlands", member_id="wetlands", roles=[Role.COORDINATOR]), "change roles"),
        (SetWebhook(actor="wetlands", member_id="anglers", webhook_url=None), "set another member's webhook"),
        (
            AmendCharter(actor="wetlands", charter=CHARTER.model_copy(update={"name": "R"}), reason="r"),
            "amend the charter",
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else value.type,
)
def test_coordinator_actions_are_forbidden_to_other_members(
    rivers: AllianceState, command: AllianceCommand, action: str
) -> None:
    error = refused(rivers, command)

    assert error.kind == RefusalKind.FORBIDDEN
    assert error.message == f"only a coordinator may {action}; 'wetlands' has roles steering"


# --- admitting -----------------------------------------------------------------------------------


def test_a_coordinator_admits_a_member_with_sorted_distinct_roles() -> None:
    state = founded()
    command = AdmitMember(
        actor="riverkeepers",
        member_id="wetlands",
        name="Wetland Trust",
        roles=[Role.STEERING, Role.MEDIATOR, Role.STEERING],
        webhook_url="https://wetlands.example/accord",
    )

    events = decide(state, command, at(5))

    assert events == [
        MemberAdmitted(
            at=at(5),
            member_id="wetlands",
            name="Wetland Trust",
            roles=[Role.MEDIATOR, Role.STEERING],
            webhook_url="https://wetlands.example/accord",
        )
    ]
    after = evolve(state, events[0])
    member = after.members["wetlands"]
    assert (member.name, member.roles, member.status) == ("Wetland Trust", [Role.MEDIATOR, Role.STEERING], "active")
    assert member.webhook_url == "https://wetlands.example/accord"
    assert member.joined_at == at(5)
    assert after.members["riverkeepers"] == state.members["riverkeepers"]
    assert "wetlands" not in state.members, "evolve returns a new state; the old one is unchanged"


def test_admitting_with_the_default_role_makes_a_plain_member() -> None:
    events = decide(founded(), AdmitMember(actor="riverkeepers", member_id="anglers", name="Anglers"), T0)

    assert isinstance(events[0], MemberAdmitted)
    assert events[0].roles == [Role.MEMBER]
    assert events[0].webhook_url is None


@pytest.mark.parametrize("member_id", ["anglers", "mudlarks", "otters", "riverkeepers"])
def test_a_member_id_already_taken_is_refused_even_by_a_removed_member(rivers: AllianceState, member_id: str) -> None:
    error = refused(rivers, AdmitMember(actor="riverkeepers", member_id=member_id, name="Someone New"))

    assert error.kind == RefusalKind.INVALID
    assert error.field == "member_id"
    assert error.message == f"member id {member_id!r} is already taken in 'rivers'; choose another"


def test_admitting_with_no_roles_is_refused() -> None:
    with pytest.raises(Refused) as caught:
        build(AdmitMember, actor="riverkeepers", member_id="anglers", name="Anglers", roles=[])

    assert caught.value.kind == RefusalKind.INVALID
    assert caught.value.field == "roles"


# --- suspending, reinstating, removing ----------------------------------------------------------


def test_a_coordinator_suspends_and_reinstates_a_member(rivers: AllianceState) -> None:
    events = decide(rivers, SuspendMember(actor="riverkeepers", member_id="anglers", reason="missed dues"), at(10))
    assert events == [MemberSuspended(at=at(10), member_id="anglers", reason="missed dues")]
    suspended = evolve(rivers, events[0])
    assert suspended.members["anglers"].status == MemberStatus.SUSPENDED
    assert not suspended.members["anglers"].active
    assert "anglers" not in [m.member_id for m in suspended.active_members()]

    events = decide(suspended, ReinstateMember(actor="riverkeepers", member_id="anglers"), at(11))
    assert events == [MemberReinstated(at=at(11), member_id="anglers")]
    reinstated = evolve(suspended, events[0])
    assert reinstated.members["anglers"].status == MemberStatus.ACTIVE
    assert reinstated == rivers, "reinstating undoes the suspension exactly"


def test_suspending_a_suspended_member_is_a_conflict(rivers: AllianceState) -> None:
    error = refused(rivers, SuspendMember(actor="riverkeepers", member_id="mudlarks", reason="again"))

    assert error.kind == RefusalKind.CONFLICT
    assert error.message == "member 'mudlarks' is already suspended"


def test_reinstating_an_active_member_is_a_conflict(rivers: AllianceState) -> None:
    error = refused(rivers, ReinstateMember(actor="riverkeepers", member_id="anglers"))

    assert error.kind == RefusalKind.CONFLICT
    assert error.message == "member 'anglers' is active, not suspended"


@pytest.mark.parametrize(
    "command",
    [
        SuspendMember(actor="riverkeepers", member_id="nobody", reason="r"),
        ReinstateMember(actor="riverkeepers", member_id="nobody"),
        RemoveMember(actor="riverkeepers", member_id="nobody", reason="r"),
        SetRoles(actor="riverkeepers", member_id="nobody", roles=[Role.MEMBER]),
        SetWebhook(actor="riverkeepers", member_id="nobody", webhook_url=None),
    ],
    ids=lambda c: c.type,
)
def test_a_command_on_an_unknown_member_is_not_found_listing_the_members(
    rivers: AllianceState, command: AllianceCommand
) -> None:
    error = refused(rivers, command)

    assert error.kind == RefusalKind.NOT_FOUND
    assert error.field == "member_id"
    assert error.message == (
        "no member 'nobody' in alliance 'rivers' (members: anglers, mudlarks, otters, riverkeepers, wetlands)"
    )


@pytest.mark.parametrize(
    "command",
    [
        SuspendMember(actor="riverkeepers", member_id="otters", reason="r"),
        ReinstateMember(actor="riverkeepers", member_id="otters"),
        RemoveMember(actor="riverkeepers", member_id="otters", reason="twice"),
        SetRoles(actor="riverkeepers", member_id="otters", roles=[Role.MEDIATOR]),
        SetWebhook(actor="riverkeepers", member_id="otters", webhook_url=None),
    ],
    ids=lambda c: c.type,
)
def test_a_command_on_a_removed_member_is_a_conflict(rivers: AllianceState, command: AllianceCommand) -> None:
    error = refused(rivers, command)

    assert error.kind == RefusalKind.CONFLICT
    assert error.message == "member 'otters' was removed from alliance 'rivers'"


def test_a_coordinator_removes_a_member(rivers: AllianceState) -> None:
    events = decide(rivers, RemoveMember(actor="riverkeepers", member_id="wetlands", reason="merged"), at(20))

    assert events == [MemberRemoved(at=at(20), member_id="wetlands", reason="merged")]
    after = evolve(rivers, events[0])
    assert after.members["wetlands"].status == MemberStatus.REMOVED
    assert after.members["wetlands"].roles == [Role.STEERING], "the record of who they were stays"
    assert after.with_role(Role.STEERING) == []


def test_a_member_may_leave_by_removing_themselves(rivers: AllianceState) -> None:
    events = decide(rivers, RemoveMember(actor="anglers", member_id="anglers", reason="leaving"), at(20))

    assert events == [MemberRemoved(at=at(20), member_id="anglers", reason="leaving")]


def test_a_coordinator_may_remove_a_suspended_member(rivers: AllianceState) -> None:
    events = decide(rivers, RemoveMember(actor="riverkeepers", member_id="mudlarks", reason="gone"), at(20))

    assert [type(e) for e in events] == [MemberRemoved]


# --- the last coordinator --------------------------------------------------------------------------

LAST = "'riverkeepers' is the last active coordinator of 'rivers'; make another member coordinator first"


@pytest.mark.parametrize(
    "command",
    [
        SuspendMember(actor="riverkeepers", member_id="riverkeepers", reason="stepping back"),
        RemoveMember(actor="riverkeepers", member_id="riverkeepers", reason="leaving"),
        SetRoles(actor="riverkeepers", member_id="riverkeepers", roles=[Role.STEERING]),
    ],
    ids=lambda c: c.type,
)
def test_the_last_coordinator_cannot_be_suspended_removed_or_demoted(
    rivers: AllianceState, command: AllianceCommand
) -> None:
    error = refused(rivers, command)

    assert error.kind == RefusalKind.CONFLICT
    assert error.message == LAST


def test_with_a_second_coordinator_the_first_may_step_down(rivers: AllianceState) -> None:
    state = apply(rivers, SetRoles(actor="riverkeepers", member_id="wetlands", roles=[Role.COORDINATOR]), at(30))
    assert state.with_role(Role.COORDINATOR) == ["riverkeepers", "wetlands"]

    events = decide(state, SetRoles(actor="riverkeepers", member_id="riverkeepers", roles=[Role.MEMBER]), at(31))

    assert events == [RolesChanged(at=at(31), member_id="riverkeepers", roles=[Role.MEMBER])]
    assert evolve(state, events[0]).with_role(Role.COORDINATOR) == ["wetlands"]


def test_a_suspended_coordinator_does_not_count_as_the_remaining_one(rivers: AllianceState) -> None:
    state = apply(rivers, SetRoles(actor="riverkeepers", member_id="wetlands", roles=[Role.COORDINATOR]), at(30))
    state = apply(state, SuspendMember(actor="riverkeepers", member_id="wetlands", reason="r"), at(31))

    error = refused(state, RemoveMember(actor="riverkeepers", member_id="riverkeepers", reason="leaving"))

    assert error.kind == RefusalKind.CONFLICT
    assert error.message == LAST


# --- roles, webhooks, charter -------------------------------------------------------------------


def test_a_coordinator_sets_roles(rivers: AllianceState) -> None:
    command = SetRoles(actor="riverkeepers", member_id="anglers", roles=[Role.STEERING, Role.MEDIATOR, Role.MEDIATOR])

    events = decide(rivers, command, at(40))

    assert events == [RolesChanged(at=at(40), member_id="anglers", roles=[Role.MEDIATOR, Role.STEERING])]
    after = evolve(rivers, events[0])
    assert after.members["anglers"].roles == [Role.MEDIATOR, Role.STEERING]
    assert after.with_role(Role.MEDIATOR) == ["anglers"]


def test_setting_the_roles_a_member_already_has_is_a_conflict(rivers: AllianceState) -> None:
    error = refused(rivers, SetRoles(actor="riverkeepers", member_id="wetlands", roles=[Role.STEERING]))

    assert error.kind == RefusalKind.CONFLICT
    assert error.message == "member 'wetlands' already has roles steering"


def test_a_member_sets_their_own_webhook_and_a_coordinator_clears_it(rivers: AllianceState) -> None:
    events = decide(
        rivers, SetWebhook(actor="anglers", member_id="anglers", webhook_url="https://anglers.example/h"), at(50)
    )
    assert events == [WebhookChanged(at=at(50), member_id="anglers", webhook_url="https://anglers.example/h")]
    state = evolve(rivers, events[0])
    assert state.members["anglers"].webhook_url == "https://anglers.example/h"

    events = decide(state, SetWebhook(actor="riverkeepers", member_id="anglers", webhook_url=None), at(51))
    assert events == [WebhookChanged(at=at(51), member_id="anglers", webhook_url=None)]
    assert evolve(state, events[0]).members["anglers"].webhook_url is None


def test_a_webhook_that_is_not_a_url_is_refused() -> None:
    with pytest.raises(Refused) as caught:
        build(SetWebhook, actor="anglers", member_id="anglers", webhook_url="ftp://anglers")

    assert caught.value.kind == RefusalKind.INVALID
    assert caught.value.field == "webhook_url"


def amended_charter() -> Charter:
    return CHARTER.model_copy(
        update={
            "name": "Clean Rivers and Lakes Alliance",
            "decisions": CHARTER.decisions.model_copy(update={"quorum": 0.5}),
        }
    )


def test_a_coordinator_amends_the_charter(rivers: AllianceState) -> None:
    charter = amended_charter()

    events = decide(rivers, AmendCharter(actor="riverkeepers", charter=charter, reason="lakes joined"), at(60))

    assert events == [CharterAmended(at=at(60), charter=charter, reason="lakes joined")]
    after = evolve(rivers, events[0])
    assert after.charter.decisions.quorum == 0.5
    assert after.name == "Clean Rivers and Lakes Alliance"
    assert after.members == rivers.members


def test_an_identical_charter_amendment_is_a_conflict(rivers: AllianceState) -> None:
    error = refused(rivers, AmendCharter(actor="riverkeepers", charter=CHARTER, reason="no change"))

    assert error.kind == RefusalKind.CONFLICT
    assert error.message == "the amended charter is identical to the current one"


# --- evolve --------------------------------------------------------------------------------------


def every_event() -> list[Any]:
    return [
        AllianceFounded(
            at=at(0), alliance_id="rivers", charter=CHARTER, founder_id="riverkeepers", founder_name="Keepers"
        ),
        MemberAdmitted(at=at(1), member_id="anglers", name="Anglers", roles=[Role.MEMBER]),
        MemberSuspended(at=at(2), member_id="anglers", reason="dues"),
        MemberReinstated(at=at(3), member_id="anglers"),
        RolesChanged(at=at(4), member_id="anglers", roles=[Role.COORDINATOR, Role.MEDIATOR]),
        WebhookChanged(at=at(5), member_id="anglers", webhook_url="https://anglers.example/h"),
        CharterAmended(at=at(6), charter=amended_charter(), reason="lakes"),
        MemberRemoved(at=at(7), member_id="riverkeepers", reason="merged into anglers"),
    ]


def test_evolve_folds_every_event() -> None:
    states: list[AllianceState] = []
    state: AllianceState | None = None
    for event in every_event():
        state = evolve(state, event)
        states.append(state)

    founded_, admitted, suspended, reinstated, roles, webhook, amended, removed = states
    assert founded_.members["riverkeepers"].roles == [Role.COORDINATOR]
    assert admitted.members["anglers"].joined_at == at(1)
    assert suspended.members["anglers"].status == MemberStatus.SUSPENDED
    assert reinstated.members["anglers"].status == MemberStatus.ACTIVE
    assert roles.with_role(Role.COORDINATOR) == ["anglers", "riverkeepers"]
    assert webhook.members["anglers"].webhook_url == "https://anglers.example/h"
    assert amended.name == "Clean Rivers and Lakes Alliance"
    assert removed.members["riverkeepers"].status == MemberStatus.REMOVED
    assert removed.with_role(Role.COORDINATOR) == ["anglers"]
    assert removed.founder == "riverkeepers", "who founded it never changes"
    assert removed.founded_at == at(0)


def test_events_survive_the_json_round_trip_of_the_store() -> None:
    # Stored events are model_dump(mode="json") without 'type' (it is the event_type column).
    for event in every_event():
        data = event.model_dump(mode="json", exclude={"type"})
        assert alliance_event.validate_python({**data, "type": event.type}) == event


def test_evolve_refuses_an_event_before_the_founding() -> None:
    with pytest.raises(ValueError, match="MemberAdmitted before AllianceFounded: the stream is corrupt"):
        evolve(None, MemberAdmitted(at=T0, member_id="anglers", name="Anglers", roles=[Role.MEMBER]))


def test_decide_is_pure(rivers: AllianceState) -> None:
    command = AdmitMember(actor="riverkeepers", member_id="newts", name="Newt Society")
    before = rivers.model_copy(deep=True)

    assert decide(rivers, command, at(70)) == decide(rivers, command, at(70))
    assert rivers == before


def test_a_decision_and_a_dispute_pin_the_alliance_as_it_is_active_members_only(rivers: AllianceState) -> None:
    decision_context = decision.pinned_context(rivers)
    dispute_context = dispute.pinned_context(rivers)

    assert decision_context.electorate == dispute_context.members == ["anglers", "riverkeepers", "wetlands"]
    assert decision_context.rules == dispute_context.decision_rules == rivers.charter.decisions
    assert (decision_context.coordinators, decision_context.steering) == (["riverkeepers"], ["wetlands"])
    assert decision_context.principles == dispute_context.principles == [p.id for p in rivers.charter.principles]
    assert dispute_context.procedure == rivers.charter.disputes and dispute_context.mediators == []
