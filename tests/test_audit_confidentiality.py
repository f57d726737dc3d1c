"""Audit exports and replays show a dispute's contents only to those who may read the dispute."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from decision_support import alliance_with_members

from accord.app import Accord
from accord.audit import alliance_streams, export, for_reader, replay
from events.store import EventStore

SECRET = "the treasurer moved funds without a mandate"


async def raise_one(app: Accord, alliance_id: str) -> None:
    await app.raise_dispute(alliance_id, "cedar", f"{alliance_id}-funds", ["dune"], "Funds", SECRET)


async def exported(app: Accord, alliance_id: str, reader: str | None) -> str:
    streams = await alliance_streams(app, alliance_id)
    return await export(app.store, streams, "json", datetime.now(UTC), reader=reader)


async def test_exports_show_dispute_contents_only_to_readers(skipping_app: Accord, store: EventStore) -> None:
    app = skipping_app
    await alliance_with_members(app, "open-rivers")
    await raise_one(app, "open-rivers")

    for reader in ("cedar", "dune", "gw"):  # raiser, respondent, coordinator
        assert SECRET in await exported(app, "open-rivers", reader), reader
    for reader in ("amber", None):  # another member; an export naming no reader
        document = json.loads(await exported(app, "open-rivers", reader))
        (report,) = [r for r in document["reports"] if r["kind"] == "dispute"]
        assert SECRET not in json.dumps(document)
        assert report["state"] == {
            "dispute_id": "open-rivers-funds", "alliance_id": "open-rivers", "stage": "negotiation", "confidential": True,
        }
        assert report["timeline"] == [] and report["head_hash"] == (await store.head("dispute-open-rivers-funds")).hash

    replayed = await replay(store, "dispute-open-rivers-funds")
    assert for_reader(replayed, "amber").state["stage"] == "negotiation"  # type: ignore[union-attr]
    assert for_reader(replayed, "cedar") is replayed


async def test_a_dispute_whose_existence_is_confidential_is_left_out(skipping_app: Accord) -> None:
    app = skipping_app
    await alliance_with_members(app, "quiet-rivers")
    state = await app.alliance("quiet-rivers")
    from events.alliance import AmendCharter

    secret_charter = state.charter.model_copy(
        update={"disputes": state.charter.disputes.model_copy(update={"existence_confidential": True})}
    )
    await app.alliance_command("quiet-rivers", AmendCharter(actor="gw", charter=secret_charter, reason="discretion"))
    await raise_one(app, "quiet-rivers")

    outsider = json.loads(await exported(app, "quiet-rivers", "amber"))
    assert [r["kind"] for r in outsider["reports"]] == ["alliance"]
    party = json.loads(await exported(app, "quiet-rivers", "dune"))
    assert sorted(r["kind"] for r in party["reports"]) == ["alliance", "dispute"]
