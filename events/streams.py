"""A stream's name, `<kind>-<id>`: one stream, and one workflow of the same id, per process. The one place
where such names are built and taken apart; which kinds exist, and which are scoped to an alliance, is
the process descriptors' business (`events/processes.py`).

An alliance's stream is `alliance-<alliance id>`. Any other process's id is scoped to its alliance:
`decision-rivers.spring` is the decision `spring` of the alliance `rivers`, so two alliances may use one
id and no answer tells one alliance what ids another uses. Ids are slugs (no '.'), so the scope is what
comes before the first '.'. Streams recorded before ids were scoped (`decision-spring`) have none.
"""

from __future__ import annotations

from dataclasses import dataclass

SCOPE = "."
"""Between the alliance and the process's own id in a scoped stream id."""


@dataclass(frozen=True, order=True)
class StreamId:
    kind: str
    """The process kind: `alliance`, `decision`, `dispute`; never contains '-'."""
    id: str
    """The process's own id within its kind (it may contain '-')."""

    def __post_init__(self) -> None:
        scope, dot, process_id = self.id.partition(SCOPE)
        if not self.kind or "-" in self.kind or not self.id or (dot and not (scope and process_id)):
            raise ValueError(f"not a stream id: kind {self.kind!r}, id {self.id!r}")

    @property
    def scope(self) -> str | None:
        """The alliance the process's id is scoped to; None for an alliance's own stream or a stream
        recorded before ids were scoped."""
        scope, dot, _ = self.id.partition(SCOPE)
        return scope if dot else None

    @property
    def process_id(self) -> str:
        """The id the process's members know it by (`spring` in `decision-rivers.spring`)."""
        return self.id.partition(SCOPE)[2] or self.id

    def __str__(self) -> str:
        return f"{self.kind}-{self.id}"

    @classmethod
    def parse(cls, text: str) -> StreamId | None:
        """The stream id that `text` names, or None when it has no '<kind>-<id>' shape."""
        kind, _, process_id = text.partition("-")
        try:
            return cls(kind, process_id)
        except ValueError:
            return None
