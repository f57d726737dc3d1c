"""Verifiable draws (`sha256-rank/1`): who mediates, who sits on a panel, who decides an appeal.

A draw that anyone can recompute in any language, from its event alone, with a seed that neither accord
nor one party chooses:

1. accord commits to a secret of 32 bytes: the draw opens with `commitment = hex(SHA-256(secret))`.
2. Until the draw closes, each party may contribute 32 random bytes of its own, recorded in the clear.
   Nobody but accord knows the secret, so no party can steer the outcome with its contribution, and
   accord, bound by its commitment, cannot change the secret once it sees the contributions.
3. When every party has contributed, or the charter's draw window has passed, accord reveals the secret.
   The seed is SHA-256 of the UTF-8 text

       accord-draw/1\\n<secret hex>\\n<member> <contribution hex>\\n...   (contributors in member-id order)

4. Each member of the pool is ranked by SHA-256(seed || UTF-8 member id), lowest first (ties, which
   SHA-256 does not produce, by member id); the first `count` are drawn, in rank order.

The event that completes a draw holds a `Draw`: algorithm, pool, count, commitment, secret,
contributions, seed and who was drawn. `check` recomputes it; `docs/audit.md` specifies the same steps
for a verifier that imports nothing of accord. A charter may make draws immediate (`draws =
"immediate"`): the secret is committed and revealed at once, and the draw is then only as fair as the
operator. Draws recorded before this algorithm used CPython's `random.Random(seed).sample`; their events
hold an integer `seed` and no `Draw`, and replay as they were.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Final, Literal

from pydantic import AfterValidator, ValidationError

from events.rules import Model, model_summary

ALGORITHM: Final = "sha256-rank/1"

_HEX32 = re.compile(r"^[0-9a-f]{64}$")


def _contribution(value: str) -> str:
    if not _HEX32.match(value):
        raise ValueError(
            "a contribution is 32 random bytes written as 64 lowercase hexadecimal characters "
            "(for example from `openssl rand -hex 32`)"
        )
    return value


Contribution = Annotated[str, AfterValidator(_contribution)]
"""32 random bytes of a party's, as 64 lowercase hex characters."""


class Draw(Model):
    """Everything needed to recompute a draw."""

    algorithm: Literal["sha256-rank/1"] = ALGORITHM
    number: int
    """The dispute's draws are numbered from 0; the secret of each is its own."""
    pool: list[str]
    count: int
    commitment: str
    secret: str
    contributions: dict[str, str] = {}
    seed: str
    drawn: list[str]


def commitment(secret: bytes) -> str:
    return hashlib.sha256(secret).hexdigest()


def seed(secret: bytes, contributions: dict[str, str]) -> bytes:
    text = f"accord-draw/1\n{secret.hex()}\n" + "".join(f"{m} {contributions[m]}\n" for m in sorted(contributions))
    return hashlib.sha256(text.encode()).digest()


def rank(pool: list[str], count: int, seed_: bytes) -> list[str]:
    """The first `count` of the pool ranked by SHA-256(seed || member id)."""
    ranked = sorted(set(pool), key=lambda m: (hashlib.sha256(seed_ + m.encode()).digest(), m))
    return ranked[: max(count, 0)]


def accord_secret(key: bytes, stream: str, number: int) -> bytes:
    """accord's secret for a process's draw `number`, from the key its workflow keeps (never recorded)."""
    return hmac.new(key, f"accord-draw/{stream}/{number}".encode(), hashlib.sha256).digest()


def draw(number: int, pool: list[str], count: int, secret: bytes, contributions: dict[str, str]) -> Draw:
    seeded = seed(secret, contributions)
    return Draw(
        number=number, pool=sorted(set(pool)), count=count, commitment=commitment(secret), secret=secret.hex(),
        contributions=dict(sorted(contributions.items())), seed=seeded.hex(), drawn=rank(pool, count, seeded),
    )


