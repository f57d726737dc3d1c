"""What the CLI prints: one Output per command, as JSON (--json) or as text for people.

Imported by the command modules when they load, so it imports what it renders only to name types;
pydantic is loaded by the commands that produce the output.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from accord.app import DecisionView
    from accord.audit import Replayed
    from events.alliance import AllianceState, Member
    from events.store import Receipt
    from workflows.shapes import CommandResult


def _as_json(value: Any) -> Any:
    from pydantic import TypeAdapter

    return TypeAdapter(Any).dump_python(value, mode="json")


@dataclass
class Output:
    data: Any
    text: str = ""

    def json_data(self) -> Any:
        return _as_json(self.data)

    @staticmethod
    def receipts_text(receipts: list[Receipt]) -> str:
        return "\n".join(
            f"receipt: {r.stream_id} v{r.stream_version} position {r.global_position} hash {r.hash}"
            + (f" leaf {r.leaf_index}" if r.leaf_index is not None else "")
            for r in receipts
        )

    @classmethod
    def result(cls, result: CommandResult, summary: str) -> Output:
        return cls(result, f"{summary}\n{cls.receipts_text(result.receipts)}")

    @staticmethod
    def members_text(members: list[Member]) -> str:
        return "\n".join(
            f"{m.member_id:20} {m.name:36} {', '.join(m.roles):28} {m.status}" for m in members
        )

    @classmethod
    def alliance_text(cls, state: AllianceState) -> str:
        rules = state.charter.decisions
        lines = [
            f"{state.name} ({state.alliance_id}), founded {state.founded_at:%Y-%m-%d} by {state.founder}",
            "principles: " + "; ".join(f"{p.id}: {p.text}" for p in state.charter.principles),
            f"decisions: quorum {rules.quorum:.0%}, fallback {rules.fallback}, "
            f"objection tolerance {rules.objection_tolerance}",
            "members:",
            cls.members_text(list(state.members.values())),
        ]
        return "\n".join(lines)




def _when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S} UTC" if value else "-"


def decision_text(view: DecisionView) -> str:
    state = view.state
    lines = [
        f"{state.title} ({state.decision_id}) in {state.alliance_id}, proposed by {state.proposer}",
        f"stage: {state.stage}" + (f", outcome: {state.outcome}" if state.outcome else ""),
        f"deadline: {_when(state.deadline)}; extensions used: {state.extensions}/{state.rules.max_extensions}",
    ]
    if state.escalation_deadline and state.stage == "stalled":
        lines.append(f"stalled: coordinators may extend, apply the {state.rules.fallback} rule or close "
                     f"until {_when(state.escalation_deadline)}, then the {state.rules.fallback} rule applies by itself")
    if view.next_due:
        lines.append(f"next timer: {_when(view.next_due)}")
    lines.append(f"electorate ({len(state.context.electorate)}): {', '.join(state.context.electorate)}; "
                 f"quorum {state.rules.quorum:.0%}, objection tolerance {state.rules.objection_tolerance}")
    if view.pending_members:
        lines.append(f"not yet responded on every point: {', '.join(view.pending_members)}")
    lines.append("points:")
    tallies = {t.point_id: t for t in view.tallies}
    for point in state.points.values():
        outcome = state.outcomes.get(point.point_id)
        lines.append(f"  {point.point_id}: {point.text}" + (f"  [taken up from {point.origin}]" if point.origin else ""))
        if point.withdrawn:
            lines.append("      withdrawn")
            continue
        t = tallies.get(point.point_id)
        if t:
            counts = ", ".join(f"{k.value} {v}" for k, v in t.counts.items() if v)
            lines.append(
                f"      {t.responded}/{t.electorate} responded (quorum {t.quorum_needed}): {counts or 'no stances yet'}"
                + (f"; principle block: {', '.join(t.principle_blocks)}" if t.principle_blocks else "")
            )
            lines.append(f"      {'outcome: ' + outcome if outcome else 'at the deadline now: ' + t.verdict}")
    return "\n".join(lines)


def replay_text(replayed: Replayed) -> str:
    from accord.audit import event_summary

    lines = [f"{replayed.stream_id} at version {replayed.version} (hash {replayed.head_hash})", "timeline:"]
    for e in replayed.timeline:
        lines.append(
            f"  v{e.version:<4} #{e.global_position:<7} {e.recorded_at:%Y-%m-%d %H:%M:%S} {e.actor or '-':14} "
            f"{e.event_type:20} {e.hash[:12]}  {event_summary(e.data)}"
        )
    if replayed.bad_rows:
        lines.append("left out of the state (they do not fold: written outside accord; see docs/reliability.md):")
        lines += [f"  v{b.version:<4} {b.event_type:20} {b.reason}" for b in replayed.bad_rows]
    lines += ["state:", json.dumps(_as_json(replayed.state), indent=2, ensure_ascii=False)]
    return "\n".join(lines)
