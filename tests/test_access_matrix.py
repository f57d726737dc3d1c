"""One access policy: every role against every command and read, through the real `accord` command and
the HTTP API, must get the same answer from each.

Two twin alliances are set up alike, down to their ids: the same members and roles, and a decision and a
dispute of the same ids in each (ids are scoped to their alliance, so that two alliances may use one: the
matrix also shows that each side reaches its own alliance's process and never the other's). The command
line walks the matrix on one, the API on the other, in the same order, so that each command meets the
same state on both sides. An answer is its kind (ok, forbidden, not_found, conflict, invalid); for
members, also the refusal's message; for a read that succeeds, the shape of what was seen (which fields,
which kinds of rows), so that an outline on one side and the full dispute on the other would differ.

The roles: a coordinator, a steering member, the dispute's raiser and respondent, a plain member, a
suspended and a removed member, the alliance's auditor, and an outsider (on the command line a member id
the alliance does not have; over the API a token of another alliance whose member has a member id of
this alliance). A decision or a dispute is named within an alliance: over the API the token's, on the
command line the one given with `--alliance` (the twin's; the outsider gives its own, as its token does).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_support import bearer, client_for
from cli_support import Cli, cli_against
from decision_support import alliance_with_members, unique
from temporalio.testing import WorkflowEnvironment

from accord.app import Accord
from accord.config import Settings
from events.alliance import AdmitMember, RemoveMember, SuspendMember
from events.decision import PointDraft

ROLES = {
    "coordinator": "gw",
    "steering": "amber",
    "raiser": "cedar",
    "respondent": "dune",
    "member": "elm",
    "suspended": "fir",
    "removed": "oak",
    "auditor": "auditor:firm",
    "outsider": "zed",  # over the API: the token of 'elm' in another alliance
}
HOOK = "http://127.0.0.1:9/hook"  # nothing listens: deliveries fail and are retried, harmlessly


@dataclass(frozen=True)
class Op:
    """One command or read: the command line (a template) and the HTTP request that do the same."""

    name: str
    cli: str
    method: str
    path: str
    body: dict[str, Any] | None = None
    shape: bool = True
    """Compare the shape of what a read returns (False where the two interfaces print different reports)."""
    parallel: bool = False
    """A command whose answer to one role cannot depend on another role's: run for all roles at once."""


READS = [
    Op("alliance", "alliance show {A}", "GET", "/alliances/{A}"),
    Op("members", "member list {A}", "GET", "/alliances/{A}/members"),
    Op("parked", "alliance parked {A}", "GET", "/alliances/{A}/parked"),
    Op("decisions", "decision list {A}", "GET", "/alliances/{A}/decisions"),
    Op("decision", "decision show {D} --alliance {S}", "GET", "/decisions/{D}"),
    Op("disputes", "dispute list {A}", "GET", "/alliances/{A}/disputes"),
    Op("dispute", "dispute show {X} --alliance {S}", "GET", "/disputes/{X}"),
    Op("notifications", "member notifications {A} cedar", "GET", "/alliances/{A}/members/cedar/notifications"),
    Op("tokens", "token list {A} cedar", "GET", "/alliances/{A}/members/cedar/tokens"),
    # A stream's full name on the command line; over the API its short one, named in the token's alliance.
    Op("replay decision", "audit replay decision-{S}.{D}", "GET", "/audit/streams/decision-{D}/replay"),
    Op("replay dispute", "audit replay dispute-{S}.{X}", "GET", "/audit/streams/dispute-{X}/replay"),
    Op("check dispute", "audit check dispute-{S}.{X}", "GET", "/audit/streams/dispute-{X}/check"),
    Op("export alliance", "audit export --alliance {A} --format json", "GET", "/alliances/{A}/audit/export"),
    Op("verify alliance", "audit verify --alliance {A}", "GET", "/alliances/{A}/audit/verify", shape=False),
]

