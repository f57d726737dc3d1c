"""The members' pages in a real browser: Debian's Chromium (/usr/bin/chromium, which `.ci/run` installs),
driven by Playwright, against accord's own HTTP server on a free port, with a real SMTP server catching the
sign-in email. Every page is checked with axe-core (no serious or critical violation) and by keyboard.

With ACCORD_SCREENSHOTS=1 the test also writes the pages' screenshots to docs/screenshots/.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest
from axe_playwright_python.async_playwright import Axe
from decision_support import eventually, skip_to
from playwright.async_api import Browser, Page, async_playwright, expect
from temporalio.testing import WorkflowEnvironment
from web_support import Mailbox, answer_links, decision_with_addresses, free_port, mail_to, smtp_server, web_settings

from accord.api import serve
from accord.app import Accord
from accord.config import Settings
from activities.notify import NotifyActivities
from events.decision import Stage, StanceKind, TakeStance

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


@pytest.fixture
async def chromium() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail("the browser tests need Debian's Chromium: `apt-get install chromium` (.ci/run installs it)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
async def served(app: Accord) -> AsyncIterator[tuple[Settings, Mailbox]]:
    async with serving(app) as server:
        yield server


@pytest.fixture
async def served_skipping(skipping_app: Accord) -> AsyncIterator[tuple[Settings, Mailbox]]:
    async with serving(skipping_app) as server:
        yield server


@asynccontextmanager
async def serving(app: Accord) -> AsyncIterator[tuple[Settings, Mailbox]]:
    """accord's HTTP server (API and pages) on a free port of 127.0.0.1, sending mail to a real SMTP server."""
    with smtp_server() as (mailbox, smtp_port):
        port = free_port()
        settings = web_settings(smtp_port, base_url=f"http://127.0.0.1:{port}").model_copy(update={"api_port": port})
        stop = asyncio.Event()
        task = asyncio.create_task(serve(app, settings, stop))
        for _ in range(100):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            break
        try:
            yield settings, mailbox
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)


