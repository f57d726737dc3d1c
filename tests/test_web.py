"""The members' pages over HTTP (httpx on the ASGI app), with a real SMTP server and a real PostgreSQL and
Temporal: signing in by an emailed link and by a token, the session and its form token, the inbox, taking a
stance, refusals that record nothing, the pages in Spanish. The same, in a real browser: test_web_browser.py.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest
from api_support import bearer, client_for
from cli_support import Cli, cli_against
from decision_support import eventually, skip_to
from icalendar import Calendar
from temporalio.testing import WorkflowEnvironment
from web_support import Mailbox, Opened, decision_with_addresses, smtp_server, web_settings

from accord import calendars, contacts
from accord.api import create_app
from accord.app import Accord
from events.access import TokenHolder
from events.decision import Stage, StanceKind, TakeStance
from events.log import TransparencyLog
from events.notes import Signer
from events.processes import DECISION, DISPUTE
from events.rules import Refused
from events.store import EventStore


@pytest.fixture
def cli(tmp_path: Path, temporal_env: WorkflowEnvironment, db_url: str, task_queue: str) -> Cli:
    return cli_against(tmp_path, temporal_env, db_url, task_queue)


@pytest.fixture
def mail() -> Iterator[tuple[Mailbox, int]]:
    with smtp_server() as served:
        yield served


@pytest.fixture
async def browser(app: Accord, mail: tuple[Mailbox, int]) -> AsyncIterator[httpx.AsyncClient]:
    """A client that keeps cookies, as a browser does."""
    transport = httpx.ASGITransport(app=create_app(app, web_settings(mail[1])))
    async with httpx.AsyncClient(transport=transport, base_url="http://accord.test") as client:
        yield client


def form_token(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


async def signed_in(browser: httpx.AsyncClient, mailbox: Mailbox, address: str) -> None:
    """Ask for a link for `address`, open it from the email, confirm: signed in."""
    page = await browser.get("/web/sign-in")
    sent = await browser.post("/web/sign-in/email", data={"email": address, "csrf": form_token(page)})
    assert sent.status_code == 200 and "Check your email" in sent.text, sent.text
    await mailbox.wait(len(mailbox.messages) or 1)
    [link] = mailbox.links()
    confirmed = await browser.post(link.removeprefix("http://accord.test"))
    assert confirmed.status_code == 303 and confirmed.headers["location"] == "/web/inbox"


async def test_a_member_signs_in_by_an_emailed_link_that_works_once(
    app: Accord, browser: httpx.AsyncClient, mail: tuple[Mailbox, int]
) -> None:
    mailbox, _ = mail
    opened = await decision_with_addresses(app)
    assert (await browser.get("/web/inbox")).headers["location"] == "/web/sign-in"
    page = await browser.get("/web/sign-in")
    assert page.status_code == 200 and 'label for="email"' in page.text

    # A form without this browser's form token is refused, and nothing is sent.
    forged = await browser.post("/web/sign-in/email", data={"email": "birch@example.org", "csrf": "x"})
    assert forged.status_code == 403 and not mailbox.messages
    # An address of nobody gets the same answer as a member's, and no mail.
    nobody = await browser.post("/web/sign-in/email", data={"email": "nobody@example.org", "csrf": form_token(page)})
    assert nobody.status_code == 200 and "Check your email" in nobody.text and not mailbox.messages

    sent = await browser.post("/web/sign-in/email", data={"email": "Birch@Example.org", "csrf": form_token(page)})
    assert sent.status_code == 200
    await mailbox.wait(1)
    message = mailbox.messages[0]
    assert message["To"] == "Birch@Example.org" and message["Subject"] == "Your link to sign in to accord"
    assert message.get_body(("html",)) is not None
    [link] = mailbox.links()
    assert f"as birch of {opened.alliance_id}" in mailbox.text()
    path = link.removeprefix("http://accord.test")

    # Opening the link only asks (a mail scanner that follows it signs nobody in); confirming signs in.
    asked = await browser.get(path)
    assert asked.status_code == 200 and f"Sign in as birch of {opened.alliance_id}?" in asked.text
    confirmed = await browser.post(path)
    assert confirmed.status_code == 303 and confirmed.headers["location"] == "/web/inbox"
    cookie = confirmed.headers["set-cookie"]
    assert "accord_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/web" in cookie
    inbox = await browser.get("/web/inbox")
    assert inbox.status_code == 200 and "Joint campaign 2027" in inbox.text and "2 points without your stance" in inbox.text

    # The link is spent: used again (or by anyone else), it signs nobody in.
    async with httpx.AsyncClient(transport=browser._transport, base_url="http://accord.test") as other:  # pyright: ignore[reportPrivateUsage]
        assert (await other.get(path)).status_code == 410
        assert (await other.post(path)).status_code == 410
        assert (await other.get("/web/inbox")).headers["location"] == "/web/sign-in"

    # Signing out ends the session on the server, not only in this browser.
    session = browser.cookies["accord_session"]
    out = await browser.post("/web/sign-out", data={"csrf": form_token(inbox)})
    assert out.status_code == 303
    async with httpx.AsyncClient(transport=browser._transport, base_url="http://accord.test", cookies={"accord_session": session}) as replayed:  # pyright: ignore[reportPrivateUsage]
        assert (await replayed.get("/web/inbox")).headers["location"] == "/web/sign-in"


async def test_a_stance_taken_on_the_page_is_recorded_and_refusals_record_nothing(
    app: Accord, browser: httpx.AsyncClient, mail: tuple[Mailbox, int], store: EventStore
) -> None:
    mailbox, _ = mail
    opened = await decision_with_addresses(app)
    await signed_in(browser, mailbox, "dune@example.org")
    stream = DECISION.stream_name(opened.decision_id, opened.alliance_id)
    page = await browser.get(f"/web/decisions/{opened.decision_id}")
    assert page.status_code == 200 and "Your stance on p1" in page.text and "0 of 5 responded, 3 needed for quorum" in page.text
    before = (await store.head(stream)).version
    stance = f"/web/decisions/{opened.decision_id}/points/p1/stance"

    refusals = [
        ({"stance": "agree", "csrf": "forged"}, 403, "This form has expired"),
        ({"stance": "maybe", "csrf": form_token(page)}, 422, "Choose one of the stances."),
        ({"stance": "object", "csrf": form_token(page)}, 422, "reason"),
    ]
    for data, status, says in refusals:
        refused = await browser.post(stance, data=data)
        assert refused.status_code == status and says in refused.text, (data, refused.text)
        assert (await store.head(stream)).version == before

    taken = await browser.post(stance, data={"stance": "concerns", "reason": "the date is tight", "csrf": form_token(page)})
    assert taken.status_code == 303 and taken.headers["location"].endswith("?done=p1#point-p1")
    shown = await browser.get(taken.headers["location"])
    assert "Your stance on p1 is recorded." in shown.text and "Your stance: Agree, with concerns." in shown.text
    assert "1 of 5 responded" in shown.text
    [event] = (await store.read_stream(stream))[before:]
    assert (event.event_type, event.metadata.get("actor"), event.data["stance"]) == ("StanceTaken", "dune", "concerns")
    inbox = await browser.get("/web/inbox")
    assert "1 point without your stance" in inbox.text


async def test_a_pasted_token_signs_in_a_member_and_nothing_else(app: Accord, browser: httpx.AsyncClient) -> None:
    opened = await decision_with_addresses(app)
    page = await browser.get("/web/sign-in")
    wrong = await browser.post("/web/sign-in/token", data={"token": "acc_wrong", "csrf": form_token(page)})
    assert wrong.status_code == 401 and "unknown, revoked, or not a member" in wrong.text
    auditor = await app.issue_auditor_token(opened.alliance_id, "gw", "funder")
    refused = await browser.post("/web/sign-in/token", data={"token": auditor.token, "csrf": form_token(page)})
    assert refused.status_code == 401
    token = await app.issue_token(opened.alliance_id, "gw", "cedar", "pages")
    signed = await browser.post("/web/sign-in/token", data={"token": token.token, "csrf": form_token(page)})
    assert signed.status_code == 303
    # cedar chose Spanish: the pages answer in it, whatever the browser asks for.
    inbox = await browser.get("/web/inbox", headers={"Accept-Language": "en"})
    assert '<html lang="es">' in inbox.text and "Mi bandeja" in inbox.text


async def test_the_pages_speak_the_browsers_language_before_sign_in(browser: httpx.AsyncClient) -> None:
    spanish = await browser.get("/web/sign-in", headers={"Accept-Language": "fr;q=0.9, es;q=0.8, en;q=0.5"})
    assert '<html lang="es">' in spanish.text and "Iniciar sesión" in spanish.text
    english = await browser.get("/web/sign-in", headers={"Accept-Language": "de, en;q=0.1"})
    assert '<html lang="en">' in english.text and "Sign in" in english.text


async def test_another_alliances_member_cannot_see_the_decision(app: Accord, browser: httpx.AsyncClient, mail: tuple[Mailbox, int]) -> None:
    mailbox, _ = mail
    opened = await decision_with_addresses(app)
    other = await decision_with_addresses(app)
    await contacts.set_contact(app, other.alliance_id, "gw", "dune", email="dune-elsewhere@example.org")
    await signed_in(browser, mailbox, "dune-elsewhere@example.org")
    hidden = await browser.get(f"/web/decisions/{opened.decision_id}")
    assert hidden.status_code == 404 and "Joint campaign" not in hidden.text


async def test_contacts_are_set_by_the_member_or_a_coordinator_and_checked(app: Accord, pool: asyncpg.Pool) -> None:
    opened: Opened = await decision_with_addresses(app)
    with pytest.raises(Refused, match="not an email address"):
        await contacts.set_contact(app, opened.alliance_id, "dune", "dune", email="dune at example")
    with pytest.raises(Refused, match="use one of en, es"):
        await contacts.set_contact(app, opened.alliance_id, "dune", "dune", language="fr")
    with pytest.raises(Refused):
        await contacts.set_contact(app, opened.alliance_id, "dune", "birch", email="x@example.org")
    assert (await contacts.contact(app, opened.alliance_id, "dune")).email == "dune@example.org"
    await contacts.set_contact(app, opened.alliance_id, "dune", "dune", erase=True)
    assert await pool.fetchval("SELECT count(*) FROM accord.member_contacts WHERE member_id = 'dune' AND alliance_id = $1", opened.alliance_id) == 0
    # Contacts are not in the record: no event holds an address.
    assert await pool.fetchval("SELECT count(*) FROM accord.events WHERE data::text LIKE '%@example.org%'") == 0


async def test_a_page_whose_database_is_down_says_so_in_a_page(app: Accord, db_url: str) -> None:
    closed = await asyncpg.create_pool(db_url, min_size=1, max_size=1)
    await closed.close()
    down = Accord(client=app.client, pool=closed, task_queue=app.task_queue)
    transport = httpx.ASGITransport(app=create_app(down, web_settings(None)))
    async with httpx.AsyncClient(transport=transport, base_url="http://accord.test", cookies={"accord_session": "s"}) as client:
        answered = await client.get("/web/inbox", headers={"Accept-Language": "es"})
    assert answered.status_code == 503 and answered.headers["content-type"].startswith("text/html")
    assert "No disponible por ahora" in answered.text and "Traceback" not in answered.text


async def test_the_overview_shows_the_alliance_and_keeps_a_dispute_from_those_outside_it(
    app: Accord, browser: httpx.AsyncClient, mail: tuple[Mailbox, int]
) -> None:
    mailbox, _ = mail
    opened = await decision_with_addresses(app)
    await app.raise_dispute(opened.alliance_id, "amber", "banner", ["birch"], "Who keeps the banner", "A quarrel about the banner.")
    await signed_in(browser, mailbox, "dune@example.org")
    overview = await browser.get("/web/alliance")
    assert overview.status_code == 200 and "Joint campaign 2027" in overview.text
    assert "p1: 0 of 3 responses needed" in overview.text and "Birch (birch)" in overview.text and "steering" in overview.text
    # dune is no party to the dispute: the page shows no more of it than the API would (at most its stage).
    assert "Who keeps the banner" not in overview.text and "quarrel" not in overview.text
    assert "No dispute waits for you." in (await browser.get("/web/inbox")).text

    await browser.post("/web/sign-out", data={"csrf": form_token(overview)})
    await signed_in(browser, mailbox, "birch@example.org")
    party = await browser.get("/web/alliance")
    assert ">banner</a>: Who keeps the banner (stage: negotiation)" in party.text
    inbox = await browser.get("/web/inbox")
    assert "Disputes where you must act" in inbox.text and "banner: Who keeps the banner" in inbox.text


async def test_the_proposer_amends_a_point_on_its_page_and_the_stances_on_it_are_cleared(
    app: Accord, browser: httpx.AsyncClient, mail: tuple[Mailbox, int], store: EventStore
) -> None:
    mailbox, _ = mail
    opened = await decision_with_addresses(app)
    stream = DECISION.stream_name(opened.decision_id, opened.alliance_id)
    await app.decision_command(opened.decision_id, TakeStance(actor="dune", point_id="p1", stance=StanceKind.AGREE), alliance_id=opened.alliance_id)
    await signed_in(browser, mailbox, "dune@example.org")
    page = await browser.get(f"/web/decisions/{opened.decision_id}")
    assert "Amend the text of p1" not in page.text  # only the proposer amends
    before = (await store.head(stream)).version
    refused = await browser.post(f"/web/decisions/{opened.decision_id}/points/p1/text", data={"text": "March on", "csrf": form_token(page)})
    assert refused.status_code == 403 and "proposer" in refused.text and (await store.head(stream)).version == before

    await browser.post("/web/sign-out", data={"csrf": form_token(page)})
    await signed_in(browser, mailbox, "amber@example.org")
    page = await browser.get(f"/web/decisions/{opened.decision_id}")
    assert "Amend the text of p1 (the stances on it are cleared)" in page.text and "1 of 5 responded" in page.text
    empty = await browser.post(f"/web/decisions/{opened.decision_id}/points/p1/text", data={"text": " ", "csrf": form_token(page)})
    assert empty.status_code == 422 and (await store.head(stream)).version == before
    amended = await browser.post(
        f"/web/decisions/{opened.decision_id}/points/p1/text", data={"text": "March on the river day, in the afternoon", "csrf": form_token(page)}
    )
    assert amended.status_code == 303 and "?did=amend#point-p1" in amended.headers["location"]
    shown = await browser.get(amended.headers["location"])
    assert "The point is amended; the stances on it are cleared." in shown.text and "0 of 5 responded" in shown.text
    assert "Amended 1 time: earlier texts" in shown.text and "March on the river day</li>" in shown.text.replace("\n", "")
    assert [e.event_type for e in await store.read_stream(stream)][-1] == "PointAmended"


async def test_a_coordinator_extends_a_stalled_decision_from_its_page(
    skipping_app: Accord, time_skipping_env: WorkflowEnvironment, store: EventStore
) -> None:
    app = skipping_app
    opened = await decision_with_addresses(app)
    stream = DECISION.stream_name(opened.decision_id, opened.alliance_id)
    shown = await app.decision(opened.decision_id, alliance_id=opened.alliance_id)
    await skip_to(time_skipping_env, shown.state.deadline + timedelta(minutes=1))
    await eventually(lambda: app.decision(opened.decision_id, alliance_id=opened.alliance_id), lambda v: v.state.stage == Stage.STALLED)
    tokens = {m: (await app.issue_token(opened.alliance_id, "gw", m, "pages")).token for m in ("gw", "dune")}
    transport = httpx.ASGITransport(app=create_app(app, web_settings(None)))
    for member in ("dune", "gw"):
        async with httpx.AsyncClient(transport=transport, base_url="http://accord.test") as client:
            page = await client.get("/web/sign-in")
            await client.post("/web/sign-in/token", data={"token": tokens[member], "csrf": form_token(page)})
            page = await client.get(f"/web/decisions/{opened.decision_id}")
            assert "Stalled" in page.text and "Points without quorum: p1, p2." in page.text
            if member == "gw":
                stalled = await gw_calendar(app, opened.alliance_id)
                assert any(summary.startswith("Stalled, act by") for summary, _ in stalled.values())
            before = (await store.head(stream)).version
            extended = await client.post(f"/web/decisions/{opened.decision_id}/extend", data={"csrf": form_token(page)})
            if member == "dune":  # not a coordinator: no buttons, and the decider refuses; nothing is recorded
                assert "Extend the deadline" not in page.text
                assert extended.status_code == 403 and (await store.head(stream)).version == before
                continue
            assert "Extend the deadline by" in page.text and "Apply the fallback" in page.text
            assert extended.status_code == 303, extended.text
            after = await client.get(extended.headers["location"])
            assert "The deadline is extended." in after.text and "What happens next" in after.text
            # The calendar moves with it: the escalation's end gives way to the new deadline, under the decision's uid.
            events = await gw_calendar(app, opened.alliance_id)
            extended_to = (await app.decision(opened.decision_id, alliance_id=opened.alliance_id)).state.deadline
            assert events[f"decision-{opened.alliance_id}.{opened.decision_id}-deadline@accord"][1] == extended_to.replace(microsecond=0)
            assert not any(uid.endswith("-escalation@accord") for uid in events)
            assert [e.event_type for e in await store.read_stream(stream)][-1] == "DeadlineExtended"
            unknown = await client.post(f"/web/decisions/{opened.decision_id}/adopt", data={"csrf": form_token(page)})
            assert unknown.status_code == 404 and "There is no such action." in unknown.text


async def test_the_parties_settle_a_dispute_on_its_page_and_nobody_else_sees_it(
    app: Accord, browser: httpx.AsyncClient, mail: tuple[Mailbox, int], store: EventStore
) -> None:
    mailbox, _ = mail
    opened = await decision_with_addresses(app)
    await app.raise_dispute(opened.alliance_id, "amber", "banner", ["birch"], "Who keeps the banner", "A quarrel about the banner.")
    stream = DISPUTE.stream_name("banner", opened.alliance_id)

    await signed_in(browser, mailbox, "dune@example.org")  # no party: the page shows at most that it exists
    outside = await browser.get("/web/disputes/banner")
    assert outside.status_code in (200, 404) and "Who keeps the banner" not in outside.text and "quarrel" not in outside.text
    before = (await store.head(stream)).version
    meddling = await browser.post("/web/disputes/banner/propose", data={"text": "I keep it", "csrf": form_token(outside)})
    assert meddling.status_code in (403, 404) and "Who keeps the banner" not in meddling.text
    assert (await store.head(stream)).version == before
    await browser.post("/web/sign-out", data={"csrf": form_token(outside)})

    await signed_in(browser, mailbox, "amber@example.org")
    page = await browser.get("/web/disputes/banner")
    assert page.status_code == 200 and 'aria-current="step" class="current">negotiation' in page.text
    proposed = await browser.post("/web/disputes/banner/propose", data={"text": "We keep it a month each", "csrf": form_token(page)})
    assert proposed.status_code == 303
    page = await browser.get(proposed.headers["location"])
    assert "Done: it is recorded." in page.text and "We keep it a month each" in page.text
    await browser.post("/web/sign-out", data={"csrf": form_token(page)})

    await signed_in(browser, mailbox, "birch@example.org")
    page = await browser.get("/web/disputes/banner")
    [terms_id] = re.findall(r'name="terms_id" value="([^"]+)"', page.text)
    accepted = await browser.post("/web/disputes/banner/accept", data={"terms_id": terms_id, "csrf": form_token(page)})
    assert accepted.status_code == 303
    settled = await browser.get("/web/disputes/banner")
    assert "Ended: " in settled.text and "What you can do" not in settled.text
    assert [e.event_type for e in await store.read_stream(stream)][-2:] == ["TermsAccepted", "DisputeSettled"]


async def test_a_member_chooses_its_language_and_ways_of_delivery_on_its_settings_page(
    app: Accord, browser: httpx.AsyncClient, mail: tuple[Mailbox, int]
) -> None:
    mailbox, _ = mail
    opened = await decision_with_addresses(app)
    await signed_in(browser, mailbox, "dune@example.org")
    page = await browser.get("/web/settings")
    assert page.status_code == 200 and 'value="dune@example.org"' in page.text
    refused = await browser.post("/web/settings", data={"csrf": form_token(page), "email": "dune at home", "deliver-reminder": "email"})
    assert refused.status_code == 422 and "not an email address" in refused.text
    saved = await browser.post("/web/settings", data={
        "csrf": form_token(page), "email": "dune@example.org", "language": "es", "deliver-reminder": "none", "deliver-*": "email",
    })
    assert saved.status_code == 303
    mine = await contacts.contact(app, opened.alliance_id, "dune")
    assert mine.language == "es" and mine.delivery == {"reminder": "none", "*": "email"}
    assert "Sus ajustes quedaron guardados." in (await browser.get(saved.headers["location"])).text


async def test_contacts_over_the_cli_and_the_api(app: Accord, cli: Cli) -> None:
    opened = await decision_with_addresses(app)
    ran = await cli(f"member contact {opened.alliance_id} dune --deliver reminder=none --deliver '*=email' --as dune --json")
    assert ran.code == 0, ran.stderr
    assert ran.json()["delivery"] == {"reminder": "none", "*": "email"} and ran.json()["email"] == "dune@example.org"
    wrong = await cli(f"member contact {opened.alliance_id} dune --deliver reminder --as dune")
    assert wrong.code == 1 and "--deliver takes KIND=WAY" in wrong.stderr and "Traceback" not in wrong.stderr
    pigeon = await cli(f"member contact {opened.alliance_id} dune --deliver reminder=pigeon --as dune")
    assert pigeon.code == 1 and "'pigeon' is not a way to deliver 'reminder': use one of email, webhook, none" in pigeon.stderr
    token = await app.issue_token(opened.alliance_id, "gw", "cedar", "api")
    async with client_for(app, web_settings(None)) as api:
        put = await api.put(
            f"/alliances/{opened.alliance_id}/members/cedar/contact", json={"delivery": {"*": "webhook"}}, headers=bearer(token.token)
        )
        assert put.status_code == 200 and put.json()["delivery"] == {"*": "webhook"} and put.json()["language"] == "es"
        theirs = await api.get(f"/alliances/{opened.alliance_id}/members/dune/contact", headers=bearer(token.token))
        assert theirs.status_code == 403


def calendar_events(feed: httpx.Response) -> dict[str, tuple[str, datetime]]:
    """UID -> (summary, start) of a feed's events, read by the icalendar library as a calendar app would."""
    assert feed.status_code == 200 and feed.headers["content-type"].startswith("text/calendar"), feed.text
    parsed = Calendar.from_ical(feed.content)
    return {str(e["UID"]): (str(e["SUMMARY"]), e.decoded("DTSTART")) for e in parsed.walk("VEVENT")}