# In this order on both sides; the state each meets is the same. A parallel command is one where no
# role's answer can depend on another's: it changes nothing here (refused to all, or a conflict), only
# what is the role's own (a stance, a new member or token of its own naming), or only one role may.
COMMANDS = [
    Op("stance", "decision stance {D} p1 agree --alliance {S}", "POST", "/decisions/{D}/stances", {"point_id": "p1", "stance": "agree"}, parallel=True),
    Op("amend", "decision amend {D} p2 --text 'Share the hall, in turns' --alliance {S}", "PUT", "/decisions/{D}/points/p2",
       {"text": "Share the hall, in turns"}, parallel=True),
    Op("add point", "decision add-point {D} --text 'Pay for the hall' --alliance {S}", "POST", "/decisions/{D}/points",
       {"text": "Pay for the hall"}, parallel=True),
    Op("withdraw point", "decision withdraw-point {D} p3 --alliance {S}", "DELETE", "/decisions/{D}/points/p3", parallel=True),
    Op("extend", "decision extend {D} --alliance {S}", "POST", "/decisions/{D}/extend", parallel=True),
    Op("fallback", "decision fallback {D} --alliance {S}", "POST", "/decisions/{D}/fallback", parallel=True),
    Op("close", "decision close {D} --alliance {S}", "POST", "/decisions/{D}/close", parallel=True),
    Op("open decision", "decision open {A} d-{R}-{T} --title Minutes --point 'Keep minutes'", "POST", "/alliances/{A}/decisions",
       {"decision_id": "d-{R}-{T}", "title": "Minutes", "points": [{"text": "Keep minutes"}]}, parallel=True),
    Op("admit", "member admit {A} new-{R} --name Newcomer", "POST", "/alliances/{A}/members",
       {"member_id": "new-{R}", "name": "Newcomer"}, parallel=True),
    Op("suspend", "member suspend {A} dune --reason 'dues unpaid'", "POST", "/alliances/{A}/members/dune/suspend",
       {"reason": "dues unpaid"}),
    Op("reinstate", "member reinstate {A} dune", "POST", "/alliances/{A}/members/dune/reinstate"),
    Op("roles", "member roles {A} elm --role member --role steering", "PUT", "/alliances/{A}/members/elm/roles",
       {"roles": ["member", "steering"]}),
    Op("webhook", f"member webhook {{A}} cedar --url {HOOK}", "PUT", "/alliances/{A}/members/cedar/webhook",
       {"webhook_url": HOOK}),
    Op("token", "token issue {A} cedar --label matrix", "POST", "/alliances/{A}/members/cedar/tokens", {"label": "matrix"}, parallel=True),
    Op("raise dispute", "dispute raise {A} y-{R}-{T} --respondent amber --subject Minutes --description 'Late minutes'",
       "POST", "/alliances/{A}/disputes",
       {"dispute_id": "y-{R}-{T}", "respondents": ["amber"], "subject": "Minutes", "description": "Late minutes"},
       parallel=True),
    Op("propose terms", "dispute propose {X} --text 'Return the banner' --alliance {S}", "POST", "/disputes/{X}/terms",
       {"text": "Return the banner"}),
    Op("assign mediator", "dispute assign-mediator {X} birch --alliance {S}", "PUT", "/disputes/{X}/mediator", {"mediator": "birch"},
       parallel=True),
    Op("object to mediator", "dispute object-mediator {X} --reason partial --alliance {S}", "POST", "/disputes/{X}/mediator/objection",
       {"reason": "partial"}, parallel=True),
    Op("impasse", "dispute impasse {X} --alliance {S}", "POST", "/disputes/{X}/impasse", parallel=True),
    Op("rule", "dispute rule {X} dismiss --reasons none --alliance {S}", "POST", "/disputes/{X}/rulings",
       {"ruling": "dismiss", "reasons": "none"}, parallel=True),
    Op("extend panel", "dispute extend-panel {X} --alliance {S}", "POST", "/disputes/{X}/panel/extend", parallel=True),
    Op("refer", "dispute refer {X} --reason stuck --alliance {S}", "POST", "/disputes/{X}/refer", {"reason": "stuck"}, parallel=True),
    Op("appeal", "dispute appeal {X} --reason unfair --alliance {S}", "POST", "/disputes/{X}/appeal", {"reason": "unfair"}, parallel=True),
    Op("interim", "dispute interim {X} --what 'No statements' --until 2031-01-01T00:00:00Z --alliance {S}", "POST", "/disputes/{X}/interim",
       {"what": "No statements", "until": "2031-01-01T00:00:00Z"}, parallel=True),
    Op("accept terms", "dispute accept {X} t1 --alliance {S}", "POST", "/disputes/{X}/terms/t1/accept"),  # the parties settle
]