def check(record: Draw, opened: str | None = None) -> list[str]:
    """What is wrong with a recorded draw (nothing, for an honest one). `opened` is the commitment its
    opening recorded, when it had one."""
    problems: list[str] = []
    if str(record.algorithm) != ALGORITHM:  # a record built without validation may hold anything
        return [f"unknown draw algorithm {record.algorithm!r}"]
    try:
        secret = bytes.fromhex(record.secret)
    except ValueError:
        return ["the revealed secret is not hexadecimal"]
    if commitment(secret) != record.commitment:
        problems.append("the revealed secret does not match the commitment")
    if opened is not None and opened != record.commitment:
        problems.append("the commitment differs from the one the draw opened with")
    seeded = seed(secret, record.contributions)
    if seeded.hex() != record.seed:
        problems.append("the seed is not SHA-256 of the secret and the contributions")
    if rank(record.pool, record.count, seeded) != record.drawn:
        problems.append(f"ranking the pool by the seed draws {rank(record.pool, record.count, seeded)}, not {record.drawn}")
    return problems


_OUTCOME = {"MediatorAssigned": "mediator", "PanelDrawn": "panelists", "AppealPanelDrawn": "panel"}
"""Where each event that completes a draw names who was drawn."""


class Opened(Model):
    commitment: str
    pool: list[str]
    count: int
    contributions: dict[str, str] = {}


def check_stream(stream: str, events: Iterable[tuple[int, str, Mapping[str, Any]]]) -> tuple[int, list[str]]:
    """Every verifiable draw of a process's events (version, type, data) in order, recomputed: (how many, what is
    wrong). Each draw opened is made once, with the commitment it opened with and exactly the contributions
    recorded while it was open; its numbers count up from 0; the event names whom the record drew."""
    checking = _StreamCheck()
    for version, kind, data in events:
        where = f"{stream} version {version}"
        try:
            checking.event(where, kind, data)
        except (KeyError, TypeError, ValueError) as error:  # ValidationError is a ValueError
            summary = model_summary(error)[0] if isinstance(error, ValidationError) else f"{type(error).__name__}: {error}"
            checking.problems.append(f"{where}: a {kind} that is not a well-formed draw event ({summary})")
    return checking.made, checking.problems


class _StreamCheck:
    def __init__(self) -> None:
        self.made = 0
        self.expected = 0
        self.problems: list[str] = []
        self.opened: dict[int, Opened] = {}

    def event(self, where: str, kind: str, data: Mapping[str, Any]) -> None:
        problems = self.problems
        if kind == "DrawOpened":
            number = int(data["number"])
            if number != self.expected:
                problems.append(f"{where}: draw {number} opened where draw {self.expected} was due")
            self.opened[number] = Opened(commitment=data["commitment"], pool=data["pool"], count=data["count"])
            self.expected = number + 1
        elif kind == "DrawContributed":
            if data["number"] not in self.opened:
                problems.append(f"{where}: a contribution to draw {data['number']}, which is not open")
            else:
                self.opened[data["number"]].contributions[data["by"]] = data["contribution"]
        elif data.get("draw") is not None:
            self.made += 1
            record = Draw.model_validate(data["draw"])
            before = self.opened.pop(record.number, None)
            if before is None and record.number != self.expected:
                problems.append(f"{where}: draw {record.number} made where draw {self.expected} was due")
            self.expected = max(self.expected, record.number + 1)
            problems += [f"{where}: draw {record.number}: {p}" for p in check(record, before.commitment if before else None)]
            if before is not None and (sorted(before.pool), before.count, before.contributions) != (
                record.pool, record.count, record.contributions
            ):
                problems.append(f"{where}: draw {record.number} was made with another pool, count or contributions than it opened with")
            if before is None and record.contributions:
                problems.append(f"{where}: draw {record.number} has contributions but was never opened for them")
            field = _OUTCOME.get(kind)
            named = data.get(field) if field else None
            drawn: object = (record.drawn[0] if record.drawn else None) if kind == "MediatorAssigned" else record.drawn
            if field is None or named != drawn:
                problems.append(f"{where}: the event names {named!r} as drawn, its draw drew {record.drawn}")