async def test_a_members_calendar_holds_the_deadlines_that_concern_it_at_a_secret_address(
    app: Accord, browser: httpx.AsyncClient, mail: tuple[Mailbox, int]
) -> None:
    mailbox, _ = mail
    opened = await decision_with_addresses(app)
    await app.raise_dispute(opened.alliance_id, "amber", "banner", ["birch"], "Who keeps the banner", "A quarrel about the banner.")
    await signed_in(browser, mailbox, "birch@example.org")
    page = await browser.get("/web/settings")
    made = await browser.post("/web/settings/calendar", data={"csrf": form_token(page)})
    [address] = re.findall(r"<code>http://accord\.test(/web/calendar/[\w-]+\.ics)</code>", made.text)
    async with httpx.AsyncClient(transport=browser._transport, base_url="http://accord.test") as calendar_app:  # pyright: ignore[reportPrivateUsage]
        events = calendar_events(await calendar_app.get(address))  # no cookie: the address is the credential
        decision = (await app.decision(opened.decision_id, alliance_id=opened.alliance_id)).state
        uid = f"decision-{opened.alliance_id}.{opened.decision_id}"
        to_second = decision.deadline.replace(microsecond=0)  # iCalendar's times have whole seconds
        assert events[f"{uid}-deadline@accord"] == ("Deadline: Joint campaign 2027", to_second)
        assert events[f"{uid}-reminder@accord"][1] == to_second - decision.rules.reminder_lead
        assert any(summary.startswith("Dispute banner: end of negotiation") for summary, _ in events.values())
        # A new address ends the old one.
        page = await browser.get("/web/settings")
        await browser.post("/web/settings/calendar", data={"csrf": form_token(page)})
        gone = await calendar_app.get(address)
        assert gone.status_code == 404 and "make a new one" in gone.text
    # dune is no party to the dispute: its calendar does not show it.
    dune = TokenHolder(alliance_id=opened.alliance_id, member_id="dune")
    assert b"banner" not in await calendars.feed(app, dune, "http://accord.test")
    assert b"Joint campaign 2027" in await calendars.feed(app, dune, "http://accord.test")