@dataclass
class Twin:
    tag: str
    alliance_id: str
    decision_id: str
    dispute_id: str
    tokens: dict[str, str]
    """role -> API token of its member, issued while the member was active"""
    outsiders: str = ""
    """the outsider's own alliance (over the API, its token's)"""

    def fill(self, template: str, role: str) -> str:
        """`{S}` is the alliance a decision or a dispute is named in: the twin's, but the outsider's own for it."""
        scope = self.outsiders if role == "outsider" else self.alliance_id
        return (template.replace("{A}", self.alliance_id).replace("{S}", scope).replace("{D}", self.decision_id)
                .replace("{X}", self.dispute_id).replace("{R}", role).replace("{T}", self.tag))

    def fill_body(self, body: dict[str, Any] | None, role: str) -> dict[str, Any] | None:
        return None if body is None else json.loads(self.fill(json.dumps(body), role))

    def normal(self, text: str) -> str:
        """A message with this twin's ids replaced by placeholders, to compare with the other twin's."""
        for value, name in ((self.alliance_id, "{A}"), (self.decision_id, "{D}"), (self.dispute_id, "{X}"), (self.tag, "{T}")):
            text = text.replace(value, name)
        return text


async def twin(app: Accord, tag: str, decision_id: str, dispute_id: str) -> Twin:
    """An alliance with every role; a decision opened by the coordinator; a dispute cedar raised with dune."""
    alliance_id = await alliance_with_members(app, unique(f"rivers-{tag}"))
    for member in ("elm", "fir", "oak"):
        await app.alliance_command(alliance_id, AdmitMember(actor="gw", member_id=member, name=member.title()))
    members = {role: member for role, member in ROLES.items() if role not in ("auditor", "outsider")}
    # Tokens are issued while their members are active: a suspension or a removal does not revoke them.
    tokens = {role: (await app.issue_token(alliance_id, "gw", member, "matrix")).token for role, member in members.items()}
    tokens["auditor"] = (await app.issue_auditor_token(alliance_id, "gw", "firm")).token
    await app.alliance_command(alliance_id, SuspendMember(actor="gw", member_id="fir", reason="dues unpaid"))
    await app.alliance_command(alliance_id, RemoveMember(actor="gw", member_id="oak", reason="left the region"))
    points = [PointDraft(text="Book the hall"), PointDraft(text="Share the hall")]  # p1, p2
    await app.open_decision(alliance_id, "gw", decision_id, "The hall", points)
    await app.raise_dispute(alliance_id, "cedar", dispute_id, ["dune"], "The banner", "dune kept the banner")
    return Twin(tag, alliance_id, decision_id, dispute_id, tokens)


@dataclass(frozen=True)
class Answer:
    kind: str
    message: str | None = None
    shape: Any = None


