"""`accord log ...`: each alliance's transparency log from the command line: its signed checkpoints, the
proofs between them, and the deployment's log key (docs/audit.md, "The transparency log").

Reads take `--as MEMBER` like the other audit reads (without it, the operator reads everything).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from accord.cli_common import command, load_settings, reader_option
from accord.render import Output

if TYPE_CHECKING:
    from accord.app import Accord
    from events.access import Caller
    from events.log import CheckpointRecord


@click.group()
def log() -> None:
    """The transparency log: signed checkpoints, consistency proofs, the log's key."""


def _shown(checkpoint: CheckpointRecord) -> str:
    witnesses = f"cosigned by {', '.join(checkpoint.witnesses)}" if checkpoint.witnesses else "no cosignature yet"
    return f"{checkpoint.note}\n({checkpoint.tree_size} leaves, signed {checkpoint.issued_at:%Y-%m-%d %H:%M:%S} UTC, {witnesses})"


@command(log, "checkpoint")
@click.argument("alliance_id")
@click.option("--size", type=click.IntRange(min=0), default=None, help="The checkpoint of this many leaves (default: the newest).")
@click.option("--sign", "sign_now", is_flag=True, help="Sign a checkpoint of the log as it is now first (the operator, with the log key).")
@reader_option
async def checkpoint(app: Accord, alliance_id: str, size: int | None, sign_now: bool, reader: Caller | None) -> Output:
    """Show an alliance's newest signed checkpoint (a C2SP signed note), with its witnesses' cosignatures."""
    from accord import transparency
    from accord.keeper import log_signer
    from events.log import TransparencyLog
    from events.rules import Refused

    if sign_now:
        settings = load_settings(as_json=False)
        signer = log_signer(settings)
        if reader is not None or signer is None:
            raise Refused(
                "--sign is the operator's, with the log key (ACCORD_LOG_KEY or ACCORD_LOG_KEY_FILE, or the dev stack's)",
                field="sign",
            )
        await app.alliance(alliance_id)  # refused as not found for an alliance that does not exist
        await TransparencyLog(app.pool).issue(alliance_id, signer, settings.log_name)
    record = await transparency.checkpoint(app, alliance_id, reader, size)
    return Output(record, _shown(record))


@command(log, "checkpoints")
@click.argument("alliance_id")
@click.option("--since", type=click.IntRange(min=0), default=0, help="Only checkpoints of this many leaves or more.")
@reader_option
async def checkpoints(app: Accord, alliance_id: str, since: int, reader: Caller | None) -> Output:
    """List an alliance's signed checkpoints, oldest first."""
    from accord import transparency

    records = await transparency.checkpoints(app, alliance_id, reader, since)
    lines = [f"{r.tree_size:>10} leaves  {r.root_hash}  {r.issued_at:%Y-%m-%d %H:%M:%S}  {len(r.witnesses)} witness(es)" for r in records]
    return Output(records, "\n".join(lines) or "no checkpoint yet")


@command(log, "consistency")
@click.argument("alliance_id")
@click.argument("old", type=click.IntRange(min=0))
@click.argument("new", type=click.IntRange(min=0), required=False)
@reader_option
async def consistency(app: Accord, alliance_id: str, old: int, new: int | None, reader: Caller | None) -> Output:
    """Prove that the checkpoint of NEW leaves (default: the newest) extends the one of OLD leaves."""
    from accord import transparency

    proof = await transparency.consistency(app, alliance_id, reader, old, new)
    lines = [f"the log of {proof.new_size} leaves extends the log of {proof.old_size} leaves:", *proof.proof]
    return Output(proof, "\n".join(lines))


@command(log, "key", needs_app=False)
async def key() -> Output:
    """Print the log's public key (members' witnesses and outside verifiers pin it)."""
    from accord.keeper import log_signer
    from events.errors import ConfigurationError

    signer = log_signer(load_settings(as_json=False))
    if signer is None:
        raise ConfigurationError("no log key: set ACCORD_LOG_KEY or ACCORD_LOG_KEY_FILE (`accord log keygen` makes one)")
    return Output({"name": signer.name, "public_key": str(signer.verifier)}, str(signer.verifier))


@command(log, "keygen", needs_app=False)
@click.argument("path", type=click.Path(path_type=Path, allow_dash=True))
@click.option("--name", default=None, help="The key's name (default: ACCORD_LOG_NAME).")
async def keygen(path: Path, name: str | None) -> Output:
    """Generate a log signing key into PATH (mode 0600; it must not exist) and print its public key; with
    PATH '-', print the private key too (for a secret store or an .env file)."""
    from accord.keeper import new_key_file
    from events.errors import ConfigurationError
    from events.notes import NoteError, Signer

    name = name or load_settings(as_json=False).log_name
    if str(path) == "-":
        try:
            signer = Signer.generate(name)
        except NoteError as error:
            raise ConfigurationError(str(error)) from None
        return Output(
            {"private_key": str(signer), "public_key": str(signer.verifier)},
            f"ACCORD_LOG_KEY={signer}\nACCORD_LOG_PUBLIC_KEYS={signer.verifier}",
        )
    signer = new_key_file(path, name)
    return Output(
        {"path": str(path), "public_key": str(signer.verifier)},
        f"log key written to {path}; point ACCORD_LOG_KEY_FILE at it\npublic key: {signer.verifier}",
    )
