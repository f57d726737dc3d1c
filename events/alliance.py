"""The alliance registry as a decider: founding, members, roles, charter amendments.

`decide(state, command, now)` returns the events a command causes or raises `Refused` with a specific
reason; `evolve(state, event)` folds one event into the state. Both are pure, so the workflow and the
audit replay run the very same code.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AnyHttpUrl, Field, TypeAdapter

from events.charter import Charter
from events.notes import COSIGNATURE, NoteError, Verifier
from events.rules import DomainEvent, Model, Slug, Text, conflict, forbidden, invalid, not_found
from events.streams import StreamId


class Role(StrEnum):
    COORDINATOR = "coordinator"
    STEERING = "steering"
    MEDIATOR = "mediator"
    MEMBER = "member"


class MemberStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    REMOVED = "removed"


Roles = Annotated[list[Role], Field(min_length=1)]


class Member(Model):
    member_id: str
    name: str
    roles: list[Role]
    status: MemberStatus = MemberStatus.ACTIVE
    webhook_url: str | None = None
    joined_at: datetime
    witness_key: str | None = None
    """The public key (tlog-cosignature, Ed25519) with which the member's witness cosigns the alliance's log."""

    @property
    def active(self) -> bool:
        return self.status == MemberStatus.ACTIVE

    def has(self, role: Role) -> bool:
        return role in self.roles


class ParkedPoint(Model):
    """A point a decision parked, kept for more discussion until a new decision takes it up and closes."""

    ref: str  # '<decision id>/<point id>'
    decision_id: str
    point_id: str
    text: str
    outcome: str
    parked_at: datetime


class AllianceState(Model):
    alliance_id: str
    name: str
    charter: Charter
    members: dict[str, Member]
    founded_at: datetime
    founder: str
    parked: dict[str, ParkedPoint] = {}

    def member(self, member_id: str) -> Member | None:
        return self.members.get(member_id)

    def active_members(self) -> list[Member]:
        return [m for m in self.members.values() if m.active]

    def with_role(self, role: Role) -> list[str]:
        return sorted(m.member_id for m in self.active_members() if m.has(role))


# --- commands -------------------------------------------------------------------------------------


class FoundAlliance(Model):
    type: Literal["found"] = "found"
    alliance_id: Slug
    charter: Charter
    founder_id: Slug
    founder_name: Text
    founder_webhook_url: AnyHttpUrl | None = None

    @property
    def actor(self) -> str:
        return self.founder_id


class AdmitMember(Model):
    type: Literal["admit"] = "admit"
    actor: str
    member_id: Slug
    name: Text
    roles: Roles = [Role.MEMBER]
    webhook_url: AnyHttpUrl | None = None


class SuspendMember(Model):
    type: Literal["suspend"] = "suspend"
    actor: str
    member_id: str
    reason: Text


class ReinstateMember(Model):
    type: Literal["reinstate"] = "reinstate"
    actor: str
    member_id: str


class RemoveMember(Model):
    type: Literal["remove"] = "remove"
    actor: str
    member_id: str
    reason: Text


class SetRoles(Model):
    type: Literal["set_roles"] = "set_roles"
    actor: str
    member_id: str
    roles: Roles


class SetWebhook(Model):
    type: Literal["set_webhook"] = "set_webhook"
    actor: str
    member_id: str
    webhook_url: AnyHttpUrl | None


class SetWitnessKey(Model):
    """Name the key with which a member's witness cosigns the alliance's checkpoints (none: it stops)."""

    type: Literal["set_witness_key"] = "set_witness_key"
    actor: str
    member_id: str
    witness_key: str | None


class ReportSplitView(Model):
    """A member's witness saw the log two ways: two checkpoints that cannot both be true. Both are kept."""

    type: Literal["report_split_view"] = "report_split_view"
    actor: str
    reason: Text
    earlier: str = Field(max_length=4000, description="the checkpoint the witness held (a signed note)")
    later: str = Field(max_length=4000, description="the checkpoint that contradicts it (a signed note)")


class AmendCharter(Model):
    type: Literal["amend_charter"] = "amend_charter"
    actor: str
    charter: Charter
    reason: Text


class DecisionResult(Model):
    """Sent by a decision when it closes: the points it parked and the parked points it took up."""

    type: Literal["decision_result"] = "decision_result"
    decision_id: str
    parked: list[ParkedPoint]
    taken_up: list[str]
    closed_at: datetime | None = None
    """When the decision closed: the time the alliance records it at (absent from older decisions)."""
    stream_id: str | None = None
    """The decision's stream (absent from decisions before ids were scoped: `decision-<id>`)."""

    @property
    def actor(self) -> str:
        return self.stream_id or str(StreamId("decision", self.decision_id))


