"""Each alliance's transparency log in PostgreSQL: the Merkle tree over its events, its signed checkpoints,
their witnesses' cosignatures, and the proofs that tie a receipt to a checkpoint.

The append numbers the leaves (events/store.py); this module hashes them into the tree, signs checkpoints
of it, answers proofs from the stored nodes, and recomputes the whole tree from the events to check every
signed checkpoint (`verify`), which needs neither Temporal nor the stored nodes. The tree, the note formats
and the proofs are specified in docs/audit.md; `events/merkle.py` and `events/notes.py` implement them.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterable, Sequence
from datetime import datetime

import asyncpg
from pydantic import BaseModel

from events.errors import AccordError
from events.merkle import (
    EMPTY_ROOT,
    Frontier,
    Node,
    consistency_nodes,
    consistency_proof,
    inclusion_nodes,
    inclusion_proof,
    leaf_hash,
    root,
)
from events.notes import Checkpoint, NoteError, Signer, Verifier, signed_by, split_note
from events.processes import ALLIANCE, PROCESSES
from events.rules import invalid, not_found
from events.store import Connection
from events.streams import SCOPE

__all__ = [
    "CheckpointRecord",
    "ConsistencyProof",
    "InclusionProof",
    "LogReport",
    "TransparencyLog",
    "backfill",
    "origin",
]

_BACKFILL_SQL = """
INSERT INTO accord.log_leaves (alliance_id, leaf_index, global_position)
SELECT alliance_id, row_number() OVER (PARTITION BY alliance_id ORDER BY transaction_id, global_position) - 1,
       global_position
FROM (
    SELECT e.global_position, e.transaction_id,
           CASE
               WHEN s.kind = $1 THEN s.id
               WHEN strpos(s.id, $2) > 0 THEN split_part(s.id, $2, 1)
               ELSE (SELECT r.alliance_id FROM accord.read_models r WHERE r.model = s.model AND r.key = s.id)
           END AS alliance_id
    FROM accord.events e,
         LATERAL (SELECT split_part(e.stream_id, '-', 1) AS kind, substr(e.stream_id, strpos(e.stream_id, '-') + 1) AS id) p,
         LATERAL (SELECT p.kind, p.id, m.model FROM unnest($3::text[], $4::text[]) AS m(kind, model) WHERE m.kind = p.kind) s
) found
WHERE alliance_id IS NOT NULL
"""


async def backfill(conn: Connection) -> int:
    """Make the events recorded before the log existed its first leaves: alliance by alliance, in the order
    the global log is read in (transaction id, then position). A stream recorded before ids were scoped
    (`decision-<id>`) belongs to the alliance its read model names. Run once, by the migrator, on a log
    that is still empty; returns the leaves made."""
    kinds = {kind: process.listing.name for kind, process in PROCESSES.items()}
    async with conn.transaction():
        made = await conn.execute(_BACKFILL_SQL, ALLIANCE.kind, SCOPE, list(kinds), list(kinds.values()))
        await conn.execute(
            "INSERT INTO accord.logs (alliance_id, size) SELECT alliance_id, count(*) FROM accord.log_leaves GROUP BY alliance_id"
        )
    return int(made.split()[-1])


_BATCH = 20_000
"""Leaves hashed into the tree per transaction."""
_CLOCK_SKEW = 300
"""Seconds a witness's clock may run ahead of the server's."""


def origin(deployment: str, alliance_id: str) -> str:
    """The origin line of an alliance's checkpoints: the deployment's name and the alliance."""
    return f"{deployment}/{alliance_id}"


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


class CheckpointRecord(BaseModel):
    """A signed checkpoint as recorded, with the cosignatures its witnesses added."""

    alliance_id: str
    tree_size: int
    root_hash: str
    """Base64, as in the note."""
    note: str
    """The signed note, with the log's signature and every cosignature (C2SP tlog-checkpoint)."""
    issued_at: datetime
    witnesses: list[str] = []
    """The members whose witnesses cosigned it."""