def shape(value: Any) -> Any:
    """What a read let its reader see, without the values: keys, and the distinct shapes of rows."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in sorted(value.items())}
    if isinstance(value, list):
        return sorted({json.dumps(shape(item), sort_keys=True) for item in value})
    return None


async def by_cli(cli: Cli, twin: Twin, op: Op, role: str) -> Answer:
    ran = await cli(f"{twin.fill(op.cli, role)} --as {ROLES[role]} --json")
    if ran.code == 0:
        return Answer("ok", shape=shape(json.loads(ran.stdout)) if op.shape and op in READS else None)
    assert ran.code == 1, (op.name, role, ran)  # a refusal, never a defect or an outage
    error = ran.error_json()
    return Answer(error["kind"], twin.normal(error["error"]))


STATUS_KINDS = {403: "forbidden", 404: "not_found", 409: "conflict", 422: "invalid"}


async def by_api(client: httpx.AsyncClient, tokens: dict[str, str], twin: Twin, op: Op, role: str) -> Answer:
    response = await client.request(
        op.method, twin.fill(op.path, role), json=twin.fill_body(op.body, role), headers=bearer(tokens[role])
    )
    if response.is_success:
        return Answer("ok", shape=shape(response.json()) if op.shape and op in READS else None)
    assert response.status_code in STATUS_KINDS, (op.name, role, response.status_code, response.text)
    detail = response.json()["detail"]
    message = detail if isinstance(detail, str) else detail[0]["msg"]
    return Answer(STATUS_KINDS[response.status_code], twin.normal(message))


@pytest.fixture
async def client(app: Accord) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app, Settings()) as api:
        yield api


async def test_every_role_gets_the_same_answer_from_the_cli_and_the_api(
    app: Accord, client: httpx.AsyncClient, tmp_path: Path, temporal_env: WorkflowEnvironment, db_url: str, task_queue: str
) -> None:
    cli = cli_against(tmp_path, temporal_env, db_url, task_queue)
    decision_id, dispute_id = unique("hall"), unique("banner")  # the same in both twins
    on_cli, on_api = await twin(app, "cli", decision_id, dispute_id), await twin(app, "api", decision_id, dispute_id)
    tokens = dict(on_api.tokens)
    lakes = await alliance_with_members(app, unique("lakes"))
    on_cli.outsiders = on_api.outsiders = lakes
    await app.alliance_command(lakes, AdmitMember(actor="gw", member_id="elm", name="Elm of the lakes"))
    tokens["outsider"] = (await app.issue_token(lakes, "gw", "elm", "matrix")).token

    differences: list[str] = []
    seen: dict[str, set[str]] = {}
    # Commands in a fixed order on both sides (they change the state later rows meet), then the reads.
    for op in COMMANDS:
        if op.parallel:
            cli_answers = await asyncio.gather(*(by_cli(cli, on_cli, op, role) for role in ROLES))
            for role, cli_answer in zip(ROLES, cli_answers, strict=True):
                _compare(op, role, cli_answer, await by_api(client, tokens, on_api, op, role), differences, seen)
            continue
        for role in ROLES:
            cli_answer = await by_cli(cli, on_cli, op, role)
            api_answer = await by_api(client, tokens, on_api, op, role)
            _compare(op, role, cli_answer, api_answer, differences, seen)
    for op in READS:
        cli_answers = await asyncio.gather(*(by_cli(cli, on_cli, op, role) for role in ROLES))
        for role, cli_answer in zip(ROLES, cli_answers, strict=True):
            _compare(op, role, cli_answer, await by_api(client, tokens, on_api, op, role), differences, seen)
    assert len(seen) == len(COMMANDS) + len(READS)
    assert not differences, "\n".join(differences)

    # The matrix is not trivially uniform: each kind of answer is given somewhere, and the readers of the
    # dispute see more of it than the others (the shapes differ).
    assert {"ok", "forbidden", "not_found", "conflict", "invalid"} <= set().union(*seen.values())
    assert seen["dispute"] >= {"ok", "not_found"} and seen["stance"] >= {"ok", "forbidden"}
    assert seen["accept terms"] >= {"ok", "forbidden"}  # the respondent settled: a coordinator may not accept


def _compare(op: Op, role: str, cli: Answer, api: Answer, differences: list[str], seen: dict[str, set[str]]) -> None:
    seen.setdefault(op.name, set()).add(cli.kind)
    same = cli.kind == api.kind and cli.shape == api.shape
    if role not in ("auditor", "outsider"):  # their identities differ by interface (a token, --as): kinds only
        same = same and cli.message == api.message
    if not same:
        differences.append(f"{op.name} as {role}: cli {cli} != api {api}")
