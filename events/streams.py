"""A stream's name, `<kind>-<id>` (`decision-spring`): one stream, and one workflow of the same id, per
process. The one place where such names are built and taken apart; which kinds exist is the process
descriptors' business (`events/processes.py`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class StreamId:
    kind: str
    """The process kind: `alliance`, `decision`, `dispute`; never contains '-'."""
    id: str
    """The process's own id within its kind (it may contain '-')."""

    def __post_init__(self) -> None:
        if not self.kind or "-" in self.kind or not self.id:
            raise ValueError(f"not a stream id: kind {self.kind!r}, id {self.id!r}")

    def __str__(self) -> str:
        return f"{self.kind}-{self.id}"

    @classmethod
    def parse(cls, text: str) -> StreamId | None:
        """The stream id that `text` names, or None when it has no '<kind>-<id>' shape."""
        kind, dash, process_id = text.partition("-")
        return cls(kind, process_id) if kind and dash and process_id else None