class InclusionProof(BaseModel):
    """That an event is a leaf of its alliance's log at a signed checkpoint (RFC 9162 audit path)."""

    alliance_id: str
    stream_id: str
    stream_version: int
    event_hash: str
    """The event's chain hash (hex): the leaf's data."""
    leaf_index: int
    tree_size: int
    proof: list[str]
    """The audit path, leaf upwards, base64."""
    checkpoint: str
    """The signed note of the checkpoint (tree size `tree_size`)."""

    def tlog_proof(self) -> str:
        """The proof in the C2SP tlog-proof format, for tools that read it."""
        return "c2sp.org/tlog-proof@v1\n" + f"index {self.leaf_index}\n" + "".join(f"{p}\n" for p in self.proof) + "\n" + self.checkpoint


class ConsistencyProof(BaseModel):
    """That the log at one checkpoint extends the log at an earlier one (RFC 9162 consistency proof)."""

    alliance_id: str
    old_size: int
    new_size: int
    proof: list[str]
    old_checkpoint: str
    new_checkpoint: str


class LogReport(BaseModel):
    """What recomputing an alliance's log from the events found."""

    alliance_id: str
    leaves: int
    checkpoints: int
    """Signed checkpoints checked against the recomputed tree."""
    latest: int | None = None
    """The size of the newest checkpoint that holds."""
    witnesses_required: int = 0
    """Cosignatures the charter asks of a checkpoint before it counts."""
    counted: int | None = None
    """The size of the newest checkpoint that holds and has them."""
    unsigned: int = 0
    """Leaves after the newest checkpoint: recorded, not yet covered by a signature."""
    signatures_checked: bool = True
    """False when no public key of the log was given: the roots were checked, not who signed them."""
    draws: int = 0
    """Verifiable draws recomputed from their events (events/draws.py), in the disputes the reader may read."""
    problems: list[str] = []

    @property
    def ok(self) -> bool:
        return not self.problems


