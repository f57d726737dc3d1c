"""A member's witness of its alliance's log: run by any member organisation, on its own machine, with its own
key, talking to accord only through the HTTP API with the member's token.

Each round it fetches the alliance's newest checkpoint, checks the log's signature with the key it pinned,
checks that the checkpoint extends the last one it cosigned (a consistency proof, verified here), cosigns
(C2SP tlog-cosignature) and sends the cosignature. Two checkpoints that cannot both be true are a split
view: the witness keeps both as evidence in its directory, says so loudly, and reports them to the
alliance through accord, which records them where every member is told. It never cosigns past one.

Its directory holds its key (`key`, 0600) and, per alliance, the last checkpoint it cosigned
(`<alliance>/checkpoint`) and any evidence (`<alliance>/split-view-<time>.txt`).
"""

from __future__ import annotations

import base64
import hashlib
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from events.errors import AccordError, ConfigurationError, CorruptRecord, Unavailable
from events.merkle import ConsistencyError, verify_consistency
from events.notes import COSIGNATURE, Checkpoint, NoteError, Signer, Verifier, signed_by, split_note

__all__ = ["Round", "Witness", "witness_signer"]


def witness_signer(directory: Path) -> Signer:
    """The witness's key from its directory; a clear refusal when there is none yet."""
    path = directory / "key"
    try:
        signer = Signer.parse(path.read_text())
    except FileNotFoundError:
        raise ConfigurationError(f"no witness key in {directory}: run `accord witness init --dir {directory}` first") from None
    except NoteError as error:
        raise ConfigurationError(f"{path}: {error}") from None
    if signer.kind != COSIGNATURE:
        raise ConfigurationError(f"{path} is not a witness's key (a cosignature key, type 0x04)")
    return signer


@dataclass(frozen=True)
class Round:
    """What one round of the witness did."""

    alliance_id: str
    tree_size: int
    outcome: str
    """'cosigned', 'unchanged' (nothing new since its last cosignature) or 'split view'."""
    detail: str
    evidence: str | None = None
    """Where the evidence of a split view was kept."""


