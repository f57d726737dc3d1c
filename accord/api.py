"""The HTTP API: the application layer (`accord.app.Accord`) over HTTP, with bearer-token identities.

Every route is a thin translation: authenticate, build the domain command with the authenticated
member as its actor (never a field of the request), call the application layer, answer with its
receipts. A `Refused` from the domain becomes one HTTP status per refusal kind, and invalid input gets
the same 422 shape as FastAPI's own validation errors, so clients handle a single format.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import secrets
import uuid
from collections.abc import Awaitable, Generator
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, cast

import structlog
import swagger_ui_bundle  # type: ignore[import-untyped]  # ships no types: only the assets' path is used
import uvicorn
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, Response, status
from fastapi import Path as FastAPIPath
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from accord import __version__, contacts
from accord.app import (
    Accord,
    DecisionView,
    Founded,
    IssuedToken,
    NotificationRow,
    TokenInfo,
)
from accord.audit import (
    Check,
    ReceiptCheck,
    Replayed,
    WhatIf,
    check,
    check_receipt,
    export,
    replay,
    whatif,
)
from accord.config import Settings
from accord.failures import LIBRARY_ERRORS, as_accord_error
from events import access
from events.access import TokenHolder as Identity
from events.alliance import (
    AdmitMember,
    AllianceCommand,
    AllianceState,
    AmendCharter,
    FoundAlliance,
    Member,
    ParkedPoint,
    ReinstateMember,
    RemoveMember,
    Role,
    Roles,
    SetRoles,
    SetWebhook,
    SuspendMember,
)
from events.charter import Charter, DecisionRules
from events.decision import (
    MAX_POINTS,
    AddPoint,
    AmendPoint,
    ApplyFallback,
    CloseDecision,
    DecisionCommand,
    DecisionRow,
    ExtendDeadline,
    PointDraft,
    StanceKind,
    TakeStance,
    WithdrawDecision,
    WithdrawPoint,
)
from events.errors import AccordError, ConfigurationError, Unavailable
from events.processes import DECISION
from events.rules import Duration, RefusalKind, Refused, Slug, Text
from events.store import MAX_VERSION, BrokenStream, StreamHead
from events.streams import StreamId
from workflows.shapes import CommandResult

log = structlog.get_logger("accord.api")

REFUSAL_STATUS = {
    RefusalKind.FORBIDDEN: status.HTTP_403_FORBIDDEN,
    RefusalKind.INVALID: status.HTTP_422_UNPROCESSABLE_CONTENT,
    RefusalKind.NOT_FOUND: status.HTTP_404_NOT_FOUND,
    RefusalKind.CONFLICT: status.HTTP_409_CONFLICT,
}


# --- request and response bodies ------------------------------------------------------------------


class Body(BaseModel):
    # Unknown fields are refused, so a client that sends an `actor` learns that it is not taken from the body.
    model_config = ConfigDict(extra="forbid")


class FoundRequest(Body):
    alliance_id: Slug
    founder_id: Slug
    founder_name: Text
    founder_webhook_url: AnyHttpUrl | None = None
    charter: Charter


class AdmitRequest(Body):
    member_id: Slug
    name: Text
    roles: Roles = [Role.MEMBER]
    webhook_url: AnyHttpUrl | None = None


class ReasonRequest(Body):
    reason: Text


class RolesRequest(Body):
    roles: Roles


class WebhookRequest(Body):
    webhook_url: AnyHttpUrl | None
    """null clears the webhook."""


class AmendRequest(Body):
    charter: Charter
    reason: Text


class TokenRequest(Body):
    label: str = ""


class OpenDecisionRequest(Body):
    decision_id: Slug
    title: Text
    body: str = ""
    points: list[PointDraft] = Field(min_length=1, max_length=MAX_POINTS)
    response_window: Duration | None = None
    """'7d', '36h', ...; the charter's default window when absent, and it must lie within the charter's bounds."""


class StanceRequest(Body):
    point_id: str
    stance: StanceKind
    reason: str | None = None
    """Required to object or block."""
    principle: str | None = None
    """A core principle of the charter that a block cites; such a block is never overridden."""


class PointTextRequest(Body):
    text: Text


class NewPointRequest(Body):
    text: Text
    origin: str | None = None
    """A parked point this one takes up: '<decision>/<point>'."""


class Problem(BaseModel):
    detail: str


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    database: str
    temporal: str


# --- dependencies ---------------------------------------------------------------------------------


def accord_of(request: Request) -> Accord:
    accord: Accord = request.app.state.accord
    return accord


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


bearer = HTTPBearer(auto_error=False, description="an accord API token: `Authorization: Bearer acc_...`")

AccordDep = Annotated[Accord, Depends(accord_of)]
SettingsDep = Annotated[Settings, Depends(settings_of)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def unauthorized(message: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, message, headers={"WWW-Authenticate": "Bearer"})


async def identified(accord: AccordDep, credentials: Credentials) -> Identity:
    """The member or auditor the bearer token stands for."""
    if credentials is None:
        raise unauthorized("missing credentials: send `Authorization: Bearer <token>`")
    identity = await accord.authenticate(credentials.credentials)
    if identity is None:
        raise unauthorized("unknown or revoked token")
    return identity


Reader = Annotated[Identity, Depends(identified)]
"""For the audit routes, which members and auditors may call: the route checks the alliance itself."""


async def authenticated(identity: Reader) -> Identity:
    """The member the bearer token stands for; an auditor's token is refused outside the audit routes."""
    access.not_an_auditor(identity)
    return identity