class TransparencyLog:
    """The alliances' transparency logs in `accord.logs`, `accord.log_leaves`, `accord.log_nodes`,
    `accord.checkpoints` and `accord.cosignatures`."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    # ---------------------------------------------------------------------------------------- the tree

    async def integrate(self, alliance_id: str) -> int:
        """Hash every numbered leaf of the alliance's log into the tree; the tree's size afterwards.

        Leaves are numbered without gaps as they commit (events/store.py), so the committed ones are always
        a prefix: this takes them in order from where the tree ends, a batch per transaction. Writers of the
        tree wait on one advisory lock per alliance; appends never do."""
        while True:
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext('accord.log_nodes'), hashtext($1))", alliance_id)
                size = await _tree_size(conn, alliance_id)
                rows = await conn.fetch(
                    "SELECT l.leaf_index, e.hash FROM accord.log_leaves l JOIN accord.events e USING (global_position)"
                    " WHERE l.alliance_id = $1 AND l.leaf_index >= $2 ORDER BY l.leaf_index LIMIT $3",
                    alliance_id, size, _BATCH,
                )
                if not rows:
                    return size
                frontier = await _frontier(conn, alliance_id, size)
                made: list[tuple[str, int, int, bytes]] = []
                for row in rows:
                    if row["leaf_index"] != frontier.size:
                        raise AccordError(
                            f"the log of {alliance_id!r} has no leaf {frontier.size} (the next is {row['leaf_index']}), or its "
                            "event is missing: run `accord audit verify --alliance` to see what the record lost"
                        )
                    made.extend(
                        (alliance_id, level, index, digest)
                        for (level, index), digest in frontier.append(leaf_hash(bytes(row["hash"])))
                    )
                await conn.copy_records_to_table(
                    "log_nodes", schema_name="accord", records=made, columns=("alliance_id", "level", "idx", "hash")
                )

    async def sequenced(self) -> dict[str, int]:
        """Every alliance's numbered leaves."""
        async with self._pool.acquire() as conn:
            return {row["alliance_id"]: row["size"] for row in await conn.fetch("SELECT alliance_id, size FROM accord.logs")}

    # --------------------------------------------------------------------------------- checkpoints

    async def issue(self, alliance_id: str, signer: Signer, deployment: str) -> CheckpointRecord | None:
        """Bring the tree up to date and sign a checkpoint of it; None when the newest checkpoint already
        has every leaf."""
        size = await self.integrate(alliance_id)
        async with self._pool.acquire() as conn:
            latest = await conn.fetchval("SELECT max(tree_size) FROM accord.checkpoints WHERE alliance_id = $1", alliance_id)
            if size == 0 or (latest is not None and latest >= size):
                return None
            digest = (await _frontier(conn, alliance_id, size)).root()
            note = signer.sign(Checkpoint(origin(deployment, alliance_id), size, digest).text())
            row = await conn.fetchrow(
                "INSERT INTO accord.checkpoints (alliance_id, tree_size, root_hash, note) VALUES ($1, $2, $3, $4)"
                " ON CONFLICT DO NOTHING RETURNING issued_at",
                alliance_id, size, digest, note,
            )
        if row is None:  # another keeper signed this very size at the same moment
            return None
        return CheckpointRecord(alliance_id=alliance_id, tree_size=size, root_hash=_b64(digest), note=note, issued_at=row["issued_at"])

    async def due(self, every_events: int, every_seconds: float) -> list[str]:
        """The alliances whose log has grown by `every_events` leaves since its newest checkpoint, or has
        grown at all and waited `every_seconds` since it."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                """
                SELECT l.alliance_id FROM accord.logs l
                LEFT JOIN LATERAL (
                    SELECT tree_size, issued_at FROM accord.checkpoints c
                    WHERE c.alliance_id = l.alliance_id ORDER BY tree_size DESC LIMIT 1
                ) c ON true
                WHERE l.size > coalesce(c.tree_size, 0)
                  AND (l.size - coalesce(c.tree_size, 0) >= $1 OR c.issued_at IS NULL
                       OR c.issued_at <= clock_timestamp() - make_interval(secs => $2))
                ORDER BY l.alliance_id
                """,
                every_events, every_seconds,
            )
        return [row["alliance_id"] for row in rows]

    async def checkpoints(self, alliance_id: str, *, since: int = 0) -> list[CheckpointRecord]:
        """The alliance's checkpoints of `since` leaves or more, oldest first, each with its cosignatures."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                _CHECKPOINTS_SQL + " AND c.tree_size >= $2 GROUP BY c.alliance_id, c.tree_size ORDER BY c.tree_size", alliance_id, since
            )
        return [_checkpoint(row) for row in rows]

    async def checkpoint(self, alliance_id: str, size: int | None = None) -> CheckpointRecord:
        """The checkpoint of `size` leaves, or the newest; a refusal naming what there is when there is none."""
        row = await self._newest(" AND ($2::bigint IS NULL OR c.tree_size = $2) GROUP BY c.alliance_id, c.tree_size", alliance_id, size)
        if row is None:
            what = f"no checkpoint of {size} leaves" if size is not None else "no checkpoint yet"
            raise not_found(f"the log of alliance {alliance_id!r} has {what}", "checkpoint")
        return _checkpoint(row)

    async def counted(self, alliance_id: str, witnesses: int) -> CheckpointRecord:
        """The newest checkpoint that `witnesses` members' witnesses have cosigned (the charter's rule for a
        checkpoint to count); refused, saying what there is, when none has them yet."""
        row = await self._newest(" GROUP BY c.alliance_id, c.tree_size HAVING count(DISTINCT s.witness) >= $2", alliance_id, witnesses)
        if row is None:
            raise not_found(
                f"no checkpoint of the log of {alliance_id!r} has the {witnesses} witnesses' cosignatures its charter asks for yet",
                "checkpoint",
            )
        return _checkpoint(row)

    async def _newest(self, condition: str, alliance_id: str, value: int | None) -> asyncpg.Record | None:
        """The newest of the alliance's checkpoints that meet `condition` (SQL after the WHERE, with $2)."""
        async with self._pool.acquire() as conn:
            row: asyncpg.Record | None = await conn.fetchrow(
                _CHECKPOINTS_SQL + condition + " ORDER BY c.tree_size DESC LIMIT 1", alliance_id, value
            )
        return row

    async def root_at(self, alliance_id: str, size: int) -> bytes | None:
        """The root of the stored tree at `size` leaves; None when the tree is not that big yet."""
        async with self._pool.acquire() as conn:
            if size > await _tree_size(conn, alliance_id):
                return None
            found = await _read_nodes(conn, alliance_id, Frontier.nodes_of(size))
        return root(size, found.__getitem__)

    async def leaves(self, alliance_id: str) -> list[asyncpg.Record]:
        """Every leaf of the alliance's log in order, with its event as stored (none where it is missing)."""
        async with self._pool.acquire() as conn:
            return await conn.fetch(
                "SELECT l.leaf_index, e.stream_id, e.stream_version, e.event_id::text AS event_id, e.event_type,"
                " e.data::text AS data, e.metadata::text AS metadata, e.recorded_at, e.hash"
                " FROM accord.log_leaves l LEFT JOIN accord.events e USING (global_position)"
                " WHERE l.alliance_id = $1 ORDER BY l.leaf_index",
                alliance_id,
            )

    # ------------------------------------------------------------------------------------- proofs

    async def prove(self, stream_id: str, version: int, *, size: int | None = None) -> InclusionProof:
        """The inclusion proof of an event in its alliance's log, at the checkpoint of `size` leaves or the
        newest; refused when the event is not in a log or no checkpoint has it yet."""
        async with self._pool.acquire() as conn:
            leaf = await conn.fetchrow(
                "SELECT l.alliance_id, l.leaf_index, e.hash FROM accord.events e JOIN accord.log_leaves l USING (global_position)"
                " WHERE e.stream_id = $1 AND e.stream_version = $2",
                stream_id, version,
            )
        if leaf is None:
            raise not_found(f"version {version} of stream {stream_id!r} is not a leaf of any alliance's log", "leaf")
        alliance_id, index = leaf["alliance_id"], leaf["leaf_index"]
        checkpoint = await self.checkpoint(alliance_id, size)
        if checkpoint.tree_size <= index:
            raise not_found(
                f"leaf {index} of the log of {alliance_id!r} is newer than its checkpoint of {checkpoint.tree_size} "
                "leaves: ask again after the next checkpoint",
                "checkpoint",
            )
        nodes = await self._nodes(alliance_id, inclusion_nodes(index, checkpoint.tree_size))
        return InclusionProof(
            alliance_id=alliance_id, stream_id=stream_id, stream_version=version, event_hash=bytes(leaf["hash"]).hex(),
            leaf_index=index, tree_size=checkpoint.tree_size,
            proof=[_b64(p) for p in inclusion_proof(index, checkpoint.tree_size, nodes.__getitem__)],
            checkpoint=checkpoint.note,
        )

    async def consistency(self, alliance_id: str, old: int, new: int | None = None) -> ConsistencyProof:
        """The consistency proof from the checkpoint of `old` leaves to the one of `new` (or the newest)."""
        older, newer = await self.checkpoint(alliance_id, old), await self.checkpoint(alliance_id, new)
        if newer.tree_size < older.tree_size:
            raise not_found(f"the checkpoint of {newer.tree_size} leaves is older than the one of {old}", "checkpoint")
        nodes = await self._nodes(alliance_id, consistency_nodes(older.tree_size, newer.tree_size))
        return ConsistencyProof(
            alliance_id=alliance_id, old_size=older.tree_size, new_size=newer.tree_size,
            proof=[_b64(p) for p in consistency_proof(older.tree_size, newer.tree_size, nodes.__getitem__)],
            old_checkpoint=older.note, new_checkpoint=newer.note,
        )

    async def _nodes(self, alliance_id: str, wanted: Sequence[Node]) -> dict[Node, bytes]:
        async with self._pool.acquire() as conn:
            return await _read_nodes(conn, alliance_id, wanted)

    # ------------------------------------------------------------------------------------ witnesses

    async def cosign(self, alliance_id: str, size: int, witness: str, verifier: Verifier, line: str) -> CheckpointRecord:
        """Record a witness's cosignature of the checkpoint of `size` leaves, after checking it."""
        checkpoint = await self.checkpoint(alliance_id, size)
        text, _ = split_note(checkpoint.note)
        line = line.removesuffix("\n")
        if "\n" in line or not line:
            raise invalid("a cosignature is one signature line (c2sp.org/tlog-cosignature), with no other line", field="line")
        try:
            _, signatures = split_note(text + "\n" + line + "\n")
            timestamp = verifier.verify(text, signatures[0])
        except NoteError as error:
            raise invalid(f"the cosignature does not hold: {error}", field="line") from None
        if timestamp is None or not 0 < timestamp <= time.time() + _CLOCK_SKEW:
            raise invalid(
                f"the cosignature's time ({timestamp}) is not a moment up to now: a witness cosigns with the time it checked "
                "the checkpoint (POSIX seconds)", field="line",
            )
        async with self._pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO accord.cosignatures (alliance_id, tree_size, witness, key, line, cosigned_at)"
                " VALUES ($1, $2, $3, $4, $5, to_timestamp($6)) ON CONFLICT DO NOTHING",
                alliance_id, size, witness, str(verifier), signatures[0].line, timestamp,
            )
        return await self.checkpoint(alliance_id, size)

    # ---------------------------------------------------------------------------------------- verify

    async def verify(
        self, alliance_id: str, keys: Iterable[Verifier], *, witnesses: int = 0, kept: Sequence[str] = ()
    ) -> LogReport:
        """Recompute the alliance's tree from the events' chain hashes and check every checkpoint against it:
        its signature by one of `keys`, and its root. Finds any event changed, removed, added or moved
        among the leaves a checkpoint covers, a whole stream gone, and events that are not leaves. Reads
        neither Temporal nor the stored nodes (it does compare with them, to name the first leaf that differs).
        Each cosignature is checked too, and the newest checkpoint that holds with `witnesses` of them counts.

        `kept` are checkpoints (signed notes) kept outside the record, by a witness or a reader: the record's
        log must still give their roots. Without them, someone who rewrites the events and also signs the
        rewritten log again passes every other check; with them, not."""
        return await _Verification(alliance_id, list(keys), witnesses).run(self._pool, kept)