AllianceCommand = Annotated[
    FoundAlliance | AdmitMember | SuspendMember | ReinstateMember | RemoveMember | SetRoles | SetWebhook | AmendCharter
    | SetWitnessKey | ReportSplitView,
    Field(discriminator="type"),
]

# --- events ---------------------------------------------------------------------------------------


class AllianceFounded(DomainEvent):
    type: Literal["AllianceFounded"] = "AllianceFounded"
    alliance_id: str
    charter: Charter
    founder_id: str
    founder_name: str
    founder_webhook_url: str | None = None


class MemberAdmitted(DomainEvent):
    type: Literal["MemberAdmitted"] = "MemberAdmitted"
    member_id: str
    name: str
    roles: list[Role]
    webhook_url: str | None = None


class MemberSuspended(DomainEvent):
    type: Literal["MemberSuspended"] = "MemberSuspended"
    member_id: str
    reason: str


class MemberReinstated(DomainEvent):
    type: Literal["MemberReinstated"] = "MemberReinstated"
    member_id: str


class MemberRemoved(DomainEvent):
    type: Literal["MemberRemoved"] = "MemberRemoved"
    member_id: str
    reason: str


class RolesChanged(DomainEvent):
    type: Literal["RolesChanged"] = "RolesChanged"
    member_id: str
    roles: list[Role]


class WebhookChanged(DomainEvent):
    type: Literal["WebhookChanged"] = "WebhookChanged"
    member_id: str
    webhook_url: str | None


class WitnessKeyChanged(DomainEvent):
    type: Literal["WitnessKeyChanged"] = "WitnessKeyChanged"
    member_id: str
    witness_key: str | None


class SplitViewReported(DomainEvent):
    """Evidence that the alliance's log was shown two ways (docs/audit.md, "Witnesses")."""

    type: Literal["SplitViewReported"] = "SplitViewReported"
    reported_by: str
    reason: str
    earlier: str
    later: str


class CharterAmended(DomainEvent):
    type: Literal["CharterAmended"] = "CharterAmended"
    charter: Charter
    reason: str


class PointsParked(DomainEvent):
    type: Literal["PointsParked"] = "PointsParked"
    decision_id: str
    points: list[ParkedPoint]


class ParkedPointsTakenUp(DomainEvent):
    type: Literal["ParkedPointsTakenUp"] = "ParkedPointsTakenUp"
    decision_id: str
    refs: list[str]


AllianceEvent = Annotated[
    AllianceFounded
    | MemberAdmitted
    | MemberSuspended
    | MemberReinstated
    | MemberRemoved
    | RolesChanged
    | WebhookChanged
    | CharterAmended
    | PointsParked
    | ParkedPointsTakenUp
    | WitnessKeyChanged
    | SplitViewReported,
    Field(discriminator="type"),
]
alliance_event = TypeAdapter(AllianceEvent)

# --- decide ---------------------------------------------------------------------------------------


def must_be_active(alliance_id: str, actor: str, status: str | None) -> None:
    """Only active members act; `status` is the actor's in the alliance (None: not a member)."""
    if status is None:
        raise forbidden(f"{actor!r} is not a member of alliance {alliance_id!r}")
    if status != MemberStatus.ACTIVE:
        raise forbidden(f"{actor!r} is {status} in alliance {alliance_id!r} and cannot act")


def _actor(state: AllianceState, actor: str) -> Member:
    member = state.member(actor)
    must_be_active(state.alliance_id, actor, member.status if member else None)
    assert member is not None  # must_be_active refused a non-member
    return member


def _coordinator(state: AllianceState, actor: str, action: str) -> Member:
    member = _actor(state, actor)
    if not member.has(Role.COORDINATOR):
        raise forbidden(f"only a coordinator may {action}; {actor!r} has roles {', '.join(member.roles)}")
    return member


def _target(state: AllianceState, member_id: str) -> Member:
    member = state.member(member_id)
    if member is None:
        known = ", ".join(sorted(state.members)) or "none"
        raise not_found(f"no member {member_id!r} in alliance {state.alliance_id!r} (members: {known})", "member_id")
    if member.status == MemberStatus.REMOVED:
        raise conflict(f"member {member_id!r} was removed from alliance {state.alliance_id!r}")
    return member