Caller = Annotated[Identity, Depends(authenticated)]
"""For routes without the alliance in the path (decisions): the route checks the alliance itself."""


async def authenticated_member(alliance_id: str, identity: Caller) -> Identity:
    """The member the bearer token stands for; it must belong to the alliance in the path."""
    access.speaks_for(identity, alliance_id, f"alliance {alliance_id!r}")
    return identity


Actor = Annotated[Identity, Depends(authenticated_member)]


async def administrator(accord: AccordDep, settings: SettingsDep, credentials: Credentials) -> None:
    """Founding is the one operation outside any alliance: it needs the server's admin token."""
    if not settings.admin_token:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "founding an alliance over the API needs ACCORD_ADMIN_TOKEN to be set on the server; "
            "without it, found the alliance with `accord alliance found`",
        )
    if credentials is None:
        raise unauthorized("founding an alliance needs the admin token: send `Authorization: Bearer <token>`")
    if secrets.compare_digest(credentials.credentials.encode(), settings.admin_token.encode()):
        return
    if await accord.authenticate(credentials.credentials) is not None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "an alliance's token cannot found alliances; use the admin token")
    raise unauthorized("unknown token: founding an alliance needs the admin token (ACCORD_ADMIN_TOKEN)")


# --- refusals -------------------------------------------------------------------------------------


def _refused(error: Refused) -> JSONResponse:
    detail: Any = error.message
    if error.kind is RefusalKind.INVALID:
        location = ["body", *error.field.split(".")] if error.field else ["body"]
        detail = [{"loc": location, "msg": error.message, "type": "value_error"}]
    return JSONResponse({"detail": detail}, status_code=REFUSAL_STATUS[error.kind])


def _answer(error: AccordError) -> JSONResponse:
    """Each branch of the error tree (events/errors.py) as its status."""
    if isinstance(error, Refused):
        return _refused(error)
    if isinstance(error, Unavailable):
        return JSONResponse(
            {"detail": error.message, "outcome_unknown": error.outcome_unknown},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": str(error.retry_after)},
        )
    code = status.HTTP_500_INTERNAL_SERVER_ERROR if isinstance(error, ConfigurationError) else status.HTTP_409_CONFLICT
    return JSONResponse({"detail": error.message}, status_code=code)


