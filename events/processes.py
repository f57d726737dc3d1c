"""The process kinds accord records, by stream prefix: how to read their events and fold them.

Audit replay uses this to rebuild any stream with the very `evolve` functions the workflows use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, get_args

from pydantic import TypeAdapter

from events import alliance, decision, dispute
from events.hashing import load_json
from events.rules import not_found
from events.upcast import upcast


@dataclass(frozen=True)
class Process:
    kind: str
    event_union: Any = field(repr=False)
    """The Annotated discriminated union of the process's event types."""
    evolve: Callable[[Any, Any], Any] = field(repr=False)

    @cached_property
    def _adapter(self) -> TypeAdapter[Any]:
        return TypeAdapter(self.event_union)

    @cached_property
    def _classes(self) -> dict[str, Any]:
        union = get_args(self.event_union)[0]
        return {cls.model_fields["type"].default: cls for cls in get_args(union)}

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


PROCESSES = {
    "alliance": Process("alliance", alliance.AllianceEvent, alliance.evolve),
    "decision": Process("decision", decision.DecisionEvent, decision.evolve),
    "dispute": Process("dispute", dispute.DisputeEvent, dispute.evolve),
}


def process_of(stream_id: str) -> Process:
    kind, _, rest = stream_id.partition("-")
    if kind not in PROCESSES or not rest:
        raise not_found(
            f"{stream_id!r} is not a stream accord knows: streams are named "
            + ", ".join(f"'{k}-<id>'" for k in PROCESSES),
            "stream",
        )
    return PROCESSES[kind]