def _keeps_a_coordinator(state: AllianceState, member_id: str) -> None:
    """Refuse a change that would leave the alliance with no active coordinator."""
    if state.with_role(Role.COORDINATOR) == [member_id]:
        raise conflict(
            f"{member_id!r} is the last active coordinator of {state.alliance_id!r}; "
            "make another member coordinator first"
        )


def _witness_key(state: AllianceState, command: SetWitnessKey, now: datetime) -> WitnessKeyChanged:
    if command.actor != command.member_id:
        raise forbidden(f"a witness key is the member's own to set; {command.actor!r} cannot set {command.member_id!r}'s")
    _actor(state, command.actor)
    key = command.witness_key
    if key is not None:
        try:
            verifier = Verifier.parse(key)
        except NoteError as error:
            raise invalid(f"witness_key: {error}; `accord witness init` prints one", field="witness_key") from None
        if verifier.kind != COSIGNATURE:
            raise invalid("witness_key: a witness cosigns with a cosignature key (type 0x04), not a log's key", field="witness_key")
        key = str(verifier)
        holder = next((m.member_id for m in state.members.values() if m.witness_key == key and m.member_id != command.member_id), None)
        if holder is not None:
            raise conflict(f"this witness key is already {holder!r}'s: each member's witness has its own")
    if state.members[command.member_id].witness_key == key:
        raise conflict(f"{command.member_id!r}'s witness key is already {key or 'unset'}")
    return WitnessKeyChanged(at=now, member_id=command.member_id, witness_key=key)


class AllianceNotice(Model):
    member_id: str
    kind: str
    message: str


def told(after: AllianceState, event: AllianceEvent) -> list[AllianceNotice]:
    """Who hears of an alliance event, given the state it leads to: every active member, of a split view of
    its log (no other alliance event is told)."""
    if not isinstance(event, SplitViewReported):
        return []
    message = (
        f"{event.reported_by}'s witness saw the alliance's log two ways ({event.reason}): the record may have been "
        "rewritten. Both checkpoints are kept in the alliance's record; see docs/audit.md, 'Witnesses'."
    )
    return [AllianceNotice(member_id=m.member_id, kind="split_view", message=message) for m in after.members.values() if m.active]


def _url(url: AnyHttpUrl | None) -> str | None:
    return str(url) if url is not None else None


def decide(state: AllianceState | None, command: AllianceCommand, now: datetime) -> list[AllianceEvent]:
    if state is None:
        if not isinstance(command, FoundAlliance):
            raise not_found("this alliance has not been founded")
        return [
            AllianceFounded(
                at=now,
                alliance_id=command.alliance_id,
                charter=command.charter,
                founder_id=command.founder_id,
                founder_name=command.founder_name,
                founder_webhook_url=_url(command.founder_webhook_url),
            )
        ]
    match command:
        case FoundAlliance():
            raise conflict(f"alliance {state.alliance_id!r} was already founded on {state.founded_at:%Y-%m-%d}")
        case AdmitMember():
            _coordinator(state, command.actor, "admit members")
            if command.member_id in state.members:
                raise invalid(
                    f"member id {command.member_id!r} is already taken in {state.alliance_id!r}; choose another",
                    "member_id",
                )
            return [
                MemberAdmitted(
                    at=now,
                    member_id=command.member_id,
                    name=command.name,
                    roles=sorted(set(command.roles)),
                    webhook_url=_url(command.webhook_url),
                )
            ]
        case SuspendMember():
            _coordinator(state, command.actor, "suspend members")
            target = _target(state, command.member_id)
            if not target.active:
                raise conflict(f"member {command.member_id!r} is already suspended")
            _keeps_a_coordinator(state, command.member_id)
            return [MemberSuspended(at=now, member_id=command.member_id, reason=command.reason)]
        case ReinstateMember():
            _coordinator(state, command.actor, "reinstate members")
            target = _target(state, command.member_id)
            if target.status != MemberStatus.SUSPENDED:
                raise conflict(f"member {command.member_id!r} is {target.status}, not suspended")
            return [MemberReinstated(at=now, member_id=command.member_id)]
        case RemoveMember():
            if command.actor != command.member_id:
                _coordinator(state, command.actor, "remove other members")
            else:
                _actor(state, command.actor)
            _target(state, command.member_id)
            _keeps_a_coordinator(state, command.member_id)
            return [MemberRemoved(at=now, member_id=command.member_id, reason=command.reason)]
        case SetRoles():
            _coordinator(state, command.actor, "change roles")
            target = _target(state, command.member_id)
            roles = sorted(set(command.roles))
            if roles == target.roles:
                raise conflict(f"member {command.member_id!r} already has roles {', '.join(roles)}")
            if Role.COORDINATOR not in roles and target.active:
                _keeps_a_coordinator(state, command.member_id)
            return [RolesChanged(at=now, member_id=command.member_id, roles=roles)]
        case SetWebhook():
            if command.actor != command.member_id:
                _coordinator(state, command.actor, "set another member's webhook")
            else:
                _actor(state, command.actor)
            _target(state, command.member_id)
            return [WebhookChanged(at=now, member_id=command.member_id, webhook_url=_url(command.webhook_url))]
        case SetWitnessKey():
            return [_witness_key(state, command, now)]
        case ReportSplitView():
            _actor(state, command.actor)
            return [SplitViewReported(
                at=now, reported_by=command.actor, reason=command.reason, earlier=command.earlier, later=command.later,
            )]
        case AmendCharter():
            _coordinator(state, command.actor, "amend the charter")
            if command.charter == state.charter:
                raise conflict("the amended charter is identical to the current one")
            return [CharterAmended(at=now, charter=command.charter, reason=command.reason)]
    raise invalid(f"unknown alliance command {type(command).__name__}")