async def error_response(request: Request, error: Exception) -> Response:
    """accord's errors, and what the libraries raise read as them; anything else is a defect of accord,
    answered with a reference to the log line that holds its traceback. The pages answer with a page."""
    known = as_accord_error(error)
    if known is not None:
        log.info("not done", method=request.method, path=request.url.path, error=type(known).__name__, reason=known.message)
        response, message = _answer(known), known.message
    else:
        reference = uuid.uuid4().hex[:12]
        log.error("internal error", method=request.method, path=request.url.path, reference=reference, exc_info=error)
        message = f"internal error (reference {reference}): nothing is known to be recorded; the server's log holds the details"
        response = JSONResponse({"detail": message}, status_code=status.HTTP_500_INTERNAL_SERVER_ERROR)
    if request.url.path == "/web" or request.url.path.startswith("/web/"):
        from accord import web  # here: the pages build on this module

        return web.error_page(request, response.status_code, message)
    return response


def _json_safe(value: Any) -> Any:
    """A value as JSON can hold it: a number beyond a float (read from '1e400' as infinity) as text."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        mapping = cast("dict[str, Any]", value)
        return {key: _json_safe(item) for key, item in mapping.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in cast(Any, value)]
    return value


async def invalid_request(request: Request, error: Exception) -> JSONResponse:
    """FastAPI's 422 for a body, path or query that does not validate, whatever input it quotes."""
    assert isinstance(error, RequestValidationError)
    errors = _json_safe(jsonable_encoder(error.errors()))
    return JSONResponse({"detail": errors}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


async def unreadable_body(request: Request, error: Exception) -> Response:
    """A body that cannot be read as JSON text at all (bytes that are not UTF-8, nesting too deep to
    parse) is invalid input like any other: the 422 of a JSON decode error, where FastAPI answers a 400
    of its own shape. Every other HTTPException is answered as FastAPI answers it."""
    assert isinstance(error, StarletteHTTPException)
    if error.status_code == status.HTTP_400_BAD_REQUEST and error.__cause__ is not None:  # FastAPI's "error parsing the body"
        reason = f"{type(error.__cause__).__name__}: {error.__cause__}"
        detail = [{"type": "json_invalid", "loc": ["body"], "msg": "JSON decode error", "input": {}, "ctx": {"error": reason}}]
        return JSONResponse({"detail": detail}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)
    return await http_exception_handler(request, error)


MAX_BODY_BYTES = 1_000_000
"""The largest request body the API reads (1 MB): far above what the longest command can hold
(events/text.py), and far below Temporal's payload limit."""


class BodyLimit:
    """Refuse a request body over MAX_BODY_BYTES with 413 before it is parsed: by its declared length
    when it has one, else by reading it (at most that much) before the application does."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            await self._refuse(scope, receive, send)
            return
        messages: list[Message] = []
        size, more = 0, True
        while more:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            more = message.get("more_body", False)
            if size > MAX_BODY_BYTES:
                await self._refuse(scope, receive, send)
                return

        async def replayed() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replayed, send)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send) -> None:
        detail = f"the request body is larger than {MAX_BODY_BYTES} bytes, the most this API reads"
        await JSONResponse({"detail": detail}, status_code=status.HTTP_413_CONTENT_TOO_LARGE)(scope, receive, send)


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "missing, unknown or revoked token"},
    403: {"model": Problem, "description": "the token's member may not do this, or belongs to another alliance"},
    404: {"model": Problem, "description": "no such alliance, member, token, decision or point"},
    409: {"model": Problem, "description": "the alliance, member or decision is not in a state that allows this"},
}

# --- routes: service ------------------------------------------------------------------------------

service = APIRouter(tags=["service"])


async def _probe(check: Awaitable[object]) -> str:
    try:
        healthy = await asyncio.wait_for(check, timeout=5)
    except Exception as error:  # noqa: BLE001 - any failure means: not available; the log has the details
        log.warning("health check failed", error=repr(error))
        return f"unavailable ({type(error).__name__})"
    return "ok" if healthy else "unavailable (not serving)"


@service.get("/health", summary="Check the database and Temporal", responses={503: {"model": Health}})
async def health(accord: AccordDep, response: Response) -> Health:
    database, temporal = await asyncio.gather(
        _probe(accord.pool.fetchval("SELECT 1")),
        _probe(accord.client.service_client.check_health()),
    )
    ok = database == temporal == "ok"
    if not ok:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return Health(status="ok" if ok else "unavailable", database=database, temporal=temporal)


# --- routes: alliances ----------------------------------------------------------------------------

founding = APIRouter(tags=["alliances"], responses=ERRORS)


@founding.post(
    "/alliances",
    status_code=status.HTTP_201_CREATED,
    summary="Found an alliance (admin token); answers with the founder's token, shown once",
    dependencies=[Depends(administrator)],
)
async def found(body: FoundRequest, accord: AccordDep) -> Founded:
    return await accord.found_alliance(FoundAlliance(**dict(body)))


alliances = APIRouter(prefix="/alliances/{alliance_id}", responses=ERRORS)


@alliances.get("", tags=["alliances"], summary="The alliance: charter and members")
async def alliance_state(alliance_id: str, reader: Reader, accord: AccordDep) -> AllianceState:
    return await accord.alliance(alliance_id, reader)


@alliances.get("/members", tags=["members"], summary="The alliance's members, removed ones included")
async def members(alliance_id: str, reader: Reader, accord: AccordDep) -> list[Member]:
    return list((await accord.alliance(alliance_id, reader)).members.values())


@alliances.get("/head", tags=["alliances"], summary="The head of the alliance's event stream (version and hash)")
async def head(alliance_id: str, reader: Reader, accord: AccordDep) -> StreamHead:
    return await accord.alliance_head(alliance_id, reader)


@alliances.put("/charter", tags=["alliances"], summary="Amend the charter (coordinators)")
async def amend_charter(body: AmendRequest, actor: Actor, accord: AccordDep) -> CommandResult:
    return await alliance_command(accord, actor, AmendCharter(actor=actor.member_id, charter=body.charter, reason=body.reason))


# --- routes: members ------------------------------------------------------------------------------


async def alliance_command(accord: Accord, actor: Identity, command: AllianceCommand) -> CommandResult:
    result = await accord.alliance_command(actor.alliance_id, command)
    log.info("command recorded", alliance=actor.alliance_id, actor=actor.member_id, command=command.type)
    return result


@alliances.post(
    "/members", tags=["members"], status_code=status.HTTP_201_CREATED, summary="Admit a member (coordinators)"
)
async def admit(body: AdmitRequest, actor: Actor, accord: AccordDep) -> CommandResult:
    return await alliance_command(accord, actor, AdmitMember(actor=actor.member_id, **dict(body)))


@alliances.post("/members/{member_id}/suspend", tags=["members"], summary="Suspend a member (coordinators)")
async def suspend(member_id: str, body: ReasonRequest, actor: Actor, accord: AccordDep) -> CommandResult:
    return await alliance_command(accord, actor, SuspendMember(actor=actor.member_id, member_id=member_id, reason=body.reason))


@alliances.post(
    "/members/{member_id}/reinstate", tags=["members"], summary="Reinstate a suspended member (coordinators)"
)
async def reinstate(member_id: str, actor: Actor, accord: AccordDep) -> CommandResult:
    return await alliance_command(accord, actor, ReinstateMember(actor=actor.member_id, member_id=member_id))


@alliances.delete(
    "/members/{member_id}",
    tags=["members"],
    summary="Remove a member (coordinators, or a member leaving); the reason in the body or as ?reason=",
)
async def remove(
    member_id: str,
    actor: Actor,
    accord: AccordDep,
    body: ReasonRequest | None = None,
    reason: Annotated[Text | None, Query(description="why; instead of a body")] = None,
) -> CommandResult:
    reason = body.reason if body is not None else reason
    if reason is None:
        raise RequestValidationError(
            [{"type": "missing", "loc": ("body", "reason"), "msg": "Field required (in the body or as ?reason=)"}]
        )
    return await alliance_command(accord, actor, RemoveMember(actor=actor.member_id, member_id=member_id, reason=reason))


@alliances.put("/members/{member_id}/roles", tags=["members"], summary="Set a member's roles (coordinators)")
async def set_roles(member_id: str, body: RolesRequest, actor: Actor, accord: AccordDep) -> CommandResult:
    return await alliance_command(accord, actor, SetRoles(actor=actor.member_id, member_id=member_id, roles=body.roles))


@alliances.put(
    "/members/{member_id}/webhook",
    tags=["members"],
    summary="Set or clear a member's webhook (the member or coordinators)",
)
async def set_webhook(member_id: str, body: WebhookRequest, actor: Actor, accord: AccordDep) -> CommandResult:
    command = SetWebhook(actor=actor.member_id, member_id=member_id, webhook_url=body.webhook_url)
    return await alliance_command(accord, actor, command)


class ContactRequest(Body):
    email: str | None = Field(default=None, max_length=254, description="where sign-in links and email go")
    language: Literal["en", "es"] | None = Field(default=None, description="the language of the member's pages and emails")
    delivery: dict[str, str] | None = Field(
        default=None, max_length=50,
        description='how each kind of notification goes, email, webhook or none: {"reminder": "email", "*": "none"}',
    )


@alliances.put(
    "/members/{member_id}/contact",
    tags=["members"],
    summary="Set a member's email address and language, kept beside the record (the member or coordinators)",
)
async def set_contact(member_id: str, body: ContactRequest, actor: Actor, accord: AccordDep) -> contacts.Contact:
    return await contacts.set_contact(
        accord, actor.alliance_id, actor.member_id, member_id, email=body.email, language=body.language, delivery=body.delivery
    )


@alliances.get("/members/{member_id}/contact", tags=["members"], summary="A member's contact (the member or coordinators)")
async def get_contact(member_id: str, actor: Actor, accord: AccordDep) -> contacts.Contact:
    return await contacts.contact(accord, actor.alliance_id, member_id, actor)


@alliances.delete(
    "/members/{member_id}/contact", tags=["members"], summary="Erase a member's address and language (the member or coordinators)"
)
async def erase_contact(member_id: str, actor: Actor, accord: AccordDep) -> contacts.Contact:
    return await contacts.set_contact(accord, actor.alliance_id, actor.member_id, member_id, erase=True)


# --- routes: tokens -------------------------------------------------------------------------------


@alliances.post(
    "/members/{member_id}/tokens",
    tags=["tokens"],
    status_code=status.HTTP_201_CREATED,
    summary="Issue an API token for a member (the member or coordinators); the token is shown once",
)
async def issue_token(member_id: str, body: TokenRequest, actor: Actor, accord: AccordDep) -> IssuedToken:
    return await accord.issue_token(actor.alliance_id, actor.member_id, member_id, body.label)


@alliances.get(
    "/members/{member_id}/tokens", tags=["tokens"], summary="A member's tokens, without their secrets"
)
async def tokens(member_id: str, actor: Actor, accord: AccordDep) -> list[TokenInfo]:
    return await accord.tokens(actor.alliance_id, actor.member_id, member_id)


@alliances.delete("/tokens/{token_id}", tags=["tokens"], summary="Revoke a token (its member or coordinators)")
async def revoke_token(token_id: uuid.UUID, actor: Actor, accord: AccordDep) -> TokenInfo:
    return await accord.revoke_token(actor.alliance_id, actor.member_id, token_id)


# --- routes: decisions ----------------------------------------------------------------------------


@alliances.post(
    "/decisions",
    tags=["decisions"],
    status_code=status.HTTP_201_CREATED,
    summary="Open a decision (active members); the charter's rules and the electorate are pinned now",
)
async def open_decision(body: OpenDecisionRequest, actor: Actor, accord: AccordDep) -> CommandResult:
    result = await accord.open_decision(
        actor.alliance_id,
        actor.member_id,
        body.decision_id,
        body.title,
        body.points,
        body=body.body,
        response_window=body.response_window,
    )
    log.info("decision opened", alliance=actor.alliance_id, actor=actor.member_id, decision=body.decision_id)
    return result


@alliances.get("/decisions", tags=["decisions"], summary="The alliance's decisions and the stage each is in")
async def decisions(alliance_id: str, reader: Reader, accord: AccordDep) -> list[DecisionRow]:
    return await accord.decisions(alliance_id, reader)


@alliances.get(
    "/parked", tags=["decisions"], summary="Points that decisions parked, kept until a new decision takes them up"
)
async def parked(alliance_id: str, reader: Reader, accord: AccordDep) -> list[ParkedPoint]:
    return list((await accord.alliance(alliance_id, reader)).parked.values())


@alliances.get(
    "/members/{member_id}/notifications",
    tags=["members"],
    summary="A member's notifications, newest first (the member or coordinators)",
)
async def notifications(member_id: str, actor: Actor, accord: AccordDep) -> list[NotificationRow]:
    return await accord.notifications(actor.alliance_id, actor.member_id, member_id)


decision_routes = APIRouter(prefix="/decisions/{decision_id}", tags=["decisions"], responses=ERRORS)


@decision_routes.get("", summary="A decision: its state, a tally per point, what is due next and who has not responded")
async def decision(decision_id: str, reader: Reader, accord: AccordDep) -> DecisionView:
    return await accord.decision(decision_id, reader)


async def _decide(accord: Accord, caller: Identity, decision_id: str, command: DecisionCommand) -> CommandResult:
    # The application layer refuses a decision of another alliance than the token's, before sending anything.
    result = await accord.decision_command(decision_id, command, alliance_id=caller.alliance_id)
    log.info("command recorded", decision=decision_id, actor=caller.member_id, command=command.type)
    return result


@decision_routes.post("/stances", summary="Take a stance on a point (the electorate); a reason to object or block")
async def take_stance(decision_id: str, body: StanceRequest, caller: Caller, accord: AccordDep) -> CommandResult:
    return await _decide(accord, caller, decision_id, TakeStance(actor=caller.member_id, **dict(body)))


@decision_routes.put(
    "/points/{point_id}", summary="Amend a point (the proposer, while open); stances on it are cleared"
)
async def amend_point(
    decision_id: str, point_id: str, body: PointTextRequest, caller: Caller, accord: AccordDep
) -> CommandResult:
    command = AmendPoint(actor=caller.member_id, point_id=point_id, text=body.text)
    return await _decide(accord, caller, decision_id, command)


@decision_routes.post(
    "/points", status_code=status.HTTP_201_CREATED, summary="Add a point (the proposer, while open)"
)
async def add_point(decision_id: str, body: NewPointRequest, caller: Caller, accord: AccordDep) -> CommandResult:
    return await _decide(accord, caller, decision_id, AddPoint(actor=caller.member_id, **dict(body)))


@decision_routes.delete("/points/{point_id}", summary="Withdraw a point (the proposer, while open)")
async def withdraw_point(decision_id: str, point_id: str, caller: Caller, accord: AccordDep) -> CommandResult:
    return await _decide(accord, caller, decision_id, WithdrawPoint(actor=caller.member_id, point_id=point_id))


@decision_routes.post("/withdraw", summary="Withdraw the decision (the proposer or coordinators)")
async def withdraw_decision(
    decision_id: str, body: ReasonRequest, caller: Caller, accord: AccordDep
) -> CommandResult:
    command = WithdrawDecision(actor=caller.member_id, reason=body.reason)
    return await _decide(accord, caller, decision_id, command)


@decision_routes.post("/extend", summary="Extend a stalled decision's deadline (coordinators)")
async def extend(decision_id: str, caller: Caller, accord: AccordDep) -> CommandResult:
    return await _decide(accord, caller, decision_id, ExtendDeadline(actor=caller.member_id))


@decision_routes.post("/fallback", summary="Resolve a stalled decision by the charter's fallback rule (coordinators)")
async def fallback(decision_id: str, caller: Caller, accord: AccordDep) -> CommandResult:
    return await _decide(accord, caller, decision_id, ApplyFallback(actor=caller.member_id))


@decision_routes.post("/close", summary="Close a stalled decision as it stands (coordinators)")
async def close(decision_id: str, caller: Caller, accord: AccordDep) -> CommandResult:
    return await _decide(accord, caller, decision_id, CloseDecision(actor=caller.member_id))


# --- routes: audit --------------------------------------------------------------------------------
#
# Read-only: members of the alliance and its auditors may call them. What-if is a POST only because it
# carries the rules to compare with; it writes nothing. A dispute's record is kept from members who may
# not read the dispute; auditors, named by the coordinators, read what coordinators read.


class ChainReport(BaseModel):
    """The hash chains of an alliance's streams (those the caller may read), recomputed. A chain cannot
    show that its newest events were cut off: `check` each stream against its workflow for that."""

    ok: bool
    streams: list[str]
    events_checked: int
    streams_checked: int
    broken: list[BrokenStream]


class CheckResult(BaseModel):
    """A stream checked against its live workflow: state, head, and a replay of its Temporal history."""

    stream_id: str
    ok: bool
    checks: list[Check]


ExportFormat = Literal["json", "jsonl", "md", "html"]
EXPORT_MEDIA_TYPES: dict[str, str] = {
    "json": "application/json",
    "jsonl": "application/x-ndjson",
    "md": "text/markdown; charset=utf-8",
    "html": "text/html; charset=utf-8",
}
EXPORTED: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the report: json (one document), jsonl (one event per line), md or html",
        "content": {media_type.split(";")[0]: {} for media_type in EXPORT_MEDIA_TYPES.values()},
    }
}


async def alliance_streams(alliance_id: str, reader: Reader, accord: AccordDep) -> list[str]:
    """The alliance's streams whose record the reader may read (access.may_read_record)."""
    return await accord.readable_streams(alliance_id, reader)


ReadableStreams = Annotated[list[str], Depends(alliance_streams)]


async def _exported(accord: Accord, streams: list[str], fmt: str, name: str) -> Response:
    # The streams are those the reader may read (Accord.readable_streams, Accord.readable_record).
    document = await export(accord.store, streams, fmt, datetime.now(UTC))
    return Response(
        document,
        media_type=EXPORT_MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'inline; filename="{name}.{fmt}"'},
    )


