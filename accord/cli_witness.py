"""`accord witness ...`: a member organisation witnesses its alliance's log from its own machine, with its own
key, through the HTTP API (accord/witness.py says what a round does)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from accord.cli_common import command
from accord.render import Output

DEFAULT_DIR = Path.home() / ".accord-witness"


def _options(fn: Any) -> Any:
    for option in reversed([
        click.option("--api", "api_url", required=True, envvar="ACCORD_WITNESS_API", help="accord's HTTP API (or ACCORD_WITNESS_API)."),
        click.option("--token", required=True, envvar="ACCORD_WITNESS_TOKEN", help="The member's API token (or ACCORD_WITNESS_TOKEN)."),
        click.option("--alliance", "alliance_id", required=True, help="The alliance whose log to witness."),
        click.option("--as", "member_id", required=True, envvar="ACCORD_AS", metavar="MEMBER",
                     help="The member this witness is (or ACCORD_AS)."),
        click.option("--log-key", "log_key", required=True, multiple=True, envvar="ACCORD_WITNESS_LOG_KEY",
                     help="The log's public key, pinned (`accord log key` on the deployment prints it); while the log's "
                     "key rotates, give the old and the new one (repeat the option)."),
        _dir_option,
    ]):
        fn = option(fn)
    return fn


_dir_option = click.option(
    "--dir", "directory", type=click.Path(path_type=Path), default=DEFAULT_DIR, envvar="ACCORD_WITNESS_DIR", show_default=True,
    help="Where the witness keeps its key, the checkpoints it cosigned and any evidence (or ACCORD_WITNESS_DIR).",
)


@click.group()
def witness() -> None:
    """Witness an alliance's log as a member: check each checkpoint, cosign it, report a split view."""


@command(witness, "init", needs_app=False)
@click.option("--name", required=True, help="The witness's key name, e.g. witness.greenwatch.example (no spaces, no '+').")
@_dir_option
async def init(name: str, directory: Path) -> Output:
    """Generate the witness's key (once) and print its public key, for the member to name with
    `accord member witness-key` (or PUT /alliances/{id}/members/{member}/witness-key)."""
    from accord.keeper import new_key_file
    from events.notes import COSIGNATURE

    signer = new_key_file(directory / "key", name, COSIGNATURE)
    return Output(
        {"directory": str(directory), "public_key": str(signer.verifier)},
        f"witness key written to {directory / 'key'}\npublic key: {signer.verifier}\n"
        f"name it for your member: accord member witness-key ALLIANCE MEMBER {signer.verifier} --as MEMBER",
    )


@command(witness, "key", needs_app=False)
@_dir_option
async def key(directory: Path) -> Output:
    """Print the witness's public key (to name it with `accord member witness-key`)."""
    from accord.witness import witness_signer

    public = str(witness_signer(directory).verifier)
    return Output({"directory": str(directory), "public_key": public}, public)


async def _round(api_url: str, token: str, alliance_id: str, member_id: str, log_key: tuple[str, ...], directory: Path) -> Any:
    import httpx

    from accord.witness import Witness, witness_signer
    from events.errors import ConfigurationError
    from events.notes import NoteError, Verifier

    try:
        pinned = [Verifier.parse(key) for key in log_key]
    except NoteError as error:
        raise ConfigurationError(f"--log-key: {error}") from None
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=api_url, headers=headers, timeout=30) as http:
        return await Witness(http, alliance_id, member_id, pinned, witness_signer(directory), directory).round()


@command(witness, "once", needs_app=False)
@_options
async def once(api_url: str, token: str, alliance_id: str, member_id: str, log_key: tuple[str, ...], directory: Path) -> Output:
    """One round: fetch the newest checkpoint, check it extends the last one cosigned, cosign it. Exit 3 on a
    split view (the evidence is kept and reported)."""
    done = await _round(api_url, token, alliance_id, member_id, log_key, directory)
    return Output(done, done.detail)


@command(witness, "run", needs_app=False)
@_options
@click.option("--every", type=click.FloatRange(min=1), default=60, show_default=True, help="Seconds between rounds.")
async def run(
    api_url: str, token: str, alliance_id: str, member_id: str, log_key: tuple[str, ...], directory: Path, every: float
) -> Output:
    """Witness until stopped (Ctrl-C): a round every --every seconds. An outage is waited out; a split view
    stops it with exit 3 (the evidence is kept and reported), as does a checkpoint the pinned key did not sign."""
    import asyncio
    import contextlib
    import signal

    import structlog

    from events.errors import AccordError, CorruptRecord

    log = structlog.get_logger("accord.witness")
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    rounds = 0
    while not stop.is_set():
        try:
            done = await _round(api_url, token, alliance_id, member_id, log_key, directory)
            rounds += 1
            log.info(done.outcome, alliance_id=alliance_id, tree_size=done.tree_size, pid=os.getpid())
        except CorruptRecord:
            raise  # a split view, or a checkpoint that cannot be trusted: stop, loudly
        except AccordError as error:  # accord unavailable, no checkpoint yet, a token revoked: said, then tried again
            log.warning("no round this time; trying again", error=error.message)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
    return Output({"rounds": rounds}, f"witness stopped after {rounds} round(s)")