async def accessible(page: Page, name: str) -> None:
    """No serious or critical axe-core violation on the page; with ACCORD_SCREENSHOTS=1, its screenshot."""
    results = await Axe().run(page)
    grave = [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    assert not grave, f"{name}: " + results.generate_report()
    if os.environ.get("ACCORD_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


async def test_a_member_signs_in_from_the_email_and_takes_a_stance_per_point(
    app: Accord, chromium: Browser, served: tuple[Settings, Mailbox]
) -> None:
    settings, mailbox = served
    opened = await decision_with_addresses(app)
    await app.raise_dispute(opened.alliance_id, "amber", "banner", ["dune"], "Who keeps the banner", "A quarrel about the banner.")
    page = await (await chromium.new_context(locale="en-GB")).new_page()

    await page.goto(f"{settings.base_url}/web")
    await expect(page.get_by_role("heading", name="Sign in", exact=True)).to_be_visible()
    await accessible(page, "sign-in")
    # By keyboard: the first Tab reaches the skip link, which leads to the content.
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("link", name="Skip to the content")).to_be_focused()
    await page.get_by_label("Your email address").fill("dune@example.org")
    await page.get_by_label("Your email address").press("Enter")
    await expect(page.get_by_role("heading", name="Check your email")).to_be_visible()

    await mailbox.wait(1)
    [link] = mailbox.links()
    await page.goto(link)
    await expect(page.get_by_text(f"Sign in as dune of {opened.alliance_id}?")).to_be_visible()
    await page.get_by_role("button", name="Sign in").click()

    await expect(page.get_by_role("heading", name="My inbox")).to_be_visible()
    await expect(page.get_by_text("2 points without your stance")).to_be_visible()
    await accessible(page, "inbox")
    await page.get_by_role("link", name="Joint campaign 2027").click()

    await expect(page.get_by_role("heading", name="Joint campaign 2027")).to_be_visible()
    p1 = page.locator("#point-p1")
    await expect(p1.get_by_role("table")).to_contain_text("0 of 5 responded")
    await accessible(page, "decision")
    await p1.get_by_label("Agree", exact=True).check()
    await p1.get_by_role("button", name="Record my stance on p1").click()
    await expect(page.get_by_role("status")).to_have_text("Your stance on p1 is recorded.")
    p1 = page.locator("#point-p1")
    await expect(p1.get_by_role("table")).to_contain_text("1 of 5 responded")
    await expect(p1.get_by_role("row", name="Agree 1", exact=True)).to_be_visible()

    # Objecting needs a reason: the page says so beside the point, and nothing is recorded.
    p2 = page.locator("#point-p2")
    await p2.get_by_label("Object", exact=True).check()
    await p2.get_by_role("button", name="Record my stance on p2").click()
    await expect(page.locator("#point-p2").get_by_role("alert")).to_contain_text("reason")
    await expect(page.locator("#point-p2").get_by_label("Object", exact=True)).to_be_checked()  # the choice is kept
    await expect(page.locator("#point-p2").get_by_role("table")).to_contain_text("0 of 5 responded")
    await accessible(page, "decision-refused")

    # By keyboard alone: choose a stance with the arrow keys and send it with Enter.
    p2 = page.locator("#point-p2")
    await p2.get_by_label("Agree", exact=True).focus()
    await page.keyboard.press("ArrowDown")  # the next radio: agree, with concerns
    await expect(p2.get_by_label("Agree, with concerns")).to_be_checked()
    await p2.get_by_label("Reason (needed to object or block)").fill("only with the grant's conditions read out")
    await p2.get_by_role("button", name="Record my stance on p2").focus()
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("status")).to_have_text("Your stance on p2 is recorded.")
    await page.get_by_role("link", name="My inbox").click()
    await expect(page.get_by_text("Nothing waits for you now.")).to_be_visible()

    # The alliance at a glance, then the dispute dune is a party to: its ladder, and terms proposed.
    await page.get_by_role("link", name="The alliance").click()
    await expect(page.get_by_role("heading", name=f"Alliance {opened.alliance_id}")).to_be_visible()
    await accessible(page, "alliance")
    await page.get_by_role("link", name="banner").click()
    await expect(page.get_by_role("heading", name="Who keeps the banner")).to_be_visible()
    await expect(page.locator('[aria-current="step"]')).to_contain_text("negotiation")
    await accessible(page, "dispute")
    await page.get_by_label("Terms to propose").fill("A month each, starting with amber")
    await page.get_by_role("button", name="Propose these terms").click()
    await expect(page.get_by_role("status")).to_have_text("Done: it is recorded.")
    await expect(page.get_by_text("A month each, starting with amber")).to_be_visible()

    # The member's own settings: how each kind of news reaches it.
    await page.get_by_role("link", name="My settings").click()
    await page.get_by_label("A reminder before a deadline").select_option("none")
    await accessible(page, "settings")
    await page.get_by_role("button", name="Save my settings").click()
    await expect(page.get_by_role("status")).to_have_text("Your settings are saved.")
    await expect(page.get_by_label("A reminder before a deadline")).to_have_value("none")

    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", name="Sign in", exact=True)).to_be_visible()
    await page.goto(f"{settings.base_url}/web/inbox")
    await expect(page.get_by_role("heading", name="Sign in", exact=True)).to_be_visible()