FormatQuery = Annotated[ExportFormat, Query(alias="format", description="json, jsonl, md or html")]

alliance_audit = APIRouter(prefix="/alliances/{alliance_id}/audit", tags=["audit"], responses=ERRORS)


@alliance_audit.get("/verify", summary="Recompute the hash chains of every stream of the alliance")
async def verify_alliance(streams: ReadableStreams, accord: AccordDep) -> ChainReport:
    report = await accord.store.verify(streams=streams)
    return ChainReport(ok=report.ok, streams=streams, **dict(report))


@alliance_audit.get(
    "/export", summary="A self-contained report of every process of the alliance", response_class=Response,
    responses=EXPORTED,
)
async def export_alliance(
    alliance_id: str, streams: ReadableStreams, accord: AccordDep, fmt: FormatQuery = "json"
) -> Response:
    return await _exported(accord, streams, fmt, f"alliance-{alliance_id}-audit")


audit_routes = APIRouter(prefix="/audit", tags=["audit"], responses=ERRORS)


@audit_routes.get(
    "/streams/{stream_id}/replay",
    summary="A process rebuilt from the record at a version or a moment (default: now), with its timeline",
)
async def replay_stream(
    stream_id: str,
    reader: Reader,
    accord: AccordDep,
    at: Annotated[int | None, Query(ge=1, le=MAX_VERSION, description="stop at this version of the stream")] = None,
    as_of: Annotated[datetime | None, Query(description="stop at this moment (UTC unless an offset is given)")] = None,
) -> Replayed:
    stream_id = await accord.readable_record(stream_id, reader)
    if as_of is not None and as_of.utcoffset() is None:
        as_of = as_of.replace(tzinfo=UTC)
    return await replay(accord.store, stream_id, at=at, as_of=as_of)


