"""The access policy: may this caller act in a process, and what may this reader see of it.

One module answers for every interface: the application layer calls it before every command it sends and
for every read, so the command line, the HTTP API, the audit exports and (later) the web pages give the
same answers (tests/test_access_matrix.py walks roles against commands and reads through the CLI and the
API and requires it).

Callers:

- **a member**: `Caller(member_id=...)`. The command line's `--as MEMBER` names one; an API token names
  one and the alliance it speaks for (`alliance_id`), which it cannot leave: member ids are unique only
  within an alliance.
- **an auditor**: `Caller(member_id="auditor:<label>")`, named by the coordinators with a
  read-only token. Reads the whole record of its alliance through the audit reads, nothing else.
- **the operator**: no caller (`None`): the command line without `--as`. Reads everything; it holds the
  database already. It never acts: every command names its member.

Commands: who may issue which command (the proposer amends, the electorate takes stances, only the
panelists rule, ...) is decided by each process's decider against the state at that moment, the only
place where it is current; a check here would race it. What is decided here first, with the read models,
is whether the caller may act in the process at all: an active member of its alliance, speaking for it.

Reads:

| what                                   | member (not removed) | suspended | removed | auditor    | outsider  |
|----------------------------------------|----------------------|-----------|---------|------------|-----------|
| alliance, members, parked, decisions   | yes                  | yes       | no      | audit only | no        |
| a dispute                              | readers: all; others: outline (*) | as member | no | audit only | not found |
| a stream's record (replay, export, ...)| yes; a dispute's only its readers | as member | no | yes        | no        |
| a dispute's appeal (its decision)      | its readers (**); others: as the dispute | as member | no | audit only | not found |

(*) nothing at all (not found) where the charter keeps a dispute's existence confidential, and to a
member who was not an active member when the dispute was raised (its pinned members).
A member who may see only the outline and sends a command gets one refusal, whatever the decider's
reason (`outside_the_dispute`): the reason could tell who raised it, its severity or its history.
(**) the dispute's readers and the appeal's electorate (its appeal panel).

A member's settings (a webhook URL) are shown to that member and the coordinators; other members read
"(private)", and replays and exports never carry them.

A dispute's readers are its parties, its mediator, its panelists, its appeal panelists and the coordinators
pinned when it was raised; an appeal's decision is also read by its electorate (in appeals from before
appeal panels, every member who is not a party). Anyone who may not know that a dispute exists (an
outsider, any non-reader where the charter keeps existence confidential) gets the answer of a dispute
that does not exist, whatever they asked. Another alliance's processes are out of reach whatever their
ids: ids are scoped to their alliance (events/streams.py), and another alliance's stream "has no events".
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, cast

from pydantic import BaseModel

from events.alliance import AllianceState, MemberStatus, Role, must_be_active
from events.decision import DecisionRow
from events.dispute import DisputeStage, DisputeState, appeal_electorate
from events.rules import Model, Refused, forbidden, not_found

AUDITOR_PREFIX = "auditor:"


class Caller(BaseModel):
    """Who acts or reads: a member, or an auditor (read-only)."""

    member_id: str
    """The member's id; for an auditor, 'auditor:<label>'."""
    alliance_id: str | None = None
    """The alliance the caller speaks for (an API token's); None where the process names it (the CLI's --as)."""

    @property
    def auditor(self) -> bool:
        """An auditor's id is 'auditor:<label>'; a member's id is a slug, which never holds ':'."""
        return self.member_id.startswith(AUDITOR_PREFIX)

    @classmethod
    def named(cls, member_id: str) -> Caller:
        """The caller the command line's `--as` names ('auditor:<label>': that auditor)."""
        return cls(member_id=member_id)


class TokenHolder(Caller):
    """The caller an API token stands for: it always speaks for its alliance."""

    alliance_id: str  # pyright: ignore[reportGeneralTypeIssues]  # narrowed on purpose: a token always names its alliance


class Seen(StrEnum):
    """How much of a process a reader may see."""

    FULL = "full"
    OUTLINE = "outline"  # that it exists, and its stage (a dispute, to a member who is not one of its readers)
    NOTHING = "nothing"  # the answer of a process that does not exist


class Outline(Model):
    """What a member who may not read a dispute learns: that it exists, and its stage."""

    dispute_id: str
    alliance_id: str
    stage: DisputeStage
    confidential: bool = True