async def gw_calendar(app: Accord, alliance_id: str) -> dict[str, tuple[str, datetime]]:
    feed = await calendars.feed(app, TokenHolder(alliance_id=alliance_id, member_id="gw"), "http://accord.test")
    return calendar_events(httpx.Response(200, content=feed, headers={"content-type": "text/calendar"}))


async def test_the_record_of_a_process_is_shown_verified_and_proven_to_those_who_may_read_it(
    app: Accord, mail: tuple[Mailbox, int], pool: asyncpg.Pool
) -> None:
    mailbox, port = mail
    opened = await decision_with_addresses(app)
    await app.raise_dispute(opened.alliance_id, "amber", "banner", ["birch"], "Who keeps the banner", "A quarrel about the banner.")
    signer = Signer.generate("pages.accord")
    settings = web_settings(port).model_copy(update={"log_public_keys": str(signer.verifier)})
    transport = httpx.ASGITransport(app=create_app(app, settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://accord.test") as browser:
        await signed_in(browser, mailbox, "dune@example.org")
        page = await browser.get(f"/web/audit/decision-{opened.decision_id}")
        assert page.status_code == 200 and "Verified: each event" in page.text and ">DecisionOpened</th>" in page.text
        assert "Not yet in a signed checkpoint" in page.text
        await TransparencyLog(pool).issue(opened.alliance_id, signer, "pages.accord")
        page = await browser.get(f"/web/audit/decision-{opened.decision_id}")
        assert "The newest event is proven in the alliance's log at the checkpoint of" in page.text
        assert "The checkpoint is signed by this deployment's log key." in page.text and "pages.accord/" in page.text
        exported = await browser.get(f"/web/audit/decision-{opened.decision_id}/export", params={"format": "md"})
        assert exported.status_code == 200 and exported.text.startswith("# accord audit report") and "attachment" in exported.headers["content-disposition"]
        wrong = await browser.get(f"/web/audit/decision-{opened.decision_id}/export", params={"format": "xml"})
        assert wrong.status_code == 422 and "unknown format" in wrong.text
        # dune is no party to the dispute: its record is not found, and nothing of it shows.
        hidden = await browser.get("/web/audit/dispute-banner")
        assert hidden.status_code in (403, 404) and "Who keeps the banner" not in hidden.text
        hidden_export = await browser.get("/web/audit/dispute-banner/export")
        assert hidden_export.status_code in (403, 404) and "quarrel" not in hidden_export.text
        # Members' addresses are not in the record at all.
        alliance = await browser.get(f"/web/audit/alliance-{opened.alliance_id}")
        assert alliance.status_code == 200 and "@example.org" not in alliance.text