class Witness:
    """One member's witness of one alliance's log."""

    def __init__(
        self, http: httpx.AsyncClient, alliance_id: str, member_id: str, log_key: Verifier | Sequence[Verifier], signer: Signer,
        directory: Path,
    ) -> None:
        self.http = http
        self.alliance_id = alliance_id
        self.member_id = member_id
        self.log_keys = [log_key] if isinstance(log_key, Verifier) else list(log_key)
        """The log's keys the member pinned: during a rotation, the old and the new one."""
        self.signer = signer
        self.state = directory / alliance_id
        self.state.mkdir(parents=True, exist_ok=True)

    async def round(self) -> Round:
        """Fetch, check, cosign: one round. A split view is kept, reported and raised as CorruptRecord."""
        record = await self._get(f"/alliances/{self.alliance_id}/log/checkpoint")
        note = record["note"]
        text, checkpoint = self._opened(note)
        earlier = self._last()
        if earlier is not None:
            _, old = self._opened(earlier)
            contradiction = await self._contradiction(old, checkpoint)
            if contradiction is not None:
                return await self._split_view(contradiction, earlier, note)
            if old.size == checkpoint.size and self.member_id in record.get("witnesses", []):
                return Round(self.alliance_id, checkpoint.size, "unchanged", f"already cosigned the checkpoint of {checkpoint.size} leaves")
        self._keep(self.state / "checkpoint", f"{text}\n{self._log_signature(note)}")
        line = self.signer.cosign(text, int(time.time()))
        await self._post(f"/alliances/{self.alliance_id}/log/cosignatures", {"tree_size": checkpoint.size, "line": line})
        return Round(self.alliance_id, checkpoint.size, "cosigned", f"cosigned the checkpoint of {checkpoint.size} leaves")

    def _opened(self, note: str) -> tuple[str, Checkpoint]:
        """The checkpoint's text and contents, once the log's signature on it holds."""
        try:
            text, signatures = split_note(note)
            checkpoint = Checkpoint.parse(text)
            if not signed_by(text, signatures, self.log_keys):
                raise NoteError(f"it is not signed by the pinned log key {' or '.join(k.name for k in self.log_keys)}")
        except NoteError as error:
            raise CorruptRecord(f"the checkpoint accord served cannot be trusted: {error}") from None
        if not checkpoint.origin.endswith(f"/{self.alliance_id}"):
            raise CorruptRecord(f"the checkpoint accord served is of another log ({checkpoint.origin}), not of {self.alliance_id!r}")
        return text, checkpoint

    def _log_signature(self, note: str) -> str:
        _, signatures = split_note(note)
        text, _ = split_note(note)
        return next(s.line for s in signatures if signed_by(text, [s], self.log_keys))

    def _last(self) -> str | None:
        try:
            return (self.state / "checkpoint").read_text()
        except FileNotFoundError:
            return None

    async def _contradiction(self, old: Checkpoint, new: Checkpoint) -> str | None:
        """Why `new` cannot be the log that `old` was; None when it extends it (or is it)."""
        if old.size == new.size:
            return None if old.root == new.root else f"two roots for the log of {old.size} leaves"
        if new.size < old.size:
            return f"the log shrank from {old.size} leaves to {new.size}"
        try:
            proof = await self._get(f"/alliances/{self.alliance_id}/log/consistency", old=old.size, new=new.size)
            verify_consistency(old.size, new.size, old.root, new.root, [base64.b64decode(p, validate=True) for p in proof["proof"]])
        except (ConsistencyError, ValueError, KeyError) as error:
            return f"the log of {new.size} leaves does not extend the one of {old.size} leaves that this witness cosigned ({error})"
        except Unavailable:
            raise
        except AccordError as error:
            return f"accord cannot prove that the log of {new.size} leaves extends the one of {old.size} leaves ({error})"
        return None

    async def _split_view(self, why: str, earlier: str, later: str) -> Round:
        """Keep the two notes (a file per pair: the same split view seen again is neither kept nor reported
        twice), report them to the alliance, and stop."""
        pair = hashlib.sha256(f"{earlier}\0{later}".encode()).hexdigest()[:16]
        evidence = self.state / f"split-view-{pair}.txt"
        if evidence.exists():
            raise CorruptRecord(f"SPLIT VIEW of the log of {self.alliance_id!r} (seen before): {why}; evidence kept in {evidence}")
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self._keep(
            evidence,
            f"{why} (seen {when})\n\n--- the checkpoint this witness cosigned before ---\n{earlier}"
            f"\n--- the checkpoint accord serves now ---\n{later}",
        )
        try:
            await self._post(
                f"/alliances/{self.alliance_id}/log/split-views",
                {"reason": "seen by a member's witness", "earlier": earlier, "later": later},
            )
            told = "reported to the alliance"
        except AccordError as error:
            told = f"NOT reported to the alliance ({error}): tell its members yourself"
        raise CorruptRecord(f"SPLIT VIEW of the log of {self.alliance_id!r}: {why}; evidence kept in {evidence}; {told}")

    @staticmethod
    def _keep(path: Path, text: str) -> None:
        """Write a file whole or not at all (a crash leaves the old one)."""
        partial = path.with_suffix(".partial")
        partial.write_text(text)
        os.replace(partial, path)

    async def _get(self, path: str, **params: Any) -> dict[str, Any]:
        return await self._call("GET", path, params=params or None)

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self._call("POST", path, json=body)

    async def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = await self.http.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise Unavailable(f"accord's API at {self.http.base_url} cannot be reached: {error}") from None
        if response.status_code >= 400:  # HTTP's error statuses
            try:
                message = response.json()["detail"]
            except (ValueError, KeyError, TypeError):
                message = response.text[:200]
            # The server's side, or the member's credentials: no verdict on the log, a round to try again.
            waits = response.status_code >= 500 or response.status_code in (401, 403, 429)  # HTTP statuses
            failure = Unavailable if waits else AccordError
            raise failure(f"{method} {path}: {response.status_code} {message}")
        body: dict[str, Any] = response.json()
        return body
