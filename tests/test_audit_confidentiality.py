"""Audit exports and replays show a dispute's contents only to those who may read the dispute."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from decision_support import alliance_with_members

from accord.app import Accord
from accord.audit import export
from events.access import Caller
from events.rules import Refused
from events.store import EventStore

SECRET = "the treasurer moved funds without a mandate"


async def raise_one(app: Accord, alliance_id: str) -> None:
    await app.raise_dispute(alliance_id, "cedar", f"{alliance_id}-funds", ["dune"], "Funds", SECRET)


async def exported(app: Accord, alliance_id: str, reader: str | None) -> str:
    streams = await app.readable_streams(alliance_id, Caller.named(reader) if reader else None)
    return await export(app.store, streams, "json", datetime.now(UTC))


async def test_exports_show_dispute_contents_only_to_readers(skipping_app: Accord, store: EventStore) -> None:
    app = skipping_app
    await alliance_with_members(app, "open-rivers")
    await raise_one(app, "open-rivers")

    for reader in ("cedar", "dune", "gw", None):  # raiser, respondent, coordinator; the operator
        assert SECRET in await exported(app, "open-rivers", reader), reader
    document = json.loads(await exported(app, "open-rivers", "amber"))  # another member
    assert SECRET not in json.dumps(document)
    assert [r["kind"] for r in document["reports"]] == ["alliance"]

    await app.readable_record("dispute-open-rivers-funds", Caller.named("cedar"))
    for reader, kind in (("amber", "forbidden"), ("oak", "not_found")):  # another member; not a member
        with pytest.raises(Refused) as refused:
            await app.readable_record("dispute-open-rivers-funds", Caller.named(reader))
        assert refused.value.kind == kind, reader


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


async def test_an_auditor_named_on_the_command_line_reads_only_while_it_holds_a_token_of_the_alliance(
    skipping_app: Accord,
) -> None:
    app = skipping_app
    await alliance_with_members(app, "audited-rivers")
    await raise_one(app, "audited-rivers")
    stream = "dispute-audited-rivers-funds"
    with pytest.raises(Refused) as refused:
        await app.readable_record(stream, Caller.named("auditor:firm"))
    assert (refused.value.kind, refused.value.message) == (
        "forbidden", "'auditor:firm' is not an auditor of alliance 'audited-rivers' (no live auditor token)"
    )
    issued = await app.issue_auditor_token("audited-rivers", "gw", "firm")
    await app.readable_record(stream, Caller.named("auditor:firm"))  # the whole record, a dispute's too
    await app.revoke_token("audited-rivers", "gw", issued.token_id)
    with pytest.raises(Refused):
        await app.readable_record(stream, Caller.named("auditor:firm"))


async def test_the_operator_reads_any_stream_the_store_holds(skipping_app: Accord) -> None:
    """Even one without a row in the read models (written outside accord: the forensic case): the
    operator's reads go to the store itself, which says whether it holds events."""
    await skipping_app.readable_record("decision-written-outside-accord", None)
