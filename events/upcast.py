"""Upcasting: turning stored events of an older shape into today's types, so old histories replay.

Every stored event carries its `schema_version` in its metadata (the event class's `schema_version`
when it was recorded). When an event type changes shape, its class's `schema_version` goes up and an
upcaster from the old version is registered here; replay applies them in order. Stored rows are never
rewritten: the record stays exactly as it was hashed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Data = dict[str, Any]
Upcaster = Callable[[Data], Data]

UPCASTERS: dict[tuple[str, int], Upcaster] = {}
"""(event type, version) -> a function from data of that version to data of the next one."""


def upcaster(event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    def register(fn: Upcaster) -> Upcaster:
        UPCASTERS[(event_type, from_version)] = fn
        return fn

    return register


def upcast(event_type: str, schema_version: int, data: Data, current: int) -> Data:
    """Data of `event_type` stored at `schema_version`, in the shape of version `current`."""
    version = schema_version
    while version < current:
        step = UPCASTERS.get((event_type, version))
        if step is None:
            raise ValueError(f"no upcaster for {event_type} from schema version {version} to {version + 1}")
        data = step(data)
        version += 1
    if version > current:
        raise ValueError(
            f"{event_type} was recorded at schema version {schema_version}, newer than this code ({current}): "
            "upgrade accord to read it"
        )
    return data
