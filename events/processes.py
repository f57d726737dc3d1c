"""The process kinds accord runs, one descriptor each: the kind that prefixes its streams and workflow
ids, its events and how to fold them, and the workflow that runs it.

Everything that must know every kind derives from `PROCESSES`: the worker's registrations, audit's
replay (with the very `evolve` functions the workflows use), and the parsing of stream names. A new
process kind is one descriptor here plus its own modules (`events/<kind>.py`, `workflows/<kind>.py`).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, NamedTuple, get_args

from pydantic import TypeAdapter

from events import alliance, decision, dispute, ledger
from events.hashing import load_json
from events.readmodels import ReadModel
from events.rules import DomainEvent, not_found
from events.streams import SCOPE, StreamId
from events.upcast import upcast


@dataclass(frozen=True)
class Process:
    kind: str
    event_union: Any = field(repr=False)
    """The Annotated discriminated union of the process's event types."""
    evolve: Callable[[Any, Any], Any] = field(repr=False)
    workflow_path: str = field(repr=False)
    """`module:Class` of its workflow, imported on first use: `events/` stays free of Temporal (the
    workflows themselves read this module inside Temporal's sandbox)."""
    state_type: Any = field(default=None, repr=False)
    """What `evolve` folds to, and what its workflow's `current` query answers."""
    read_models: tuple[ReadModel, ...] = field(default=(), repr=False)
    """The rows kept from its events, keyed by the id part of its stream (events/projector.py)."""
    scoped: bool = True
    """Whether its ids are scoped to an alliance (events/streams.py): every kind's but the alliance's own."""
    audit_summary: Callable[[Any], tuple[Any, Any]] = field(default=lambda state: (None, None), repr=False)
    """What an audit report shows of a state beside its events: the rules it was pinned to, and its outcome."""

    @property
    def workflow_type(self) -> str:
        """The name Temporal knows its workflow by (`@workflow.defn(name=...)`): the kind, capitalised.
        Callers address workflows by it, so that the application layer imports no workflow code."""
        return self.kind.capitalize()

    @property
    def listing(self) -> ReadModel:
        """The read model that holds a row for every process of this kind."""
        return self.read_models[0]

    def stream(self, process_id: str, alliance_id: str | None = None) -> StreamId:
        """The stream of the process `process_id` (of `alliance_id`, for a scoped kind). A process recorded
        before ids were scoped keeps its unscoped stream: `accord.app` finds it through its read model."""
        if not self.scoped:
            return StreamId(self.kind, process_id)
        if alliance_id is None:
            raise ValueError(f"a {self.kind}'s stream is named within its alliance: give the alliance")
        return StreamId(self.kind, f"{alliance_id}{SCOPE}{process_id}")

    def stream_name(self, process_id: str, alliance_id: str | None = None) -> str:
        """The name of the process's stream, which is also its workflow's id."""
        return str(self.stream(process_id, alliance_id))

    @cached_property
    def workflow(self) -> Any:
        module, _, name = self.workflow_path.partition(":")
        return getattr(importlib.import_module(module), name)

    @cached_property
    def _adapter(self) -> TypeAdapter[Any]:
        return TypeAdapter(self.event_union)

    @cached_property
    def _classes(self) -> dict[str, type[DomainEvent]]:
        return event_classes(self.event_union)

    def schema_version(self, event_type: str) -> int:
        """Today's schema version of an event type of this process."""
        return self._classes[event_type].schema_version

    def event(self, event_type: str, schema_version: int, data: dict[str, Any]) -> Any:
        """A stored event as today's type, upcast from the shape it was recorded in."""
        current = upcast(event_type, schema_version, data, self.schema_version(event_type))
        return self._adapter.validate_python({**current, "type": event_type})

    def event_from_json(self, event_type: str, schema_version: int, data_json: str) -> Any:
        """:meth:`event` from the data's JSON text: parsed straight into today's type when it was
        recorded in today's shape, through :func:`load_json` and the upcasters otherwise."""
        cls = self._classes.get(event_type)
        if cls is not None and cls.schema_version == schema_version:
            return cls.model_validate_json(data_json)
        return self.event(event_type, schema_version, load_json(data_json))


