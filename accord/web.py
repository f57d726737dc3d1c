"""The members' pages: sign in by an emailed link (or a pasted API token), the inbox, a decision and its
stances. Server-rendered (Jinja2, accord/templates/web), readable and usable without JavaScript, in the
member's language (accord/i18n.py). Every page goes through the application layer and its access policy,
exactly as the API does; every form carries the session's form token (CSRF).
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Annotated, Any, NamedTuple

import structlog
from babel.dates import format_datetime, format_timedelta
from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import TypeAdapter, ValidationError

from accord import audit, calendars, contacts, costs, mail, sessions, transparency
from accord.app import Accord, DisputeView
from accord.config import Settings
from accord.i18n import environment, negotiate, translations
from accord.keeper import log_keys
from events.access import TokenHolder
from events.decision import (
    AmendPoint,
    ApplyFallback,
    CloseDecision,
    DecisionCommand,
    DecisionState,
    ExtendDeadline,
    Point,
    Stage,
    StanceKind,
    TakeStance,
    Tally,
)
from events.dispute import DisputeCommand, DisputeStage, RulingKind
from events.errors import AccordError
from events.merkle import leaf_hash, verify_inclusion
from events.notes import Checkpoint, NoteError, signed_by, split_note
from events.processes import DECISION
from events.rules import RefusalKind, Refused

log = structlog.get_logger("accord.web")

SESSION_COOKIE = "accord_session"
FORM_COOKIE = "accord_form"
"""Before sign-in there is no session: the sign-in forms carry the token of this cookie instead."""

STATUS = {RefusalKind.FORBIDDEN: 403, RefusalKind.INVALID: 422, RefusalKind.NOT_FOUND: 404, RefusalKind.CONFLICT: 409}

pages = APIRouter(prefix="/web", include_in_schema=False)


class Page:
    """One request's view of the pages: its language, its session (if signed in), and rendering."""

    def __init__(self, request: Request, session: sessions.WebSession | None, language: str) -> None:
        self.request, self.session, self.language = request, session, language
        self.accord: Accord = request.app.state.accord
        self.settings: Settings = request.app.state.settings

    def gettext(self, message: str) -> str:
        return translations(self.language).gettext(message)

    def render(self, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        csrf = self.session.csrf_token if self.session else self.request.cookies.get(FORM_COOKIE) or secrets.token_urlsafe(24)
        html = environment(self.language).get_template(template).render(
            session=self.session, csrf=csrf, when=self.when, left=self.left, span=self.span, **values
        )
        response = HTMLResponse(html, status_code=status)
        if self.session is None and FORM_COOKIE not in self.request.cookies:
            response.set_cookie(FORM_COOKIE, csrf, httponly=True, samesite="strict", secure=self.secure, path="/web")
        return response

    def message(self, title: str, text: str, status: int = 200) -> HTMLResponse:
        return self.render("message.html", status, title=title, text=text)

    def when(self, moment: datetime) -> str:
        return format_datetime(moment, "medium", tzinfo=UTC, locale=self.language) + " UTC"

    def span(self, length: timedelta) -> str:
        return format_timedelta(length, threshold=1.5, locale=self.language)

    def left(self, moment: datetime) -> str:
        remaining = moment - datetime.now(UTC)
        if remaining.total_seconds() <= 0:
            return self.gettext("time is up")
        return format_timedelta(remaining, threshold=1.5, add_direction=True, locale=self.language)

    @property
    def secure(self) -> bool:
        return self.request.url.scheme == "https" or self.settings.base_url.startswith("https:")

    def checked(self, token: str) -> bool:
        """Whether a form's token is this session's (or, before sign-in, this browser's)."""
        expected = self.session.csrf_token if self.session else self.request.cookies.get(FORM_COOKIE, "")
        return bool(expected) and secrets.compare_digest(token.encode(), expected.encode())


async def page(request: Request) -> Page:
    secret = request.cookies.get(SESSION_COOKIE)
    session = await sessions.session_of(request.app.state.accord.pool, secret) if secret else None
    preferred = None
    if session is not None:
        preferred = (await contacts.contact(request.app.state.accord, session.holder.alliance_id, session.holder.member_id)).language
    return Page(request, session, negotiate(request.headers.get("accept-language"), preferred))


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    """What a page answers when accord cannot do what was asked (a service down, a defect): a page, in the
    browser's language, with the reason; never a traceback. It reads nothing, as the database may be down."""
    view = Page(request, None, negotiate(request.headers.get("accept-language")))
    title = view.gettext("Not available just now") if status == 503 else view.gettext("Something went wrong")
    return view.message(title, message, status)


async def posted(request: Request, csrf: str) -> tuple[Page, Response | None]:
    """A signed-in member's form: its page, or the answer instead (to sign in; a forged form refused)."""
    view = await page(request)
    if view.session is None:
        return view, to_sign_in()
    return view, None if view.checked(csrf) else forged(view)


def to_sign_in() -> RedirectResponse:
    return RedirectResponse("/web/sign-in", status_code=303)


def forged(view: Page) -> HTMLResponse:
    return view.message(
        view.gettext("This form has expired"),
        view.gettext("The page you sent the form from is too old or from another browser. Go back, reload it, and try again."),
        403,
    )


# --- signing in and out -------------------------------------------------------------------------------


@pages.get("", response_class=HTMLResponse)
async def home(request: Request) -> Response:
    view = await page(request)
    return RedirectResponse("/web/inbox" if view.session else "/web/sign-in", status_code=303)


@pages.get("/sign-in", response_class=HTMLResponse)
async def sign_in(request: Request) -> Response:
    view = await page(request)
    return view.render("sign_in.html", email_works=mail.can_send(view.settings))


@pages.post("/sign-in/email", response_class=HTMLResponse)
async def send_link(request: Request, email: Annotated[str, Form()], csrf: Annotated[str, Form()] = "") -> Response:
    view = await page(request)
    if not view.checked(csrf):
        return forged(view)
    if not mail.can_send(view.settings):
        return view.message(
            view.gettext("No email from this server"), view.gettext("This server sends no email. Sign in with an API token instead."), 503
        )
    members = [(a, m) for a, m in await contacts.members_at(view.accord.pool, email) if await _active(view.accord, a, m)]
    if members:
        links = [
            (alliance_id, member_id, f"{view.settings.base_url}/web/sign-in/link/"
             f"{await sessions.new_link(view.accord.pool, alliance_id, member_id, view.settings.sign_in_minutes)}")
            for alliance_id, member_id in members
        ]
        language = (await contacts.contact(view.accord, *members[0])).language or view.language
        env = environment(language)
        values = {"links": links, "minutes": view.settings.sign_in_minutes}
        try:
            await mail.send(view.settings, mail.Mail(
                to=email.strip(), subject=translations(language).gettext("Your link to sign in to accord"),
                text=env.get_template("email/sign_in.txt").render(**values), html=env.get_template("email/sign_in.html").render(**values),
            ))
        except AccordError as error:
            log.warning("sign-in link not sent", error=error.message)
            return view.message(
                view.gettext("The email could not be sent"),
                view.gettext("Our mail server did not take the message. Try again in a few minutes."), 503,
            )
    # The same answer whether or not the address is a member's: the page tells nobody who is a member.
    return view.message(
        view.gettext("Check your email"),
        view.gettext("If this address belongs to a member, a link to sign in is on its way. It works once, for %(minutes)s minutes.")
        % {"minutes": view.settings.sign_in_minutes},
    )


async def _active(accord: Accord, alliance_id: str, member_id: str) -> bool:
    member = (await accord.alliance(alliance_id)).member(member_id)
    return member is not None and member.active


@pages.get("/sign-in/link/{secret}", response_class=HTMLResponse)
async def confirm_link(request: Request, secret: str) -> Response:
    """Opening the link only asks: a mail scanner that follows links signs nobody in."""
    view = await page(request)
    holder = await sessions.link_holder(view.accord.pool, secret)
    if holder is None:
        return _spent_link(view)
    return view.render("confirm_link.html", holder=holder, secret=secret)


def _spent_link(view: Page) -> HTMLResponse:
    return view.message(
        view.gettext("This link no longer works"),
        view.gettext("A sign-in link works once and only for a short time. Ask for a new one on the sign-in page."),
        410,
    )


@pages.post("/sign-in/link/{secret}", response_class=HTMLResponse)
async def use_link(request: Request, secret: str) -> Response:
    view = await page(request)
    holder = await sessions.use_link(view.accord.pool, secret)
    if holder is None or not await _active(view.accord, holder.alliance_id, holder.member_id):
        return _spent_link(view)
    return await _signed_in(view, holder)


@pages.post("/sign-in/token", response_class=HTMLResponse)
async def token_sign_in(request: Request, token: Annotated[str, Form()], csrf: Annotated[str, Form()] = "") -> Response:
    view = await page(request)
    if not view.checked(csrf):
        return forged(view)
    holder = await view.accord.authenticate(token.strip())
    if holder is None or holder.member_id.startswith("auditor:"):
        return view.render("sign_in.html", 401, email_works=mail.can_send(view.settings),
                           error=view.gettext("That token is unknown, revoked, or not a member's."))
    return await _signed_in(view, holder)


async def _signed_in(view: Page, holder: Any) -> Response:
    secret = await sessions.open_session(view.accord.pool, holder, view.settings.session_days)
    response = RedirectResponse("/web/inbox", status_code=303)
    response.set_cookie(
        SESSION_COOKIE, secret, max_age=view.settings.session_days * 86400, httponly=True, samesite="lax", secure=view.secure, path="/web"
    )
    log.info("signed in", alliance_id=holder.alliance_id, member_id=holder.member_id)
    return response


@pages.post("/sign-out", response_class=HTMLResponse)
async def sign_out(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
    view = await page(request)
    if view.session is None:
        return to_sign_in()
    if not view.checked(csrf):
        return forged(view)
    await sessions.end_session(view.accord.pool, request.cookies[SESSION_COOKIE])
    response = to_sign_in()
    response.delete_cookie(SESSION_COOKIE, path="/web")
    return response


# --- the inbox and decisions ---------------------------------------------------------------------------


@pages.get("/inbox", response_class=HTMLResponse)
async def inbox(request: Request) -> Response:
    view = await page(request)
    if view.session is None:
        return to_sign_in()
    me = view.session.holder
    waiting: list[tuple[DecisionState, list[Point]]] = []
    for row in await view.accord.decisions(me.alliance_id, me):
        if row.stage not in (Stage.OPEN, Stage.STALLED):
            continue
        shown = await view.accord.decision(row.decision_id, me)
        if me.member_id in shown.state.context.electorate:
            unanswered = [p for p in shown.state.active_points if me.member_id not in p.stances]
            if unanswered:
                waiting.append((shown.state, unanswered))
    acting = [d.state for d in await view.accord.disputes(me.alliance_id, me) if isinstance(d, DisputeView) and me.member_id in d.must_act]
    since = await contacts.visited(view.accord.pool, me.alliance_id, me.member_id, datetime.now(UTC))
    recent = await view.accord.notifications(me.alliance_id, me.member_id, me.member_id, 50)
    changed = [n for n in recent if since is None or n.created_at > since]
    return view.render("inbox.html", waiting=waiting, acting=acting, changed=changed, since=since, stages=STAGE_NAMES)


def N_(message: str) -> str:
    """Marks a message for translation where it is defined; it is translated where it is shown."""
    return message


@pages.get("/alliance", response_class=HTMLResponse)
async def overview(request: Request) -> Response:
    """The alliance at a glance: members and roles, open and stalled decisions with their deadlines and how
    near each is to quorum, disputes by stage (only what the reader may see), parked points, the costs."""
    view = await page(request)
    if view.session is None:
        return to_sign_in()
    me = view.session.holder
    alliance = await view.accord.alliance(me.alliance_id, me)
    live = [row for row in await view.accord.decisions(me.alliance_id, me) if row.stage in (Stage.OPEN, Stage.STALLED)]
    decisions = [(row, await _nearest_quorum(view.accord, row.decision_id, me)) for row in live]
    disputes = [(d.state.dispute_id, d.state.stage, d.state.subject) if isinstance(d, DisputeView) else (d.dispute_id, d.stage, None)
                for d in await view.accord.disputes(me.alliance_id, me)]
    return view.render(
        "overview.html", alliance=alliance, decisions=decisions, disputes=disputes, chart=await _costs_chart(view), stages=STAGE_NAMES,
    )


async def _nearest_quorum(accord: Accord, decision_id: str, me: TokenHolder) -> Tally | None:
    """The point of a decision farthest from quorum (what holds the decision up), or None when it has none."""
    tallies = (await accord.decision(decision_id, me)).tallies
    return min(tallies, key=lambda t: t.responded - t.quorum_needed, default=None)


async def _costs_chart(view: Page) -> str | None:
    """The chart of agreed against carried shares this year, or why there is none; None without entries."""
    assert view.session is not None
    me = view.session.holder
    today = datetime.now(UTC).date()
    try:
        got = await costs.report(view.accord, me.alliance_id, me, today.replace(month=1, day=1), today)
    except Refused as error:
        return f"<p>{escape(error.message)}</p>"
    return costs.chart_svg(got) if got.total else None


STANCE_LABELS = {
    StanceKind.AGREE: N_("Agree"), StanceKind.CONCERNS: N_("Agree, with concerns"), StanceKind.STAND_ASIDE: N_("Stand aside"),
    StanceKind.OBJECT: N_("Object"), StanceKind.BLOCK: N_("Block (on a principle)"),
}


@pages.get("/decisions/{decision_id}", response_class=HTMLResponse)
async def decision_page(request: Request, decision_id: str, done: str | None = None, did: str | None = None) -> Response:
    view = await page(request)
    if view.session is None:
        return to_sign_in()
    return await _decision(view, decision_id, done=done, did=view.gettext(DONE[did]) if did in DONE else None)


async def _decision(view: Page, decision_id: str, status: int = 200, **values: Any) -> HTMLResponse:
    assert view.session is not None
    me = view.session.holder
    try:
        shown = await view.accord.decision(decision_id, me)
        alliance = await view.accord.alliance(me.alliance_id)
    except Refused as error:
        return view.message(view.gettext("Not found"), error.message, STATUS[error.kind])
    principles = [p for p in alliance.charter.principles if p.id in shown.state.context.principles]
    state = shown.state
    return view.render(
        "decision.html", status, view=shown, me=me.member_id, principles=principles, stances=STANCE_LABELS,
        tallies={t.point_id: t for t in shown.tallies}, coordinator=me.member_id in state.context.coordinators,
        proposer=me.member_id == state.proposer, live=state.is_live, voter=me.member_id in state.context.electorate,
        history=await _texts(view.accord, DECISION.stream_name(state.decision_id, state.alliance_id), me),
        **{"done": None, "did": None, "error": None, "sent": {}, **values},
    )


async def _texts(accord: Accord, stream: str, reader: TokenHolder) -> dict[str, list[tuple[datetime, str]]]:
    """Each point's texts in the record, oldest first: as proposed, then as each amendment left it."""
    texts: dict[str, list[tuple[datetime, str]]] = {}
    for event in await accord.store.read_stream(await accord.readable_record(stream, reader)):
        proposed = event.data.get("points", []) if event.event_type == "DecisionOpened" else [event.data]
        if event.event_type in ("DecisionOpened", "PointAdded", "PointAmended"):
            for point in proposed:
                texts.setdefault(point["point_id"], []).append((event.recorded_at, point["text"]))
    return texts


@pages.post("/decisions/{decision_id}/points/{point_id}/stance", response_class=HTMLResponse)
async def take_stance(
    request: Request, decision_id: str, point_id: str, stance: Annotated[str, Form()] = "", reason: Annotated[str, Form()] = "",
    principle: Annotated[str, Form()] = "", csrf: Annotated[str, Form()] = "",
) -> Response:
    view, refused = await posted(request, csrf)
    if refused is not None:
        return refused
    assert view.session is not None
    me = view.session.holder
    sent = {"stance": stance, "reason": reason, "principle": principle}  # shown again beside a refusal
    try:
        command = TakeStance(
            actor=me.member_id, point_id=point_id, stance=stance, reason=reason.strip() or None, principle=principle or None  # type: ignore[arg-type]
        )
        await view.accord.decision_command(decision_id, command, alliance_id=me.alliance_id)
    except ValidationError:
        error = view.gettext("Choose one of the stances.")
        return await _decision(view, decision_id, 422, error=(point_id, error), sent=sent)
    except Refused as error:
        return await _decision(view, decision_id, STATUS[error.kind], error=(point_id, error.message), sent=sent)
    return RedirectResponse(f"/web/decisions/{decision_id}?done={point_id}#point-{point_id}", status_code=303)


ACTIONS = {"extend": ExtendDeadline, "fallback": ApplyFallback, "close": CloseDecision}
"""What a coordinator may do to a stalled decision from its page (the decider says when each is allowed)."""
DONE = {"extend": N_("The deadline is extended."), "fallback": N_("The charter's fallback is applied."),
        "close": N_("The decision is closed."), "amend": N_("The point is amended; the stances on it are cleared.")}


@pages.post("/decisions/{decision_id}/points/{point_id}/text", response_class=HTMLResponse)
async def amend(
    request: Request, decision_id: str, point_id: str, text: Annotated[str, Form()] = "", csrf: Annotated[str, Form()] = ""
) -> Response:
    """The proposer amends a point; the stances on it are cleared (the decider refuses anyone else)."""
    return await _act(request, decision_id, csrf, lambda actor: AmendPoint(actor=actor, point_id=point_id, text=text), "amend", point_id)


@pages.post("/decisions/{decision_id}/{action}", response_class=HTMLResponse)
async def coordinate(request: Request, decision_id: str, action: str, csrf: Annotated[str, Form()] = "") -> Response:
    if action not in ACTIONS:
        view = await page(request)
        return view.message(view.gettext("Not found"), view.gettext("There is no such action."), 404)
    return await _act(request, decision_id, csrf, lambda actor: ACTIONS[action](actor=actor), action, None)


async def _act(
    request: Request, decision_id: str, csrf: str, command: Callable[[str], DecisionCommand], action: str, point_id: str | None
) -> Response:
    view, refused = await posted(request, csrf)
    if refused is not None:
        return refused
    assert view.session is not None
    me = view.session.holder
    try:
        await view.accord.decision_command(decision_id, command(me.member_id), alliance_id=me.alliance_id)
    except ValidationError as error:
        return await _decision(view, decision_id, 422, error=(point_id or action, _first_problem(error)))
    except Refused as error:
        return await _decision(view, decision_id, STATUS[error.kind], error=(point_id or action, error.message))
    anchor = f"#point-{point_id}" if point_id else ""
    return RedirectResponse(f"/web/decisions/{decision_id}?did={action}{anchor}", status_code=303)


def _first_problem(error: ValidationError) -> str:
    problem = error.errors()[0]
    return f"{problem['loc'][-1]}: {problem['msg']}" if problem["loc"] else str(problem["msg"])


# --- one-click answers from an email ------------------------------------------------------------------


@pages.get("/answer/{secret}", response_class=HTMLResponse)
async def confirm_answer(request: Request, secret: str) -> Response:
    """Following a one-click link only asks: a mail scanner that follows it records nothing."""
    view = await page(request)
    answer = await sessions.answer_of(view.accord.pool, secret)
    if answer is None:
        return _spent_answer(view)
    return await _answer_page(view, answer, secret)


async def _answer_page(view: Page, answer: sessions.Answer, secret: str, status: int = 200, error: str | None = None) -> HTMLResponse:
    holder = TokenHolder(alliance_id=answer.alliance_id, member_id=answer.member_id)
    shown = await view.accord.decision(answer.decision_id, holder)
    alliance = await view.accord.alliance(answer.alliance_id, holder)
    principles = [p for p in alliance.charter.principles if p.id in shown.state.context.principles]
    return view.render(
        "confirm_answer.html", status, answer=answer, state=shown.state, point=shown.state.points[answer.point_id],
        label=STANCE_LABELS[StanceKind(answer.stance)], secret=secret, principles=principles, error=error,
    )


def _spent_answer(view: Page) -> HTMLResponse:
    return view.message(
        view.gettext("This link no longer works"),
        view.gettext("A link to answer works once, until the decision's deadline. Open the decision's page to take a stance."),
        410,
    )


@pages.post("/answer/{secret}", response_class=HTMLResponse)
async def record_answer(
    request: Request, secret: str, reason: Annotated[str, Form()] = "", principle: Annotated[str, Form()] = ""
) -> Response:
    """The stance is taken as the member the link was sent to (the link is its credential, as a sign-in
    link is); the link is spent once the stance is recorded, so a refusal leaves it usable."""
    view = await page(request)
    answer = await sessions.answer_of(view.accord.pool, secret)
    if answer is None:
        return _spent_answer(view)
    command = TakeStance(
        actor=answer.member_id, point_id=answer.point_id, stance=StanceKind(answer.stance), reason=reason.strip() or None,
        principle=principle or None,
    )
    try:
        await view.accord.decision_command(answer.decision_id, command, alliance_id=answer.alliance_id)
    except Refused as error:
        return await _answer_page(view, answer, secret, STATUS[error.kind], error.message)
    await sessions.answer_of(view.accord.pool, secret, spend=True)
    return view.message(
        view.gettext("Your stance is recorded"),
        view.gettext("Your stance on %(point)s is recorded.") % {"point": answer.point_id},
    )


# --- the member's settings -----------------------------------------------------------------------------

KINDS = {
    "decision_opened": N_("A decision is opened"), "reminder": N_("A reminder before a deadline"),
    "stance_cleared": N_("A point I answered was amended"), "point_added": N_("A point is added"),
    "decision_stalled": N_("A decision stalls"), "deadline_extended": N_("A deadline is extended"),
    "decision_closed": N_("A decision is closed"), "*": N_("Everything else"),
}
WAYS = {"email": N_("by email"), "webhook": N_("to my webhook"), "none": N_("not at all (I look on the pages)")}


@pages.get("/settings", response_class=HTMLResponse)
async def settings_page(request: Request, saved: bool = False) -> Response:
    view = await page(request)
    if view.session is None:
        return to_sign_in()
    return await _settings(view, saved=saved)


async def _settings(view: Page, status: int = 200, **values: Any) -> HTMLResponse:
    assert view.session is not None
    me = view.session.holder
    mine = await contacts.contact(view.accord, me.alliance_id, me.member_id, me)
    member = (await view.accord.alliance(me.alliance_id, me)).member(me.member_id)
    webhook = member is not None and member.webhook_url is not None
    chosen = {kind: mail.channel(mine.delivery, kind, webhook=webhook, email=mine.email is not None) for kind in KINDS}
    return view.render(
        "settings.html", status, mine=mine, kinds=KINDS, ways=WAYS, chosen=chosen, languages={"en": "English", "es": "Español"},
        **{"saved": False, "error": None, "calendar_url": None, **values},
    )


@pages.post("/settings", response_class=HTMLResponse)
async def save_settings(request: Request) -> Response:
    form = await request.form()
    view, refused = await posted(request, str(form.get("csrf", "")))
    if refused is not None:
        return refused
    assert view.session is not None
    me = view.session.holder
    email = str(form.get("email", "")).strip()
    language = str(form.get("language", ""))
    delivery = {kind: str(form[f"deliver-{kind}"]) for kind in KINDS if f"deliver-{kind}" in form}
    try:
        await contacts.set_contact(
            view.accord, me.alliance_id, me.member_id, me.member_id, email=email or None, language=language or None, delivery=delivery
        )
    except Refused as error:
        return await _settings(view, STATUS[error.kind], error=error.message)
    return RedirectResponse("/web/settings?saved=true", status_code=303)


@pages.post("/settings/calendar", response_class=HTMLResponse)
async def new_calendar(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
    """A new address for the member's calendar feed, shown once (the one before stops working)."""
    view, refused = await posted(request, csrf)
    if refused is not None:
        return refused
    assert view.session is not None
    secret = await calendars.new_feed(view.accord.pool, view.session.holder)
    return await _settings(view, calendar_url=f"{view.settings.base_url}/web/calendar/{secret}.ics")


@pages.get("/calendar/{secret}.ics")
async def calendar_feed(request: Request, secret: str) -> Response:
    """The feed a calendar polls: the address is its credential (no cookie goes with a calendar's request)."""
    accord: Accord = request.app.state.accord
    holder = await calendars.feed_holder(accord.pool, secret)
    if holder is None:
        return Response("no calendar at this address: make a new one on your settings page\n", 404, media_type="text/plain")
    settings: Settings = request.app.state.settings
    return Response(await calendars.feed(accord, holder, settings.base_url), media_type="text/calendar")


# --- the record ----------------------------------------------------------------------------------------


@pages.get("/audit/{stream_id}", response_class=HTMLResponse)
async def timeline(request: Request, stream_id: str) -> Response:
    """A stream's events as the record holds them, with its chain checked and its newest event proven in
    the alliance's log (for whoever may read the stream's record, as over the API)."""
    view = await page(request)
    if view.session is None:
        return to_sign_in()
    me = view.session.holder
    try:
        stream_id = await view.accord.readable_record(stream_id, me)
    except Refused as error:
        return view.message(view.gettext("Not found"), error.message, STATUS[error.kind])
    replayed = await audit.replay(view.accord.store, stream_id)
    chain = await view.accord.store.verify(streams=[stream_id])
    return view.render(
        "timeline.html", stream_id=stream_id, replayed=replayed, summary=audit.event_summary, broken=chain.broken,
        proven=await _proven(view, stream_id, replayed.version, me),
    )


class Proven(NamedTuple):
    """What the page says of the newest event's place in the alliance's log."""

    checkpoint: str | None
    size: int
    signed: bool
    included: bool


async def _proven(view: Page, stream_id: str, version: int, me: TokenHolder) -> Proven:
    try:
        proof = await transparency.prove(view.accord, stream_id, version, me)
    except Refused:  # no checkpoint covers it yet
        return Proven(None, 0, signed=False, included=False)
    text, signatures = split_note(proof.checkpoint)
    try:
        verify_inclusion(
            proof.leaf_index, proof.tree_size, leaf_hash(bytes.fromhex(proof.event_hash)),
            [base64.b64decode(node) for node in proof.proof], Checkpoint.parse(text).root,
        )
        included = True
    except (ValueError, NoteError):
        included = False
    return Proven(proof.checkpoint, proof.tree_size, signed_by(text, signatures, log_keys(view.settings)), included)


@pages.get("/audit/{stream_id}/export")
async def export_record(request: Request, stream_id: str, format: str = "html") -> Response:
    view = await page(request)
    if view.session is None:
        return to_sign_in()
    try:
        stream_id = await view.accord.readable_record(stream_id, view.session.holder)
        document = await audit.export(view.accord.store, [stream_id], format, datetime.now(UTC))
    except Refused as error:
        return view.message(view.gettext("Not found"), error.message, STATUS[error.kind])
    media = {"html": "text/html", "md": "text/markdown", "json": "application/json", "jsonl": "application/x-ndjson"}[format]
    disposition = "inline" if format == "html" else f'attachment; filename="{stream_id}.{format}"'
    return Response(document, media_type=media, headers={"Content-Disposition": disposition})


# --- disputes ------------------------------------------------------------------------------------------

LADDER = (DisputeStage.NEGOTIATION, DisputeStage.MEDIATION, DisputeStage.PANEL, DisputeStage.APPEAL_WINDOW, DisputeStage.APPEAL)
"""The dispute ladder's steps as its page shows them, in order (a draw and a stalled panel belong to a step)."""
STEP_OF = {DisputeStage.DRAWING: None, DisputeStage.PANEL_STALLED: DisputeStage.PANEL}
DISPUTE_ACTIONS = {"propose", "accept", "object_mediator", "impasse", "rule", "appeal", "withdraw", "contribute", "extend_panel", "refer"}
"""The commands a dispute's page sends (the decider says who may send each, and when); raising, assigning a
mediator and interim measures stay with the CLI and the API."""
STAGE_NAMES = {
    DisputeStage.NEGOTIATION: N_("negotiation"), DisputeStage.MEDIATION: N_("mediation"), DisputeStage.PANEL: N_("panel"),
    DisputeStage.PANEL_STALLED: N_("panel, stalled"), DisputeStage.APPEAL_WINDOW: N_("time to appeal"), DisputeStage.APPEAL: N_("appeal"),
    DisputeStage.DRAWING: N_("a draw is open"), DisputeStage.SETTLED: N_("settled"), DisputeStage.FINAL: N_("final"),
    DisputeStage.REFERRED: N_("referred to the assembly"), DisputeStage.WITHDRAWN: N_("withdrawn"),
}
RULING_NAMES = {
    RulingKind.UPHOLD: N_("uphold the complaint"), RulingKind.DISMISS: N_("dismiss it"), RulingKind.TERMS: N_("settle on terms"),
}
FIELDS = ("text", "terms_id", "reason", "ruling", "terms", "reasons", "contribution")


@pages.get("/disputes/{dispute_id}", response_class=HTMLResponse)
async def dispute_page(request: Request, dispute_id: str, did: str | None = None) -> Response:
    view = await page(request)
    if view.session is None:
        return to_sign_in()
    return await _dispute(view, dispute_id, did=view.gettext("Done: it is recorded.") if did in DISPUTE_ACTIONS else None)


async def _dispute(view: Page, dispute_id: str, status: int = 200, **values: Any) -> HTMLResponse:
    assert view.session is not None
    me = view.session.holder
    try:
        seen = await view.accord.dispute(dispute_id, me)
    except Refused as error:
        return view.message(view.gettext("Not found"), error.message, STATUS[error.kind])
    if not isinstance(seen, DisputeView):  # an outline: that it exists, and its stage
        return view.render("dispute_outline.html", status, outline=seen, stages=STAGE_NAMES)
    state = seen.state
    step = STEP_OF.get(state.stage, state.stage)
    if state.stage == DisputeStage.DRAWING and state.draw is not None:
        step = {"mediation": DisputeStage.MEDIATION, "mediator": DisputeStage.MEDIATION, "panel": DisputeStage.PANEL}.get(
            state.draw.purpose, DisputeStage.APPEAL
        )
    return view.render(
        "dispute.html", status, dispute=state, ladder=LADDER, step=step, me=me.member_id, party=me.member_id in state.parties,
        panelist=me.member_id in state.panel, coordinator=me.member_id in state.context.coordinators,
        mediator=me.member_id == state.mediator, rulings=RULING_NAMES, stages=STAGE_NAMES, must_act=me.member_id in seen.must_act,
        **{"error": None, "did": None, **values},
    )


@pages.post("/disputes/{dispute_id}/{action}", response_class=HTMLResponse)
async def dispute_action(request: Request, dispute_id: str, action: str) -> Response:
    form = await request.form()
    view, refused = await posted(request, str(form.get("csrf", "")))
    if refused is not None:
        return refused
    assert view.session is not None
    if action not in DISPUTE_ACTIONS:
        return view.message(view.gettext("Not found"), view.gettext("There is no such action."), 404)
    me = view.session.holder
    fields = {name: str(form[name]).strip() for name in FIELDS if str(form.get(name, "")).strip()}
    if action == "contribute" and "contribution" not in fields:  # no script ran to make the bytes in the browser
        fields["contribution"] = secrets.token_hex(32)
    try:
        command = TypeAdapter(DisputeCommand).validate_python({"type": action, "actor": me.member_id, **fields})
        await view.accord.dispute_command(dispute_id, command, alliance_id=me.alliance_id)
    except ValidationError as error:
        return await _dispute(view, dispute_id, 422, error=(action, _first_problem(error)))
    except Refused as error:
        return await _dispute(view, dispute_id, STATUS[error.kind], error=(action, error.message))
    return RedirectResponse(f"/web/disputes/{dispute_id}?did={action}", status_code=303)


def install(app: FastAPI) -> None:
    """Serve the pages and their stylesheet beside the API."""
    app.include_router(pages)
    app.mount("/web/static", StaticFiles(packages=[("accord", "static")]), name="web-static")