@audit_routes.get(
    "/streams/{stream_id}/check",
    summary="Compare the record with the live workflow (state, head, history replay); ok=false names what differs",
)
async def check_stream(stream_id: str, reader: Reader, accord: AccordDep) -> CheckResult:
    stream_id = await accord.readable_record(stream_id, reader)
    report = await check(accord, stream_id)
    return CheckResult(stream_id=stream_id, ok=report.ok, checks=report.checks)


@audit_routes.get(
    "/streams/{stream_id}/export", summary="A self-contained report of one process", response_class=Response,
    responses=EXPORTED,
)
async def export_stream(stream_id: str, reader: Reader, accord: AccordDep, fmt: FormatQuery = "json") -> Response:
    stream_id = await accord.readable_record(stream_id, reader)
    return await _exported(accord, [stream_id], fmt, stream_id)


@audit_routes.get(
    "/receipts/{stream_id}/{version}/{hash}",
    summary="Is this receipt (stream, version, hash) still in the record? in_record=false says why not",
)
async def receipt(
    stream_id: str,
    version: Annotated[int, FastAPIPath(ge=1, le=MAX_VERSION)],
    hash_hex: Annotated[str, FastAPIPath(alias="hash", pattern="^[0-9a-fA-F]{64}$", description="sha-256, hex")],
    reader: Reader,
    accord: AccordDep,
) -> ReceiptCheck:
    stream_id = await accord.readable_record(stream_id, reader)
    return await check_receipt(accord.store, stream_id, version, hash_hex)