# ------------------------------------------------------------------------------------------------


_CHECKPOINTS_SQL = """
SELECT c.alliance_id, c.tree_size, c.root_hash, c.issued_at,
       c.note || coalesce(string_agg(s.line, '' ORDER BY s.cosigned_at, s.key), '') AS note,
       coalesce(array_agg(DISTINCT s.witness) FILTER (WHERE s.witness IS NOT NULL), '{}') AS witnesses
FROM accord.checkpoints c LEFT JOIN accord.cosignatures s USING (alliance_id, tree_size)
WHERE c.alliance_id = $1"""


def _checkpoint(row: asyncpg.Record) -> CheckpointRecord:
    return CheckpointRecord(
        alliance_id=row["alliance_id"], tree_size=row["tree_size"], root_hash=_b64(bytes(row["root_hash"])),
        note=row["note"], issued_at=row["issued_at"], witnesses=list(row["witnesses"]),
    )


async def _tree_size(conn: Connection, alliance_id: str) -> int:
    last = await conn.fetchval("SELECT max(idx) FROM accord.log_nodes WHERE alliance_id = $1 AND level = 0", alliance_id)
    return 0 if last is None else int(last) + 1


async def _read_nodes(
    conn: Connection, alliance_id: str, wanted: Sequence[Node]
) -> dict[Node, bytes]:
    rows = await conn.fetch(
        "SELECT level, idx, hash FROM accord.log_nodes WHERE alliance_id = $1"
        " AND (level, idx) IN (SELECT * FROM unnest($2::smallint[], $3::bigint[]))",
        alliance_id, [level for level, _ in wanted], [index for _, index in wanted],
    )
    found = {(row["level"], row["idx"]): bytes(row["hash"]) for row in rows}
    missing = [node for node in wanted if node not in found]
    if missing:
        raise AccordError(f"the log of {alliance_id!r} lacks the stored nodes {missing[:3]}: run `accord audit verify --alliance`")
    return found


