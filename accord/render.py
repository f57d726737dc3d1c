"""What the CLI prints: one Output per command, as JSON (--json) or as text for people."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter

from events.alliance import AllianceState, Member
from events.store import Receipt
from workflows.alliance import CommandResult


@dataclass
class Output:
    data: Any
    text: str = ""

    def json_data(self) -> Any:
        return TypeAdapter(Any).dump_python(self.data, mode="json")

    @staticmethod
    def receipts_text(receipts: list[Receipt]) -> str:
        return "\n".join(
            f"receipt: {r.stream_id} v{r.stream_version} position {r.global_position} hash {r.hash}" for r in receipts
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