# --- acting ---------------------------------------------------------------------------------------------


def speaks_for(caller: Caller | None, owner: str, what: str) -> None:
    """A caller who speaks for an alliance (an API token) reaches nothing of another alliance."""
    if caller is not None and caller.alliance_id is not None and caller.alliance_id != owner:
        if what == f"alliance {owner!r}":
            raise forbidden(f"this token belongs to alliance {caller.alliance_id!r}, not to {owner!r}")
        raise forbidden(f"this token belongs to alliance {caller.alliance_id!r}; {what} belongs to {owner!r}")


def may_act(caller: Caller, owner: str, status: str | None, what: str) -> None:
    """May `caller` send commands to a process (`what`) of alliance `owner`? `status` is the caller's
    membership status there (None: not a member)."""
    speaks_for(caller, owner, what)
    not_an_auditor(caller)
    must_be_active(owner, caller.member_id, status)


def not_an_auditor(caller: Caller) -> None:
    """An auditor reads the record through the audit reads, and does nothing else."""
    if caller.auditor:
        raise forbidden(
            f"{caller.member_id!r} is an auditor: read-only, it may use only the audit reads "
            "(`accord audit ...`; over HTTP /alliances/<alliance>/audit/... and /audit/...)"
        )


def self_or_coordinator(owner: str, actor: str, status: str | None, coordinator: bool, member_id: str, what: str) -> None:
    """Something of a member's own (tokens, notifications): the member, or a coordinator, active."""
    not_an_auditor(Caller(member_id=actor))
    must_be_active(owner, actor, status)
    if actor != member_id and not coordinator:
        raise forbidden(f"only a coordinator may {what}; {actor!r} is not one")


# --- reading --------------------------------------------------------------------------------------------


def may_read_alliance(reader: Caller | None, owner: str, status: str | None, what: str | None = None) -> None:
    """The alliance's own records (`what`: charter, members, parked points, decisions, disputes): its
    members, suspended ones too, not removed ones; an auditor reads them through the audit reads."""
    if reader is None:
        return
    speaks_for(reader, owner, what or f"alliance {owner!r}")
    not_an_auditor(reader)
    _member_reading(reader, owner, status)


def _member_reading(reader: Caller, owner: str, status: str | None) -> None:
    if status is None:
        raise forbidden(f"{reader.member_id!r} is not a member of alliance {owner!r}")
    if status == MemberStatus.REMOVED:
        raise forbidden(f"{reader.member_id!r} is no longer a member of alliance {owner!r}")


def dispute_readers(state: DisputeState) -> set[str]:
    """Who may read a dispute's contents: its parties, mediator, panelists, appeal panelists and (pinned)
    coordinators."""
    return {
        *state.parties, *([state.mediator] if state.mediator else []), *state.panel, *state.appeal_panel, *state.context.coordinators,
    }


def dispute_seen(state: DisputeState, reader: Caller | None) -> Seen:
    """How much of a dispute `reader` may see (the operator and the alliance's auditors: all of it)."""
    if reader is None or (reader.auditor and reader.alliance_id in (None, state.alliance_id)):
        return Seen.FULL
    if reader.alliance_id not in (None, state.alliance_id):
        return Seen.NOTHING
    if reader.member_id in dispute_readers(state):
        return Seen.FULL
    if state.context.procedure.existence_confidential or reader.member_id not in state.context.members:
        return Seen.NOTHING
    return Seen.OUTLINE


def appeal_seen(dispute: DisputeState, reader: Caller | None) -> Seen:
    """How much of a dispute's appeal decision `reader` may see: as much as of the dispute, and all of it
    for those who decide the appeal (its panel; in an appeal from before appeal panels, every member who
    is not a party)."""
    if reader is not None and reader.alliance_id in (None, dispute.alliance_id) and reader.member_id in appeal_electorate(dispute):
        return Seen.FULL
    return dispute_seen(dispute, reader)


def appeal_outline(row: DecisionRow, dispute_id: str) -> DecisionRow:
    """An appeal decision as the alliance's list shows it to a member who may see only the dispute's
    outline: that it exists and its stage, not its title (which names the dispute's subject)."""
    return row.model_copy(update={"title": f"Appeal in dispute {dispute_id}", "proposer": "accord"})