def record_decision_result(state: AllianceState, result: DecisionResult, now: datetime) -> list[AllianceEvent]:
    """Keep the list of parked points: add what a closed decision parked, drop what it took up."""
    events: list[AllianceEvent] = []
    taken_up = [ref for ref in result.taken_up if ref in state.parked]
    if taken_up:
        events.append(ParkedPointsTakenUp(at=now, decision_id=result.decision_id, refs=taken_up))
    if result.parked:
        events.append(PointsParked(at=now, decision_id=result.decision_id, points=result.parked))
    return events


# --- evolve ---------------------------------------------------------------------------------------


def _with_member(state: AllianceState, member_id: str, **changes: object) -> AllianceState:
    member = state.members[member_id].model_copy(update=changes)
    return state.model_copy(update={"members": {**state.members, member_id: member}})


def audit_summary(state: AllianceState) -> tuple[Any, Any]:
    """What an audit report shows of an alliance beside its events: its charter (the rules), no outcome."""
    return state.charter, None


def evolve(state: AllianceState | None, event: AllianceEvent) -> AllianceState:
    if isinstance(event, AllianceFounded):
        founder = Member(
            member_id=event.founder_id,
            name=event.founder_name,
            roles=[Role.COORDINATOR],
            webhook_url=event.founder_webhook_url,
            joined_at=event.at,
        )
        return AllianceState(
            alliance_id=event.alliance_id,
            name=event.charter.name,
            charter=event.charter,
            members={founder.member_id: founder},
            founded_at=event.at,
            founder=event.founder_id,
        )
    if state is None:
        raise ValueError(f"{event.type} before AllianceFounded: the stream is corrupt")
    match event:
        case MemberAdmitted():
            member = Member(
                member_id=event.member_id,
                name=event.name,
                roles=event.roles,
                webhook_url=event.webhook_url,
                joined_at=event.at,
            )
            return state.model_copy(update={"members": {**state.members, member.member_id: member}})
        case MemberSuspended():
            return _with_member(state, event.member_id, status=MemberStatus.SUSPENDED)
        case MemberReinstated():
            return _with_member(state, event.member_id, status=MemberStatus.ACTIVE)
        case MemberRemoved():
            return _with_member(state, event.member_id, status=MemberStatus.REMOVED)
        case RolesChanged():
            return _with_member(state, event.member_id, roles=event.roles)
        case WebhookChanged():
            return _with_member(state, event.member_id, webhook_url=event.webhook_url)
        case WitnessKeyChanged():
            return _with_member(state, event.member_id, witness_key=event.witness_key)
        case SplitViewReported():
            return state
        case CharterAmended():
            return state.model_copy(update={"charter": event.charter, "name": event.charter.name})
        case PointsParked():
            return state.model_copy(update={"parked": {**state.parked, **{p.ref: p for p in event.points}}})
        case ParkedPointsTakenUp():
            return state.model_copy(update={"parked": {k: v for k, v in state.parked.items() if k not in event.refs}})
    raise ValueError(f"unknown alliance event {event.type}")