@audit_routes.post(
    "/decisions/{decision_id}/whatif",
    summary="How a closed decision would have ended under other decision rules (the body); nothing is written",
)
async def whatif_decision(decision_id: str, rules: DecisionRules, reader: Reader, accord: AccordDep) -> WhatIf:
    stream_id = await accord.readable_record(StreamId(DECISION.kind, decision_id), reader)
    return await whatif(accord.store, stream_id, rules)


# --- the application and its server ---------------------------------------------------------------


def create_app(accord: Accord, settings: Settings) -> FastAPI:
    app = FastAPI(
        title="accord",
        version=__version__,
        summary="Governance of alliances as durable, auditable workflows",
        docs_url=None,  # served below from local assets: the docs page works offline
        redoc_url=None,
    )
    app.state.accord = accord
    app.state.settings = settings
    handled: tuple[type[Exception], ...] = (AccordError, *LIBRARY_ERRORS)
    for kind in handled:
        app.add_exception_handler(kind, error_response)
    app.add_middleware(BodyLimit)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(StarletteHTTPException, unreadable_body)
    app.add_exception_handler(Exception, error_response)  # a defect: answered, then logged by the server too
    for router in (service, founding, alliances, decision_routes, alliance_audit, audit_routes):
        app.include_router(router)
    from accord.api_costs import routers as cost_routers
    from accord.api_disputes import routers as dispute_routers  # here: these modules build on this one
    from accord.api_log import routers as log_routers

    for router in (*dispute_routers, *log_routers, *cost_routers):
        app.include_router(router)
    from accord import web

    web.install(app)
    _offline_docs(app)
    return app


