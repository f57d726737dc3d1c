"""The transparency log over the HTTP API: checkpoints, proofs and verification for who may read the
alliance's record (members, auditors), and the members' witnesses' cosignatures and split views
(docs/audit.md, "The transparency log"; accord/transparency.py holds what the routes call)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi import Path as FastAPIPath
from pydantic import Field

from accord import transparency
from accord.api import ERRORS, AccordDep, Actor, Body, Reader, SettingsDep, alliance_command
from accord.keeper import log_keys
from events.alliance import SetWitnessKey
from events.log import CheckpointRecord, ConsistencyProof, InclusionProof, LogReport
from events.rules import Text
from events.store import MAX_VERSION
from workflows.shapes import CommandResult

Size = Annotated[int | None, Query(ge=0, le=2**62, description="the checkpoint of this many leaves (default: the newest)")]


class CosignatureRequest(Body):
    tree_size: int = Field(ge=0, le=2**62)
    line: str = Field(max_length=400, description="the cosignature line (C2SP tlog-cosignature), as `accord witness` makes it")


class SplitViewRequest(Body):
    reason: Text
    earlier: str = Field(max_length=4000, description="the checkpoint the witness cosigned before (a signed note)")
    later: str = Field(max_length=4000, description="the checkpoint that contradicts it (a signed note)")


class WitnessKeyRequest(Body):
    witness_key: str | None = Field(max_length=200)
    """The witness's public key, as `accord witness init` prints it; null: the member has no witness."""


alliance_log = APIRouter(prefix="/alliances/{alliance_id}/log", tags=["transparency log"], responses=ERRORS)


@alliance_log.get("/checkpoint", summary="The alliance's newest signed checkpoint (or one of a size), with its cosignatures")
async def checkpoint(alliance_id: str, reader: Reader, accord: AccordDep, size: Size = None) -> CheckpointRecord:
    return await transparency.checkpoint(accord, alliance_id, reader, size)


@alliance_log.get("/checkpoints", summary="The alliance's signed checkpoints, oldest first")
async def checkpoints(
    alliance_id: str, reader: Reader, accord: AccordDep,
    since: Annotated[int, Query(ge=0, le=2**62, description="only checkpoints of this many leaves or more")] = 0,
) -> list[CheckpointRecord]:
    return await transparency.checkpoints(accord, alliance_id, reader, since)


@alliance_log.get("/consistency", summary="Proof that the checkpoint of `new` leaves (default: the newest) extends the one of `old`")
async def consistency(
    alliance_id: str, reader: Reader, accord: AccordDep,
    old: Annotated[int, Query(ge=0, le=2**62)], new: Size = None,
) -> ConsistencyProof:
    return await transparency.consistency(accord, alliance_id, reader, old, new)


@alliance_log.get("/verify", summary="Recompute the alliance's log from the record and check every checkpoint and cosignature")
async def verify(alliance_id: str, reader: Reader, accord: AccordDep, settings: SettingsDep) -> LogReport:
    return await transparency.verify_log(accord, alliance_id, reader, log_keys(settings))


@alliance_log.post("/cosignatures", summary="A member's witness cosigns a checkpoint (with the key the member named)")
async def cosign(alliance_id: str, body: CosignatureRequest, actor: Actor, accord: AccordDep) -> CheckpointRecord:
    return await transparency.cosign(accord, alliance_id, actor, body.tree_size, body.line)


@alliance_log.post("/split-views", summary="A member's witness reports two checkpoints that cannot both be true; every member is told")
async def split_view(alliance_id: str, body: SplitViewRequest, actor: Actor, accord: AccordDep, settings: SettingsDep) -> CommandResult:
    return await transparency.report_split_view(
        accord, alliance_id, actor, log_keys(settings), settings.log_name, body.reason, body.earlier, body.later
    )


@alliance_log.get("/bundle", summary="The alliance's audit bundle: its events in log order (what the reader may read), checkpoints, keys")
async def bundle(alliance_id: str, reader: Reader, accord: AccordDep, settings: SettingsDep) -> dict[str, Any]:
    return await transparency.bundle(accord, alliance_id, reader, log_keys(settings))


witness_keys = APIRouter(prefix="/alliances/{alliance_id}/members/{member_id}", tags=["members"], responses=ERRORS)


@witness_keys.put("/witness-key", summary="Name (or clear) the public key of the member's witness (the member)")
async def set_witness_key(member_id: str, body: WitnessKeyRequest, actor: Actor, accord: AccordDep) -> CommandResult:
    return await alliance_command(accord, actor, SetWitnessKey(actor=actor.member_id, member_id=member_id, witness_key=body.witness_key))


proofs = APIRouter(prefix="/audit/proofs", tags=["transparency log"], responses=ERRORS)


@proofs.get("/{stream_id}/{version}", summary="Proof that an event (a receipt) is in its alliance's log at a signed checkpoint")
async def prove(
    stream_id: str,
    version: Annotated[int, FastAPIPath(ge=1, le=MAX_VERSION)],
    reader: Reader,
    accord: AccordDep,
    hash_hex: Annotated[str | None, Query(alias="hash", pattern="^[0-9a-fA-F]{64}$", description="the receipt's hash")] = None,
    size: Annotated[
        int | None, Query(ge=1, le=2**62, description="the checkpoint of this many leaves (default: the newest that counts)")
    ] = None,
) -> InclusionProof:
    return await transparency.prove(accord, stream_id, version, reader, hash_hex=hash_hex, size=size)


routers = (alliance_log, witness_keys, proofs)