def outside_the_appeal(decision_id: str, dispute_id: str) -> Refused:
    """The one refusal of a read of, or command to, an appeal decision by a member who may see only the
    dispute's outline."""
    return forbidden(
        f"decision {decision_id!r} decides the appeal in dispute {dispute_id!r}: it is for the dispute's parties, "
        "mediator, panel, coordinators and the appeal's panel; you are none of them"
    )


def unknown_dispute(dispute_id: str) -> Refused:
    """The one answer for a dispute that does not exist, or that the caller may not know of."""
    return not_found(f"no dispute {dispute_id!r}")


def outside_the_dispute(dispute_id: str) -> Refused:
    """The one refusal of a command to a member who may see only a dispute's outline: the decider's own
    reason could tell who raised it, its severity or its stage's history."""
    return forbidden(
        f"dispute {dispute_id!r} is in the hands of its parties, mediator, panel and the coordinators "
        "(and, for a panel that stalled, the steering members): you are none of them here"
    )


def outline(state: DisputeState) -> Outline:
    return Outline(dispute_id=state.dispute_id, alliance_id=state.alliance_id, stage=state.stage)


def may_read_record(
    reader: Caller | None, stream_id: str, owner: str, status: str | None, dispute: DisputeState | None, *, appeal: bool = False
) -> None:
    """A stream's record (replay, check, export, receipts, what-if): the alliance's members and auditors;
    a dispute's only for its readers, and an appeal decision's for them and the appeal's panel (`dispute`
    is the dispute's state, `appeal` whether the stream is its appeal's; None for other processes).
    `status` is a member's in the alliance, or for an auditor 'active' while it holds a live token of the
    alliance."""
    if reader is None:
        return
    seen = Seen.FULL if dispute is None else appeal_seen(dispute, reader) if appeal else dispute_seen(dispute, reader)
    if seen is Seen.NOTHING or reader.alliance_id not in (None, owner):
        raise no_stream(stream_id)  # another alliance's stream is as good as none: ids tell nothing across alliances
    if reader.auditor and status is None:
        raise forbidden(f"{reader.member_id!r} is not an auditor of alliance {owner!r} (no live auditor token)")
    if not reader.auditor:
        _member_reading(reader, owner, status)
    if seen is Seen.OUTLINE and dispute is not None:
        raise forbidden(
            f"the record of {'the appeal in ' if appeal else ''}dispute {dispute.dispute_id!r} is for its parties, mediator, "
            f"panel{', appeal panel' if appeal else ''} and the coordinators; {reader.member_id!r} is none of them"
        )


def no_stream(stream_id: str) -> Refused:
    """The answer for a stream that does not exist, or that the caller may not know of (a dispute)."""
    return not_found(f"stream {stream_id!r} has no events", "stream")


# --- members' settings ----------------------------------------------------------------------------------

PRIVATE_SETTINGS = ("webhook_url", "founder_webhook_url")
"""A member's settings, which often hold a secret (a webhook URL's token): readable by the member and
the coordinators through the alliance's members, never by other members, never in a replay or export."""
PRIVATE = "(private)"


def settings_seen(state: AllianceState, reader: Caller | None) -> AllianceState:
    """The alliance with each member's settings shown only to that member and the coordinators (and
    the operator)."""
    if reader is None or ((member := state.member(reader.member_id)) is not None and member.has(Role.COORDINATOR)):
        return state
    return _settings_hidden(state, but_for=reader.member_id)


def settings_hidden(state: AllianceState) -> AllianceState:
    """The alliance with every member's settings hidden: for replays and exports."""
    return _settings_hidden(state, but_for=None)


def _settings_hidden(state: AllianceState, but_for: str | None) -> AllianceState:
    members = {
        member_id: member if member_id == but_for or member.webhook_url is None else member.model_copy(update={"webhook_url": PRIVATE})
        for member_id, member in state.members.items()
    }
    return state.model_copy(update={"members": members})


def without_settings(value: Any) -> Any:
    """Event data (or any JSON value) with members' settings replaced by PRIVATE, for the record's
    readers: replays and exports."""
    if isinstance(value, dict):
        return {
            key: (PRIVATE if key in PRIVATE_SETTINGS and item is not None else without_settings(item))
            for key, item in cast("dict[str, Any]", value).items()
        }
    if isinstance(value, list):
        return [without_settings(item) for item in cast("list[object]", value)]
    return value
