"""The costs ledger as a process of its own (`ledger-<alliance>.costs`) on the time-skipping server: the
first entry opens it, refusals record nothing, the report matches figures worked out by hand and the
command line's, a responsibility's review reminder reaches its holder and the coordinators, and the
ledger's events are in the record (its history replays, its state folds from it) and in the alliance's
transparency log."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest
from api_support import bearer, client_for, validation_error
from cli_support import Cli, cli_against
from dispute_support import dispute_charter, eventually, notified, skip_to, unique
from temporalio.testing import WorkflowEnvironment

from accord import costs, transparency
from accord.app import Accord
from accord.audit import alliance_streams, export, fold
from accord.config import Settings
from accord.worker import replayer
from events.access import Caller
from events.alliance import AdmitMember, FoundAlliance, Role
from events.charter import Costs
from events.errors import CorruptRecord
from events.ledger import CorrectEntry, EntryKind, InKind, LedgerState, RecordEntry, RecordRate, TakeResponsibility
from events.processes import ALLIANCE, LEDGER, LEDGER_ID
from events.rules import RefusalKind, Refused
from events.store import EventStore, NewEvent
from workflows.ledger import LedgerWorkflow

SHARES = {"anglers": Decimal("0.5"), "birders": Decimal("0.3"), "canoeists": Decimal("0.2")}


@pytest.fixture
def cli(tmp_path: Path, time_skipping_env: WorkflowEnvironment, db_url: str, task_queue: str) -> Cli:
    return cli_against(tmp_path, time_skipping_env, db_url, task_queue)


async def alliance_with_shares(app: Accord) -> str:
    alliance_id = unique("rivers")
    charter = dispute_charter().model_copy(
        update={"costs": Costs(currency="EUR", shares="fixed", share=SHARES, tolerance=Decimal("0.10"), hour_value=Decimal("25.00"))}
    )
    await app.found_alliance(FoundAlliance(alliance_id=alliance_id, charter=charter, founder_id="anglers", founder_name="Anglers"))
    for member in ("birders", "canoeists"):
        await app.alliance_command(alliance_id, AdmitMember(actor="anglers", member_id=member, name=member.title(), roles=[Role.MEMBER]))
    return alliance_id


async def test_the_ledger_records_reports_and_proves_itself(
    skipping_app: Accord, time_skipping_env: WorkflowEnvironment, store: EventStore, pool: asyncpg.Pool, cli: Cli
) -> None:
    app = skipping_app
    alliance_id = await alliance_with_shares(app)
    today = date.today()  # the server's clock may be days ahead: an entry may not be dated after it, nor after ours
    # The first two arrive together: one opens the ledger, the other goes to the ledger it opened.
    await asyncio.gather(
        costs.command(app, alliance_id, RecordEntry(actor="anglers", kind=EntryKind.MONEY, member_id="anglers", on=today,
                                                    amount="300.00", currency="EUR", description="hall deposit")),
        costs.command(app, alliance_id, RecordRate(actor="anglers", currency="USD", rate=Decimal("0.9"), on=today, source="ECB")),
    )
    for entry in [
        RecordEntry(actor="birders", kind=EntryKind.MONEY, member_id="birders", on=today, amount="200", currency="USD", description="printing"),
        RecordEntry(actor="canoeists", kind=EntryKind.HOURS, member_id="canoeists", on=today, hours=Decimal(4), description="minutes"),
        RecordEntry(actor="anglers", kind=EntryKind.IN_KIND, member_id="canoeists", on=today, amount="40.00", currency="EUR",
                    category=InKind.MEALS, description="soup"),
        RecordEntry(actor="birders", kind=EntryKind.EXPENSE, member_id="birders", on=today, amount="999.00", currency="EUR", description="typo"),
    ]:
        await costs.command(app, alliance_id, entry)
    await costs.command(app, alliance_id, CorrectEntry(actor="birders", entry_id="e5", reason="it was 99.00"))
    stream = LEDGER.stream_name(LEDGER_ID, alliance_id)
    before = (await store.head(stream)).version
    for bad, kind, message in [
        (RecordEntry(actor="birders", kind=EntryKind.MONEY, member_id="anglers", on=today, amount="5", currency="EUR", description="x"),
         RefusalKind.FORBIDDEN, "a member may record contributions only for itself; a coordinator may for anyone"),
        (RecordEntry(actor="birders", kind=EntryKind.MONEY, member_id="birders", on=today, amount="5.001", currency="EUR", description="x"),
         RefusalKind.INVALID, "5.001 EUR has more decimals than EUR allows (at most 2 decimal(s))"),
        (CorrectEntry(actor="birders", entry_id="e5", reason="again"), RefusalKind.CONFLICT, "entry 'e5' was already reversed (birders)"),
    ]:
        with pytest.raises(Refused) as refused:
            await costs.command(app, alliance_id, bad)
        assert (refused.value.kind, refused.value.message) == (kind, message)
    assert (await store.head(stream)).version == before

    # anglers 300.00; birders 200 USD x 0.9 = 180.00; canoeists 4 h x 25.00 + 40.00 = 140.00: total 620.00.
    # Shares 0.4839 (agreed 0.5), 0.2903 (0.3), 0.2258 (0.2): within the tolerance of 0.10, none flagged.
    report = await eventually(lambda: costs.report(app, alliance_id, None, today, today), lambda r: r.total == Decimal("620.00"))
    assert [(m.member_id, m.total, m.share, m.difference, m.flagged) for m in report.members] == [
        ("anglers", Decimal("300.00"), Decimal("0.4839"), Decimal("-0.0161"), False),
        ("birders", Decimal("180.00"), Decimal("0.2903"), Decimal("-0.0097"), False),
        ("canoeists", Decimal("140.00"), Decimal("0.2258"), Decimal("0.0258"), False),
    ]
    ran = await cli(f"costs report {alliance_id} --from {today} --to {today} --as canoeists --json")
    assert ran.code == 0, ran.stderr
    assert ran.json()["total"] == "620.00" and [m["share"] for m in ran.json()["members"]] == ["0.4839", "0.2903", "0.2258"]
    chart = Path(cli.env["HOME"]) / "costs.svg"
    drawn = await cli(f"costs report {alliance_id} --from {today} --to {today} --chart {chart}")
    assert drawn.code == 0 and f"chart written to {chart}" in drawn.stdout, drawn.stderr
    assert chart.read_text().startswith("<svg") and chart.read_text().count('class="member"') == 3
    refused_cli = await cli(f"costs record {alliance_id} money --amount 1.234 --currency EUR --description x --as birders")
    assert refused_cli.code != 0 and "1.234 EUR has more decimals than EUR allows" in refused_cli.stderr
    assert "Traceback" not in refused_cli.stderr

    # A responsibility's review: its holder and the coordinators are reminded a week before.
    review = today + timedelta(days=20)
    await costs.command(app, alliance_id, TakeResponsibility(
        actor="birders", responsibility_id="monthly-meeting", what="Convene the monthly meeting", owner="birders",
        start=today, review=review,
    ))
    await skip_to(time_skipping_env, datetime.combine(review - timedelta(days=7), datetime.min.time(), tzinfo=UTC) + timedelta(minutes=1))
    assert await eventually(lambda: notified(pool, stream, "responsibility_review"), lambda got: got == ["anglers", "birders"])
    listed = await cli(f"responsibility list {alliance_id} --as canoeists")
    assert listed.code == 0 and "monthly-meeting" in listed.stdout and f"review {review}" in listed.stdout

    # The record: the ledger's state folds from its events, its history replays, its events are leaves of the log.
    state: LedgerState = await app.present(LEDGER.stream(LEDGER_ID, alliance_id))
    assert fold(stream, await store.read_stream(stream)).state == state
    assert state == await costs.read(app, alliance_id, Caller.named("canoeists"))
    await replayer(LedgerWorkflow).replay_workflow(await time_skipping_env.client.get_workflow_handle(stream).fetch_history())
    log = await transparency.verify_log(app, alliance_id, None, [])
    assert log.ok and log.leaves >= (await store.head(stream)).version + 3  # the alliance's own events too
    with pytest.raises(Refused):
        await costs.read(app, alliance_id, Caller.named("outsider"))


async def test_the_ledger_over_the_http_api(skipping_app: Accord, time_skipping_env: WorkflowEnvironment, store: EventStore) -> None:
    """A member records its own contribution and reads the report with its token; a wrong currency, an amount
    with too many decimals and an entry for someone else are refused, each saying why, and record nothing."""
    app = skipping_app
    alliance_id = await alliance_with_shares(app)
    tokens = {m: (await app.issue_token(alliance_id, "anglers", m, "test")).token for m in ("anglers", "birders")}
    today = date.today().isoformat()  # the server's clock may be days ahead: an entry may not be dated after it, nor after ours
    async with client_for(app, Settings()) as api:
        route = f"/alliances/{alliance_id}/costs/entries"
        entry = {"kind": "money", "on": today, "amount": "120.50", "currency": "EUR", "description": "banner"}
        made = await api.post(route, json=entry, headers=bearer(tokens["birders"]))
        assert made.status_code == 201, made.text
        stream = LEDGER.stream_name(LEDGER_ID, alliance_id)
        before = (await store.head(stream)).version
        wrong = await api.post(route, json={**entry, "currency": "EUX"}, headers=bearer(tokens["birders"]))
        assert "'EUX' is not an ISO 4217 currency code" in validation_error(wrong)["msg"]
        finer = await api.post(route, json={**entry, "amount": "1.001"}, headers=bearer(tokens["birders"]))
        assert validation_error(finer) == {
            "loc": ["body", "amount"], "msg": "1.001 EUR has more decimals than EUR allows (at most 2 decimal(s))", "type": "value_error",
        }
        theirs = await api.post(route, json={**entry, "member_id": "anglers"}, headers=bearer(tokens["birders"]))
        assert theirs.status_code == 403 and "only for itself" in theirs.json()["detail"]
        assert (await store.head(stream)).version == before
        got = await api.get(f"/alliances/{alliance_id}/costs/report", params={"from": today, "to": today}, headers=bearer(tokens["anglers"]))
        assert got.status_code == 200, got.text
        assert got.json()["total"] == "120.50" and [m["flagged"] for m in got.json()["members"]] == [True, True, True]
        backwards = await api.get(f"/alliances/{alliance_id}/costs/report", params={"from": today, "to": "2000-01-01"}, headers=bearer(tokens["anglers"]))
        assert backwards.status_code == 422 and "before it starts" in backwards.text


async def test_the_alliances_audit_export_includes_its_ledger(skipping_app: Accord, store: EventStore) -> None:
    app = skipping_app
    alliance_id = await alliance_with_shares(app)
    await costs.command(app, alliance_id, RecordEntry(
        actor="anglers", kind=EntryKind.MONEY, member_id="anglers", on=date.today(), amount="10.00", currency="EUR", description="tea"
    ))
    stream = LEDGER.stream_name(LEDGER_ID, alliance_id)
    assert stream in await alliance_streams(app, alliance_id)
    for fmt in ("json", "md", "html"):
        exported = await export(store, [stream], fmt, datetime.now(UTC))
        assert stream in exported and "EntryRecorded" in exported
    [report] = json.loads(await export(store, [stream], "json", datetime.now(UTC)))["reports"]
    assert (report["kind"], report["outcome"]) == ("ledger", {"entries": 1, "reversed": 0, "responsibilities": []})
    # The HTML export embeds the ledger's chart of shares over all its entries: the same as `costs report --chart`.
    html = await export(store, [stream], "html", datetime.now(UTC))
    carried = await costs.report(app, alliance_id, None, date.today(), date.today())
    assert f"<figure>{costs.chart_svg(carried)}</figure>" in html and html.count("<svg") == 1
    assert "<svg" not in await export(store, [ALLIANCE.stream_name(alliance_id)], "html", datetime.now(UTC))
    # A currency with no rate for the period: the export says why there is no chart, and is made all the same.
    await costs.command(app, alliance_id, RecordEntry(
        actor="anglers", kind=EntryKind.MONEY, member_id="anglers", on=date.today(), amount="5", currency="JPY", description="stamps"
    ))
    html = await export(store, [stream], "html", datetime.now(UTC))
    assert "<svg" not in html and "<figure><p>No chart: " in html and "JPY" in html


async def test_a_flagged_imbalance_becomes_a_real_decision_with_the_report_attached(skipping_app: Accord) -> None:
    app = skipping_app
    alliance_id = await alliance_with_shares(app)
    today = date.today()
    await costs.command(app, alliance_id, RecordEntry(
        actor="birders", kind=EntryKind.MONEY, member_id="birders", on=today, amount="500.00", currency="EUR", description="venue"
    ))
    # birders carried everything (share 1.0000 against 0.3000): flagged; canoeists, who carried nothing, may not propose.
    with pytest.raises(Refused) as refused:
        await costs.propose_rebalance(app, alliance_id, "canoeists", today, today, unique("rebalance"), [])
    assert refused.value.kind == RefusalKind.FORBIDDEN and "(birders)" in refused.value.message
    earlier = today - timedelta(days=3)
    with pytest.raises(Refused, match="flags no member beyond the tolerance"):
        await costs.propose_rebalance(app, alliance_id, "birders", earlier, earlier, unique("rebalance"), [])
    decision_id = unique("rebalance")
    await costs.propose_rebalance(app, alliance_id, "birders", today, today, decision_id, ["anglers and canoeists pay for the next hall"])
    opened = await app.decision(decision_id, alliance_id=alliance_id)
    assert opened.state.proposer == "birders" and opened.state.title == f"Rebalance the costs of {today} to {today}"
    assert [p.text for p in opened.state.points.values()] == ["anglers and canoeists pay for the next hall"]
    assert "birders" in opened.state.body and "FLAGGED" in opened.state.body and "500.00" in opened.state.body
    assert sorted(opened.state.context.electorate) == ["anglers", "birders", "canoeists"]


async def test_any_member_but_its_own_disputes_an_entry_on_the_alliances_ladder(skipping_app: Accord, store: EventStore) -> None:
    app = skipping_app
    alliance_id = await alliance_with_shares(app)
    await costs.command(app, alliance_id, RecordEntry(
        actor="birders", kind=EntryKind.IN_KIND, member_id="birders", on=date.today(), amount="900.00", currency="EUR",
        category=InKind.VENUE, description="the community hall",
    ))
    with pytest.raises(Refused) as own:
        await costs.dispute_entry(app, alliance_id, "birders", "e1", unique("x"), "mine")
    assert (own.value.kind, own.value.message) == (RefusalKind.CONFLICT, "entry 'e1' is 'birders''s own: correct it instead of disputing it")
    dispute_id = unique("x")
    await costs.dispute_entry(app, alliance_id, "canoeists", "e1", dispute_id, "the hall lent it for free")
    view = await app.dispute(dispute_id, Caller.named("canoeists"), alliance_id=alliance_id)
    state = view.state  # type: ignore[union-attr]
    assert (state.raiser, state.respondents, state.subject) == ("canoeists", ["birders"], "Costs ledger entry e1")
    assert "in_kind, 900.00 EUR" in state.description and "the hall lent it for free" in state.description
    ledger_state = await costs.read(app, alliance_id, None)
    assert ledger_state.entries["e1"].disputes == [dispute_id]


async def test_a_quarantined_ledger_tells_the_coordinators(app: Accord, store: EventStore, pool: asyncpg.Pool) -> None:
    """An entry appended behind the ledger's back stops it; the coordinators the last command found are told."""
    alliance_id = await alliance_with_shares(app)
    await costs.command(app, alliance_id, RecordEntry(
        actor="birders", kind=EntryKind.MONEY, member_id="birders", on=date.today(), amount="5.00", currency="EUR", description="tea"
    ))
    stream = LEDGER.stream_name(LEDGER_ID, alliance_id)
    head = await store.head(stream)
    foreign = {"at": datetime.now(UTC).isoformat(), "entry_id": "e1", "by": "birders", "reason": "behind its back"}
    await store.append(stream, head.version, [NewEvent(event_id=uuid.uuid4(), event_type="EntryReversed", data=foreign, metadata={})])
    with pytest.raises(CorruptRecord, match="is quarantined"):
        await costs.command(app, alliance_id, CorrectEntry(actor="birders", entry_id="e1", reason="again"))
    told = await eventually(lambda: quarantine_notices(pool, stream), lambda rows: len(rows) > 0)
    assert told == ["anglers"]


async def quarantine_notices(pool: asyncpg.Pool, stream: str) -> list[str]:
    rows = await pool.fetch("SELECT member_id FROM accord.notifications WHERE stream_id = $1 AND kind = 'quarantined'", stream)
    return sorted(r["member_id"] for r in rows)