async def test_the_proposer_amends_a_coordinator_extends_and_an_outsider_sees_no_dispute(
    skipping_app: Accord, time_skipping_env: WorkflowEnvironment, chromium: Browser, served_skipping: tuple[Settings, Mailbox]
) -> None:
    app, (settings, _) = skipping_app, served_skipping
    opened = await decision_with_addresses(app)
    await app.raise_dispute(opened.alliance_id, "amber", "banner", ["birch"], "Who keeps the banner", "A quarrel about the banner.")
    await app.decision_command(opened.decision_id, TakeStance(actor="dune", point_id="p1", stance=StanceKind.AGREE), alliance_id=opened.alliance_id)

    async def signed_in_as(member: str) -> Page:
        token = await app.issue_token(opened.alliance_id, "gw", member, "pages")
        page = await (await chromium.new_context(locale="en-GB")).new_page()
        await page.goto(f"{settings.base_url}/web/sign-in")
        await page.get_by_label("API token").fill(token.token)
        await page.get_by_role("button", name="Sign in with the token").click()
        await expect(page.get_by_role("heading", name="My inbox")).to_be_visible()
        return page

    # The proposer amends p1 and sees the stance on it cleared, with the earlier text kept in view.
    amber = await signed_in_as("amber")
    await amber.goto(f"{settings.base_url}/web/decisions/{opened.decision_id}")
    p1 = amber.locator("#point-p1")
    await expect(p1.get_by_role("table")).to_contain_text("1 of 5 responded")
    await p1.get_by_label("Amend the text of p1 (the stances on it are cleared)").fill("March on the river day, in the afternoon")
    await p1.get_by_role("button", name="Amend p1").click()
    await expect(amber.get_by_role("status")).to_have_text("The point is amended; the stances on it are cleared.")
    p1 = amber.locator("#point-p1")
    await expect(p1.get_by_role("table")).to_contain_text("0 of 5 responded")
    await p1.get_by_text("Amended 1 time: earlier texts").click()
    await expect(p1.get_by_role("listitem")).to_contain_text("March on the river day")

    # Nobody answers: at the deadline the decision stalls, and a coordinator extends it from its page.
    shown = await app.decision(opened.decision_id, alliance_id=opened.alliance_id)
    await skip_to(time_skipping_env, shown.state.deadline + timedelta(minutes=1))
    await eventually(lambda: app.decision(opened.decision_id, alliance_id=opened.alliance_id), lambda v: v.state.stage == Stage.STALLED)
    gw = await signed_in_as("gw")
    await gw.goto(f"{settings.base_url}/web/decisions/{opened.decision_id}")
    await expect(gw.get_by_role("heading", name="Stalled")).to_be_visible()
    await accessible(gw, "decision-stalled")
    await gw.get_by_role("button", name="Extend the deadline by").click()
    await expect(gw.get_by_role("status")).to_have_text("The deadline is extended.")
    await expect(gw.get_by_role("heading", name="What happens next")).to_be_visible()

    # dune is no party to the dispute: neither its page, nor the overview, nor the inbox show its subject.
    dune = await signed_in_as("dune")
    for path in ("/web/disputes/banner", "/web/alliance", "/web/inbox"):
        await dune.goto(f"{settings.base_url}{path}")
        await expect(dune.locator("main")).not_to_contain_text("Who keeps the banner")
        await expect(dune.locator("main")).not_to_contain_text("quarrel")


async def test_a_one_click_link_from_an_email_records_the_stance_only_after_confirmation(
    app: Accord, chromium: Browser, served: tuple[Settings, Mailbox], pool: asyncpg.Pool
) -> None:
    settings, mailbox = served
    opened = await decision_with_addresses(app)
    # The notification of the opening, delivered by email by the worker's own delivery activity.
    ids = [r["notification_id"] for r in await pool.fetch("SELECT notification_id FROM accord.notifications WHERE member_id = 'dune' AND kind = 'decision_opened'")]
    assert await NotifyActivities(app.pool, settings=settings).deliver_notifications(ids) == 1
    await mailbox.wait(1)
    link = settings.base_url + answer_links(mail_to(mailbox, "dune@example.org"))[("p1", "Agree")]

    async def responded() -> int:
        view = await app.decision(opened.decision_id, alliance_id=opened.alliance_id)
        return next(t.responded for t in view.tallies if t.point_id == "p1")

    page = await (await chromium.new_context(locale="en-GB")).new_page()
    await page.goto(link)  # what a mail scanner does, too
    await expect(page.get_by_text("Record the stance “Agree” on p1 as dune?")).to_be_visible()
    await accessible(page, "one-click")
    assert await responded() == 0
    await page.get_by_role("button", name="Confirm: record my stance").click()
    await expect(page.get_by_role("heading", name="Your stance is recorded")).to_be_visible()
    assert await responded() == 1
    await page.goto(link)
    await expect(page.get_by_role("heading", name="This link no longer works")).to_be_visible()

    # The record of the decision, as a member reads it after signing in: verified, with its events.
    await page.goto(f"{settings.base_url}/web/sign-in")
    await page.get_by_label("Your email address").fill("dune@example.org")
    await page.get_by_role("button", name="Email me a link").click()
    await mailbox.wait(2)
    await page.goto(mailbox.links()[0])
    await page.get_by_role("button", name="Sign in").click()
    await page.goto(f"{settings.base_url}/web/decisions/{opened.decision_id}")
    await page.get_by_role("link", name="The record of this decision").click()
    await expect(page.get_by_text("Verified: each event's hash follows from its data and the hash before it.")).to_be_visible()
    await expect(page.get_by_role("rowheader", name="StanceTaken")).to_be_visible()
    await accessible(page, "record")
