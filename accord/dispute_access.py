"""What the command line and the HTTP API let a caller see of a dispute and do in it.

The application layer answers a reader with the dispute, its outline (existence and stage) or
not_found. The edges add two rules on top:

- a caller who speaks for one alliance (an API token) never reaches another alliance's dispute:
  member ids are unique only within an alliance, so `gw` of one alliance is not `gw` of another;
- a refusal never tells someone who may not know that a dispute exists that it does: they get
  exactly the answer a dispute that does not exist gets, whatever the command was.
"""

from __future__ import annotations

from accord.app import Accord, DisputeView
from events.dispute import DisputeCommand, Outline
from events.processes import DISPUTE
from events.rules import Refused, not_found
from workflows.shapes import CommandResult


def unknown(dispute_id: str) -> Refused:
    """The one answer for a dispute that does not exist, or that the caller may not know of."""
    return not_found(f"no dispute {dispute_id!r}")


def alliance_of(seen: DisputeView | Outline) -> str:
    return seen.state.alliance_id if isinstance(seen, DisputeView) else seen.alliance_id


async def read_dispute(
    app: Accord, dispute_id: str, reader: str, *, alliance_id: str | None = None
) -> DisputeView | Outline:
    """The dispute as `reader` may see it: in full, as an outline, or not at all (not_found)."""
    seen = await app.dispute(dispute_id, reader)
    if alliance_id is not None and alliance_of(seen) != alliance_id:
        raise unknown(dispute_id)
    return seen


async def send_command(
    app: Accord, dispute_id: str, command: DisputeCommand, *, alliance_id: str | None = None
) -> CommandResult:
    """Send a command; a refusal reaches the actor only if the actor may know that the dispute exists."""
    if alliance_id is not None:
        try:
            owner = await app.stream_alliance(DISPUTE.stream_name(dispute_id))
        except Refused:
            raise unknown(dispute_id) from None
        if owner != alliance_id:
            raise unknown(dispute_id)
    try:
        return await app.dispute_command(dispute_id, command)
    except Refused:
        # Raises not_found in place of the refusal for an actor who may not even learn that it exists
        # (an outsider, or anyone but its readers where the charter keeps its existence confidential).
        await read_dispute(app, dispute_id, command.actor)
        raise
