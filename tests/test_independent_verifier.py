"""The verifier printed in docs/audit.md, run as an auditor would, agrees with accord's own verify."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path
from uuid import uuid4

import asyncpg

from events.store import EventStore, NewEvent

DOC = Path(__file__).resolve().parent.parent / "docs" / "audit.md"


def verifier_script(tmp_path: Path) -> Path:
    text = DOC.read_text(encoding="utf-8")
    match = re.search(r"<!-- verifier:start -->\s*```python\n(.*?)```\s*<!-- verifier:end -->", text, re.S)
    assert match, "docs/audit.md must keep the verifier between its markers"
    script = tmp_path / "verify_accord.py"
    script.write_text(match.group(1), encoding="utf-8")
    return script


async def run_verifier(script: Path, *args: str) -> tuple[int, str]:
    """Run the documented verifier (a database URL, or --bundle FILE, ...): its exit code and output."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(script), *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    assert not err, err.decode()
    return process.returncode or 0, out.decode()


TRICKY = {
    "text": "naïve \u2028 \"quoted\" \\ tab\t nul\u0001 😀",
    "numbers": [0, -1, 1.5, 0.1, 2 / 3, 1e-7, 0.00001, 1e21, 123456789.125, 1e20, -0.0, 2**53 - 1],
    "flags": [True, False, None],
    "nested": {"b": 1, "a": {"é": 2, "e": 3, "\U0001f600": 4, "\uff61": 5}},
}


async def fill(store: EventStore) -> None:
    for n in range(3):
        await store.append(
            f"decision-d{n}", 0,
            [NewEvent(event_id=uuid4(), event_type="Tricky", data={**TRICKY, "n": n}, metadata={"actor": "amber"})
             for _ in range(4)],
        )


async def test_the_documented_verifier_agrees_on_an_intact_and_a_tampered_store(
    store: EventStore, pool: asyncpg.Pool, db_url: str, tmp_path: Path
) -> None:
    script = verifier_script(tmp_path)
    await fill(store)

    code, out = await run_verifier(script, db_url)
    report = await store.verify()
    assert report.ok and code == 0
    assert f"checked {report.events_checked} events in {report.streams_checked} streams; recomputed 0 draws\n" in out

    async with pool.acquire() as conn:
        await conn.execute("ALTER TABLE accord.events DISABLE TRIGGER USER")
        await conn.execute(
            "UPDATE accord.events SET data = jsonb_set(data, '{text}', '\"forged\"')"
            " WHERE stream_id = 'decision-d1' AND stream_version = 3"
        )
        await conn.execute("ALTER TABLE accord.events ENABLE TRIGGER USER")

    code, out = await run_verifier(script, db_url)
    report = await store.verify()
    assert code == 1
    assert [(b.stream_id, b.version) for b in report.broken] == [("decision-d1", 3)]
    assert "BROKEN decision-d1 at version 3: hash does not match the event" in out