async def _frontier(conn: Connection, alliance_id: str, size: int) -> Frontier:
    wanted = Frontier.nodes_of(size)
    found = await _read_nodes(conn, alliance_id, wanted)
    return Frontier(size, [(node, found[node]) for node in wanted])


class _Verification:
    """One pass over an alliance's leaves in order, checking each checkpoint as the tree reaches its size."""

    def __init__(self, alliance_id: str, keys: list[Verifier], witnesses: int) -> None:
        self.alliance_id = alliance_id
        self.keys = keys
        self.witnesses = witnesses
        self.problems: list[str] = []
        self.holding: list[int] = []
        """The sizes of the checkpoints whose roots the record's leaves give."""

    async def run(self, pool: asyncpg.Pool, kept: Sequence[str]) -> LogReport:
        async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            checkpoints = await conn.fetch(
                "SELECT tree_size, root_hash, note FROM accord.checkpoints WHERE alliance_id = $1 ORDER BY tree_size", self.alliance_id
            )
            signed = {row["tree_size"]: self._signed(row) for row in checkpoints}
            cosigned = await self._cosigned(conn, {row["tree_size"]: row["note"] for row in checkpoints})
            outside = self._kept(kept, signed)
            frontier, stored_differs = Frontier(), False
            checked, latest = 0, None
            pending = sorted(signed | dict.fromkeys(outside, b""))
            async for row in conn.cursor(_LEAVES_SQL, self.alliance_id):
                if row["leaf_index"] != frontier.size:
                    self.problems.append(f"leaf {frontier.size} is missing from the log (the next is leaf {row['leaf_index']})")
                    break
                if row["hash"] is None:
                    self.problems.append(
                        f"leaf {frontier.size} names the event at position {row['global_position']}, which is not in the record"
                    )
                    break
                leaf = leaf_hash(bytes(row["hash"]))
                if not stored_differs and row["stored"] is not None and bytes(row["stored"]) != leaf:
                    stored_differs = True
                    self.problems.append(
                        f"leaf {frontier.size} ({row['stream_id']} version {row['stream_version']}) is not the event the log "
                        "hashed there: the event was changed, or moved, after it was recorded"
                    )
                frontier.append(leaf)
                while pending and pending[0] == frontier.size:
                    size = pending.pop(0)
                    self._check_kept(size, frontier.root(), outside)
                    if size in signed:
                        checked, latest = checked + 1, self._check_root(size, frontier.root(), signed, latest)
            for size in pending:  # a checkpoint the leaves never reach
                if size == 0:
                    self._check_kept(0, EMPTY_ROOT, outside)
                    if 0 in signed:
                        checked, latest = checked + 1, self._check_root(0, EMPTY_ROOT, signed, latest)
                    continue
                self.problems.append(
                    f"the checkpoint of {size} leaves was signed, but the log holds {frontier.size}: leaves were removed"
                )
            await self._unlogged(conn)
        held = [size for size in self.holding if cosigned.get(size, 0) >= self.witnesses]
        return LogReport(
            alliance_id=self.alliance_id, leaves=frontier.size, checkpoints=checked, latest=latest,
            witnesses_required=self.witnesses, counted=max(held) if latest is not None and held else None,
            signatures_checked=bool(self.keys),
            unsigned=max(frontier.size - max(signed, default=0), 0),
            problems=self.problems,
        )

    def _signed(self, row: asyncpg.Record) -> bytes:
        """The root the checkpoint's note signs, checking the note."""
        size = row["tree_size"]
        try:
            text, signatures = split_note(row["note"])
            checkpoint = Checkpoint.parse(text)
            if self.keys and not signed_by(text, signatures, self.keys):
                self.problems.append(f"the checkpoint of {size} leaves is not signed by the log's key")
            if checkpoint.size != size or checkpoint.root != bytes(row["root_hash"]):
                self.problems.append(f"the checkpoint of {size} leaves is recorded with another size or root than it signs")
        except NoteError as error:
            self.problems.append(f"the checkpoint of {size} leaves is not a valid signed note: {error}")
            return bytes(row["root_hash"])
        return checkpoint.root

    async def _cosigned(self, conn: Connection, notes: dict[int, str]) -> dict[int, int]:
        """How many members' witnesses validly cosigned each checkpoint (a member counts once, whatever keys its
        witness used); a cosignature that does not verify with the key it was recorded with is a problem."""
        members: dict[int, set[str]] = {}
        rows = await conn.fetch("SELECT tree_size, witness, key, line FROM accord.cosignatures WHERE alliance_id = $1", self.alliance_id)
        for row in rows:
            size = row["tree_size"]
            try:
                text, _ = split_note(notes[size])
                _, signatures = split_note(text + "\n" + row["line"])
                Verifier.parse(row["key"]).verify(text, signatures[0])
            except (NoteError, KeyError):
                self.problems.append(f"{row['witness']}'s cosignature of the checkpoint of {size} leaves does not verify")
                continue
            members.setdefault(size, set()).add(row["witness"])
        return {size: len(who) for size, who in members.items()}

    def _kept(self, notes: Sequence[str], signed: dict[int, bytes]) -> dict[int, bytes]:
        """The roots of the checkpoints kept outside the record, once each is found signed by the log and of this
        alliance; one that the record signed otherwise is a problem at once."""
        roots: dict[int, bytes] = {}
        for note in notes:
            try:
                text, signatures = split_note(note)
                checkpoint = Checkpoint.parse(text)
            except NoteError as error:
                self.problems.append(f"a checkpoint kept outside the record is not a valid signed note: {error}")
                continue
            if not checkpoint.origin.endswith(f"/{self.alliance_id}"):
                continue  # another alliance's: checked with that alliance's log
            if self.keys and not signed_by(text, signatures, self.keys):
                self.problems.append(f"the checkpoint of {checkpoint.size} leaves kept outside the record is not signed by the log's key")
                continue
            if checkpoint.size in signed and signed[checkpoint.size] != checkpoint.root:
                self.problems.append(
                    f"the checkpoint of {checkpoint.size} leaves kept outside the record has root {_b64(checkpoint.root)}, but the "
                    f"record's checkpoint of that size signs {_b64(signed[checkpoint.size])}: the log was rewritten and signed again"
                )
            roots[checkpoint.size] = checkpoint.root
        return roots

    def _check_kept(self, size: int, root: bytes, outside: dict[int, bytes]) -> None:
        if size in outside and outside[size] != root:
            self.problems.append(
                f"the checkpoint of {size} leaves kept outside the record does not hold: it signed root {_b64(outside[size])}, "
                f"but the record's leaves 0..{size - 1} give {_b64(root)}: the log was rewritten after it was signed"
            )

    def _check_root(self, size: int, root: bytes, signed: dict[int, bytes], latest: int | None) -> int | None:
        if root == signed[size]:
            self.holding.append(size)
            return size
        self.problems.append(
            f"the checkpoint of {size} leaves does not hold: it signed root {_b64(signed[size])}, but the record's leaves "
            f"0..{size - 1} give {_b64(root)}: an event among them was changed, removed, added or moved after it was signed"
        )
        return latest

    async def _unlogged(self, conn: Connection) -> None:
        """Events of the alliance's streams that are no leaf of its log (written around the append)."""
        scoped = [process for process in PROCESSES.values() if process.scoped]
        legacy = await conn.fetch(
            "SELECT model, key FROM accord.read_models WHERE alliance_id = $1 AND model = ANY($2::text[]) AND strpos(key, $3) = 0",
            self.alliance_id, [process.listing.name for process in scoped], SCOPE,
        )
        kinds = {process.listing.name: process.kind for process in scoped}
        streams = [f"alliance-{self.alliance_id}", *(f"{kinds[row['model']]}-{row['key']}" for row in legacy)]
        prefixes = [f"{process.kind}-{self.alliance_id}{SCOPE}" for process in scoped]
        rows = await conn.fetch(_UNLOGGED_SQL, streams, prefixes)
        self.problems.extend(
            f"{row['stream_id']} version {row['stream_version']} (position {row['global_position']}) is not a leaf of the log: "
            "it was written around accord's append"
            for row in rows
        )


_LEAVES_SQL = """
SELECT l.leaf_index, l.global_position, e.stream_id, e.stream_version, e.hash, n.hash AS stored
FROM accord.log_leaves l
LEFT JOIN accord.events e USING (global_position)
LEFT JOIN accord.log_nodes n ON n.alliance_id = l.alliance_id AND n.level = 0 AND n.idx = l.leaf_index
WHERE l.alliance_id = $1 ORDER BY l.leaf_index
"""

_UNLOGGED_SQL = """
SELECT e.stream_id, e.stream_version, e.global_position FROM accord.events e
WHERE (e.stream_id = ANY($1::text[]) OR e.stream_id ^@ ANY($2::text[]))
  AND NOT EXISTS (SELECT 1 FROM accord.log_leaves l WHERE l.global_position = e.global_position)
ORDER BY e.global_position LIMIT 20
"""