def update_name(command_type: type) -> str:
    """The Update that carries a command: its class name in snake case (TakeStance -> take_stance)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", command_type.__name__).lower()


def event_classes(event_union: Any) -> dict[str, type[DomainEvent]]:
    """Each event type of a process's (Annotated, discriminated) union, by its name."""
    classes: tuple[type[DomainEvent], ...] = get_args(get_args(event_union)[0])
    return {cls.model_fields["type"].default: cls for cls in classes}


def whole_state(name: str, state_type: Any, event_union: Any, evolve: Callable[[Any, Any], Any]) -> ReadModel:
    """A read model that keeps a process's whole state, folded by its own `evolve` from every event (for
    processes whose events are few: an alliance's, a dispute's; never a decision's stances)."""
    return ReadModel(name, state_type, evolve, frozenset(event_classes(event_union)), lambda state: state.alliance_id)


ALLIANCE = Process(
    "alliance", alliance.AllianceEvent, alliance.evolve, "workflows.alliance:AllianceWorkflow", alliance.AllianceState,
    read_models=(whole_state("alliances", alliance.AllianceState, alliance.AllianceEvent, alliance.evolve),),
    scoped=False, audit_summary=alliance.audit_summary,
)
DECISION = Process(
    "decision", decision.DecisionEvent, decision.evolve, "workflows.decision:DecisionWorkflow", decision.DecisionState,
    read_models=(
        ReadModel("decisions", decision.DecisionRow, decision.decision_row, decision.DECISION_ROW_EVENTS, lambda row: row.alliance_id),
    ),
    audit_summary=decision.audit_summary,
)
DISPUTE = Process(
    "dispute", dispute.DisputeEvent, dispute.evolve, "workflows.dispute:DisputeWorkflow", dispute.DisputeState,
    read_models=(whole_state("disputes", dispute.DisputeState, dispute.DisputeEvent, dispute.evolve),),
    audit_summary=dispute.audit_summary,
)

LEDGER = Process(
    "ledger", ledger.LedgerEvent, ledger.evolve, "workflows.ledger:LedgerWorkflow", ledger.LedgerState,
    read_models=(whole_state("ledgers", ledger.LedgerState, ledger.LedgerEvent, ledger.evolve),),
    audit_summary=ledger.audit_summary,
)
LEDGER_ID = "costs"
"""An alliance has one ledger, `ledger-<alliance>.costs`."""

PROCESSES = {p.kind: p for p in (ALLIANCE, DECISION, DISPUTE, LEDGER)}


def parse_stream(stream_id: str | StreamId) -> StreamId:
    """The stream id of a process kind accord knows, or a refusal that says which names it knows."""
    parsed = stream_id if isinstance(stream_id, StreamId) else StreamId.parse(stream_id)
    if parsed is None or parsed.kind not in PROCESSES:
        raise not_found(
            f"{str(stream_id)!r} is not a stream accord knows: streams are named "
            + ", ".join(f"'{k}-<id>'" if not p.scoped else f"'{k}-<alliance>{SCOPE}<id>'" for k, p in PROCESSES.items()),
            "stream",
        )
    return parsed


class LogOf(NamedTuple):
    """Whose transparency log a stream's events are leaves of: the alliance its name says, or else (a
    stream recorded before ids were scoped) the one that its process's row of `model` under `key` names."""

    alliance_id: str | None
    model: str
    key: str


def log_of(stream_id: str) -> LogOf | None:
    """The alliance log that a stream's events go into; None for a stream of no process kind accord knows."""
    stream = StreamId.parse(stream_id)
    process = PROCESSES.get(stream.kind) if stream is not None else None
    if process is None or stream is None:
        return None
    return LogOf(stream.scope if process.scoped else stream.id, process.listing.name, stream.id)


def process_of(stream_id: str | StreamId) -> Process:
    return PROCESSES[parse_stream(stream_id).kind]
