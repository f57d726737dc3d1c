"""What a read model is: a pure fold, over one process kind's events, of a row the lists and checks read.

A process descriptor (`events/processes.py`) names its read models; `events/projector.py` keeps them, in
the transaction of each append that holds an event they consume, and rebuilds them from the log.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel


@dataclass(frozen=True)
class ReadModel:
    name: str
    """The model's name in `accord.read_models`, e.g. `decisions`."""
    row_type: type[BaseModel]
    fold: Callable[[Any, Any], Any]
    """(row or None, typed event) -> row or None: pure, with the deciders' own event types."""
    consumes: frozenset[str]
    """The event types that change a row: no other event is parsed or looked at."""
    alliance_of: Callable[[Any], str]
    """The alliance a row belongs to (lists are per alliance)."""
