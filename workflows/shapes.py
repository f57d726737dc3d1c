"""The data the workflows take and give: their runs' inputs, a command's result, a quarantine's finding,
what a run carries into the next. Pydantic models only, no behaviour beyond formatting.

The workflows import this module through Temporal's sandbox (`imports_passed_through`): the sandbox
imports the `workflows` package anew for every workflow run it holds, and building a pydantic model
class costs tens of KiB each time, so models here are built once per worker instead of once per run.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel
from temporalio.exceptions import ApplicationError

from events.alliance import AllianceState
from events.decision import DecisionState, OpenDecision
from events.dispute import DisputeState
from events.ledger import LedgerState
from events.store import Receipt, StreamHead

S = TypeVar("S")


class CommandResult(BaseModel):
    receipts: list[Receipt]


class Quarantine(BaseModel):
    """Why a process stopped: the first version of its stream it cannot take as its own."""

    stream_id: str
    version: int
    event_type: str | None = None
    reason: str

    @property
    def message(self) -> str:
        what = f"version {self.version}" + (f" ({self.event_type})" if self.event_type else "")
        return (
            f"{self.stream_id} is quarantined: its record was changed outside accord at {what}: {self.reason}. "
            f"It takes no commands until the record is repaired: run `accord audit check {self.stream_id}`, then "
            f"`accord audit resume {self.stream_id}` (docs/reliability.md, 'Quarantine')"
        )

    def error(self) -> ApplicationError:
        return ApplicationError(self.message, type="Quarantined", non_retryable=True)


class Carried(BaseModel):
    """What a process carries into its next run besides state and head."""

    adopted: dict[str, list[Receipt]] = {}
    """Answers for commands whose events were adopted before their callers' Updates came back."""


class ProcessRun(BaseModel, Generic[S]):
    """A process's run: its state and head when it continues as new (none at the start), and when to."""

    state: S | None = None
    head: StreamHead | None = None
    continue_after_updates: int = 1000
    """Continue-as-new after this many commands (Temporal caps Updates per run)."""
    carried: Carried | None = None


class AllianceRun(ProcessRun[AllianceState]):
    alliance_id: str
    continue_after_updates: int = 500


class DecisionRun(ProcessRun[DecisionState]):
    decision_id: str
    open: OpenDecision | None = None
    """Opened by the workflow itself (an appeal started by a dispute) rather than by a member's Update."""
    report_to_alliance: bool = True
    """Tell the alliance which points were parked (not for appeals: a ruling is not a parked proposal)."""


class LedgerRun(ProcessRun[LedgerState]):
    alliance_id: str
    continue_after_updates: int = 500
    coordinators: list[str] = []
    """The alliance's coordinators as the last command found them: told if the ledger is quarantined."""


class DisputeRun(ProcessRun[DisputeState]):
    dispute_id: str
    draw_key: str | None = None
    """The key accord's draw secrets come from (hex), carried to the next run; only in Temporal's history."""
