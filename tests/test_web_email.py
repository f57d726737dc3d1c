"""Notifications by email, with a real SMTP server (aiosmtpd) and a worker that sends through it: the
member's choice per kind (email, webhook, none), one-click answers that record a stance only once the
member confirms, delivery attempts recorded and retried when the mail server is away."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import httpx
import pytest
from decision_support import eventually
from temporalio.testing import WorkflowEnvironment
from web_support import Mailbox, answer_links, decision_with_addresses, free_port, mail_to, smtp_server, web_settings

from accord import contacts
from accord.api import create_app
from accord.app import Accord
from accord.worker import build_worker
from events.processes import DECISION
from events.store import EventStore


@dataclass
class Mailing:
    app: Accord
    mailbox: Mailbox
    client: httpx.AsyncClient


@pytest.fixture
async def mailing(temporal_env: WorkflowEnvironment, app_pool: asyncpg.Pool, task_queue: str) -> AsyncIterator[Mailing]:
    """The application with a worker that sends email to a real SMTP server, and a client of its pages."""
    with smtp_server() as (mailbox, port):
        settings = web_settings(port)
        async with build_worker(temporal_env.client, app_pool, task_queue, settings=settings):
            app = Accord(client=temporal_env.client, pool=app_pool, task_queue=task_queue)
            transport = httpx.ASGITransport(app=create_app(app, settings))
            async with httpx.AsyncClient(transport=transport, base_url="http://accord.test") as client:
                yield Mailing(app, mailbox, client)


async def test_a_decision_reaches_the_electorate_by_email_and_a_one_click_answer_records_only_when_confirmed(
    mailing: Mailing, store: EventStore, pool: asyncpg.Pool
) -> None:
    app, mailbox, client = mailing.app, mailing.mailbox, mailing.client
    opened = await decision_with_addresses(app)
    await mailbox.wait(5)  # the electorate: gw, amber, birch, cedar, dune
    text = mail_to(mailbox, "dune@example.org")
    assert "amber proposes 'Joint campaign 2027'" in text and f"http://accord.test/web/decisions/{opened.decision_id}" in text
    links = answer_links(text)
    assert len(links) == 10 and ("p1", "Agree") in links and ("p2", "Block (on a principle)") in links
    assert "Su postura sobre p1" in mail_to(mailbox, "cedar@example.org")  # cedar chose Spanish
    stream = DECISION.stream_name(opened.decision_id, opened.alliance_id)
    before = (await store.head(stream)).version

    # Following a link (as a mail scanner does) records nothing; confirming does, once.
    asked = await client.get(links[("p1", "Agree")])
    assert asked.status_code == 200 and "Record the stance “Agree” on p1 as dune?" in asked.text
    assert (await store.head(stream)).version == before
    confirmed = await client.post(links[("p1", "Agree")])
    assert confirmed.status_code == 200 and "Your stance on p1 is recorded." in confirmed.text
    [event] = (await store.read_stream(stream))[before:]
    assert (event.event_type, event.metadata.get("actor"), event.data["point_id"], event.data["stance"]) == ("StanceTaken", "dune", "p1", "agree")
    assert (await client.post(links[("p1", "Agree")])).status_code == 410
    assert (await client.get(links[("p1", "Agree")])).status_code == 410

    # An objection needs a reason: refused on the page, nothing recorded, and the link still works.
    objecting = await client.post(links[("p2", "Object")])
    assert objecting.status_code == 422 and "reason" in objecting.text and (await store.head(stream)).version == before + 1
    objected = await client.post(links[("p2", "Object")], data={"reason": "the grant ties our hands"})
    assert objected.status_code == 200 and (await store.head(stream)).version == before + 2
    assert (await client.get("/web/answer/not-a-link")).status_code == 410

    # Each delivery is recorded as a webhook's is.
    rows = await pool.fetch("SELECT member_id, attempts, delivered_at, last_error FROM accord.notifications WHERE stream_id = $1", stream)
    assert {r["member_id"] for r in rows} == {"gw", "amber", "birch", "cedar", "dune"}
    assert all(r["attempts"] == 1 and r["delivered_at"] is not None and r["last_error"] is None for r in rows)


async def test_each_member_chooses_how_each_kind_of_news_reaches_it(mailing: Mailing, pool: asyncpg.Pool) -> None:
    app, mailbox = mailing.app, mailing.mailbox
    alliance = await decision_with_addresses(app)  # the first decision: everyone by email
    await mailbox.wait(5)
    await contacts.set_contact(app, alliance.alliance_id, "birch", "birch", delivery={"decision_opened": "none"})
    await contacts.set_contact(app, alliance.alliance_id, "gw", "cedar", delivery={"*": "webhook"})  # cedar has no webhook
    with pytest.raises(Exception, match="not a way to deliver"):
        await contacts.set_contact(app, alliance.alliance_id, "dune", "dune", delivery={"reminder": "pigeon"})
    from events.decision import PointDraft

    await app.open_decision(alliance.alliance_id, "amber", "second", "Second thoughts", [PointDraft(text="Meet in May")])
    await mailbox.wait(8)
    await eventually(lambda: pool.fetch(
        "SELECT member_id, attempts, delivered_at FROM accord.notifications WHERE stream_id = $1 ORDER BY member_id",
        DECISION.stream_name("second", alliance.alliance_id),
    ), lambda rows: len(rows) == 5 and sum(r["delivered_at"] is not None for r in rows) == 3)
    second = [m["To"] for m in mailbox.messages[5:]]
    assert sorted(second) == ["amber@example.org", "dune@example.org", "gw@example.org"]


async def test_a_mail_server_that_is_away_is_tried_again_and_each_attempt_recorded(
    temporal_env: WorkflowEnvironment, app_pool: asyncpg.Pool, task_queue: str, pool: asyncpg.Pool
) -> None:
    nobody_listens = web_settings(free_port())
    async with build_worker(temporal_env.client, app_pool, task_queue, settings=nobody_listens):
        app = Accord(client=temporal_env.client, pool=app_pool, task_queue=task_queue)
        opened = await decision_with_addresses(app)
        stream = DECISION.stream_name(opened.decision_id, opened.alliance_id)
        rows = await eventually(
            lambda: pool.fetch("SELECT attempts, last_error, delivered_at FROM accord.notifications WHERE stream_id = $1", stream),
            lambda rows: len(rows) == 5 and all(r["attempts"] >= 2 for r in rows), timeout=30,
        )
    assert all(r["delivered_at"] is None and "did not take the message" in r["last_error"] for r in rows)