def _offline_docs(app: FastAPI) -> None:
    """The API's docs page (`/docs`), with Swagger UI's script and style served by accord itself (from the
    swagger-ui-bundle wheel) rather than from a CDN: it works on a machine without internet access."""
    app.mount("/docs/assets", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:  # pyright: ignore[reportUnusedFunction]  # registered by the decorator
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} API",
            swagger_js_url="/docs/assets/swagger-ui-bundle.js", swagger_css_url="/docs/assets/swagger-ui.css",
            swagger_favicon_url="/docs/assets/favicon-32x32.png",
        )


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers: whoever runs it decides when it stops, through `stop`."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


async def serve(accord: Accord, settings: Settings, stop: asyncio.Event) -> None:
    """Serve the API until `stop` is set, then finish the requests in flight."""
    server = _Server(
        uvicorn.Config(create_app(accord, settings), host=settings.api_host, port=settings.api_port, log_config=None)
    )

    async def stop_when_set() -> None:
        await stop.wait()
        server.should_exit = True

    watcher = asyncio.create_task(stop_when_set())
    try:
        await server.serve()
    except SystemExit:
        # uvicorn exits the process when it cannot listen; the dev stack wants an error it can report.
        raise RuntimeError(f"the HTTP API could not listen on {settings.api_host}:{settings.api_port}") from None
    finally:
        watcher.cancel()


def main() -> None:
    """`python -m accord.api`: the same as `accord api` (which connects, migrates and serves until a signal)."""
    from accord.cli import main as cli

    cli(["api"])


if __name__ == "__main__":
    main()
