"""Disputes through the HTTP API and the real `accord dispute` command, on the time-skipping server and a
fresh PostgreSQL database: the confidentiality matrix, the ladder, and refusals that record nothing.

The matrix: every role (raiser, respondent, mediator, panelist, coordinator, another member, a member of
another alliance) against every read (CLI show and list, API GET of the dispute and of the list, the
audit exports) and a representative write (a ruling), with the charter keeping a dispute's existence
public and confidential.
Someone who may not know that a dispute exists gets exactly the answer of a dispute that does not exist.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_support import bearer, client_for, validation_error
from dispute_support import (
    COORDINATOR,
    MEMBERS,
    RAISER,
    RESPONDENT,
    alliance_for_disputes,
    in_stage,
    skip_to,
    state_of,
    unique,
)
from temporalio.testing import WorkflowEnvironment

from accord.app import Accord
from accord.config import Settings
from accord.examples import CHARTER as EXAMPLE_CHARTER
from events.access import outside_the_dispute
from events.alliance import AdmitMember, FoundAlliance, Role
from events.charter import load_charter
from events.processes import DISPUTE
from events.store import EventStore

ROOT = Path(__file__).resolve().parent.parent
DESCRIPTION = "dune took the banner to a rally we boycotted"
NEUTRAL = ["juniper", "kale", "lime"]
"""Members beyond the roles of dispute_support: with them, an appeal panel of three leaves three of the
members no step of the ladder drew (at most two of whom, the coordinator and an objected mediator, read
the dispute anyway)."""


# --- the command line, run as an operator runs it -------------------------------------------------------


@dataclass
class Ran:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@dataclass
class Cli:
    env: dict[str, str]

    async def __call__(self, command_line: str) -> Ran:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "accord.cli", *shlex.split(command_line),
            env=self.env, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
        assert process.returncode is not None
        return Ran(process.returncode, stdout.decode(), stderr.decode())


@pytest.fixture
def cli(tmp_path: Path, time_skipping_env: WorkflowEnvironment, db_url: str, task_queue: str) -> Cli:
    """`accord` pointed at the test's server, database and task queue, with no other accord settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ACCORD_", "TEMPORAL_")) and k != "XDG_CONFIG_HOME"}
    env |= {
        "HOME": str(tmp_path),
        "TEMPORAL_ADDRESS": time_skipping_env.client.service_client.config.target_host,
        "ACCORD_DATABASE_URL": db_url,
        "ACCORD_TASK_QUEUE": task_queue,
    }
    return Cli(env)


@pytest.fixture
async def client(skipping_app: Accord) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(skipping_app, Settings()) as api:
        yield api


# --- a dispute with every role filled -------------------------------------------------------------------


@dataclass
class Scene:
    alliance_id: str
    dispute_id: str
    roles: dict[str, str]
    """role -> member id (the outsider: a member of another alliance)"""
    tokens: dict[str, str]
    """role -> API token"""
    other_alliance: str
    """the outsider's alliance"""

    @property
    def stream(self) -> str:
        return DISPUTE.stream_name(self.dispute_id, self.alliance_id)


READERS = ("raiser", "respondent", "mediator", "panelist", "coordinator")


async def dispute_with_a_panel(app: Accord, env: WorkflowEnvironment, client: httpx.AsyncClient, confidential: bool) -> Scene:
    """cedar raises (over the API) a dispute with dune; negotiation runs out; the mediator declares an impasse.

    The panel is drawn at random (the workflow's seed), and coordinators may be drawn: with two of them
    (gw and kit), one is free of the panel unless both are drawn, and then the scene is set up again.
    """
    # Another alliance whose founder has the same member id as this alliance's coordinator.
    other = await app.found_alliance(
        FoundAlliance(alliance_id=unique("lakes"), charter=load_charter(EXAMPLE_CHARTER),
                      founder_id=COORDINATOR, founder_name="Lake Watch")
    )
    for _ in range(8):
        alliance_id = await alliance_for_disputes(app, existence_confidential=confidential)
        await app.alliance_command(alliance_id, AdmitMember(actor=COORDINATOR, member_id="kit", name="Kit", roles=[Role.COORDINATOR]))
        members = [*MEMBERS, "kit"]
        tokens = {m: (await app.issue_token(alliance_id, COORDINATOR, m, "test")).token for m in members}
        dispute_id = unique("x")
        raised = await client.post(
            f"/alliances/{alliance_id}/disputes",
            json={"dispute_id": dispute_id, "respondents": [RESPONDENT], "subject": "Use of the shared banner",
                  "description": DESCRIPTION},
            headers=bearer(tokens[RAISER]),
        )
        assert raised.status_code == 201, raised.text
        [receipt] = raised.json()["receipts"]
        assert (receipt["stream_id"], receipt["stream_version"]) == (DISPUTE.stream_name(dispute_id, alliance_id), 1)
        state = await state_of(app, dispute_id)
        assert state.stage_deadline is not None
        await skip_to(env, state.stage_deadline)
        drawn = (await in_stage(app, dispute_id, "mediation")).mediator
        assert drawn is not None
        mediator: str = drawn
        impasse = await client.post(f"/disputes/{dispute_id}/impasse", headers=bearer(tokens[mediator]))
        assert impasse.status_code == 200, impasse.text
        panel = (await state_of(app, dispute_id)).panel
        free = [c for c in (COORDINATOR, "kit") if c not in panel]
        if free:
            break
    readers = {RAISER, RESPONDENT, mediator, COORDINATOR, "kit", *panel}
    roles = {
        "raiser": RAISER,
        "respondent": RESPONDENT,
        "mediator": mediator,
        "panelist": next(p for p in panel if p not in (COORDINATOR, "kit")),
        "coordinator": free[0],
        "other member": next(m for m in members if m not in readers),
        "outsider": COORDINATOR,
    }
    role_tokens = {role: tokens[member] for role, member in roles.items() if role != "outsider"}
    role_tokens["outsider"] = other.token.token
    return Scene(alliance_id, dispute_id, roles, role_tokens, other.alliance_id)


def unknown(dispute_id: str) -> dict[str, str]:
    """The body of a 404 for a dispute that does not exist."""
    return {"detail": f"no dispute {dispute_id!r}"}


@pytest.mark.parametrize("confidential", [False, True], ids=["existence-public", "existence-confidential"])
async def test_the_confidentiality_matrix(
    skipping_app: Accord, time_skipping_env: WorkflowEnvironment, client: httpx.AsyncClient, cli: Cli,
    store: EventStore, confidential: bool,
) -> None:
    scene = await dispute_with_a_panel(skipping_app, time_skipping_env, client, confidential)
    dispute_id = scene.dispute_id
    bogus = unique("nothing")
    # What "does not exist" looks like, to compare with.
    nothing = await client.get(f"/disputes/{bogus}", headers=bearer(scene.tokens["raiser"]))
    assert (nothing.status_code, nothing.json()) == (404, unknown(bogus))

    # --- API reads ---
    for role, token in scene.tokens.items():
        got = await client.get(f"/disputes/{dispute_id}", headers=bearer(token))
        listed = await client.get(f"/alliances/{scene.alliance_id}/disputes", headers=bearer(token))
        if role in READERS:
            assert got.status_code == 200, (role, got.text)
            assert got.json()["state"]["description"] == DESCRIPTION
            assert [d["state"]["dispute_id"] for d in listed.json()] == [dispute_id]
            assert listed.json()[0]["state"]["description"] == DESCRIPTION
        elif role == "other member" and not confidential:
            outline = {"dispute_id": dispute_id, "alliance_id": scene.alliance_id, "stage": "panel", "confidential": True}
            assert (got.status_code, got.json()) == (200, outline), role
            assert (listed.status_code, listed.json()) == (200, [outline])
        elif role == "other member":
            assert (got.status_code, got.json()) == (404, unknown(dispute_id)), role
            assert (listed.status_code, listed.json()) == (200, [])
        else:  # a member of another alliance, whatever its member id
            assert (got.status_code, got.json()) == (404, unknown(dispute_id)), role
            assert listed.status_code == 403, listed.text
            own = await client.get(f"/alliances/{scene.other_alliance}/disputes", headers=bearer(token))
            assert (own.status_code, own.json()) == (200, [])
        assert DESCRIPTION not in got.text + listed.text or role in READERS

        # The audit endpoints keep the dispute's record to its readers as well.
        exported = await client.get(f"/alliances/{scene.alliance_id}/audit/export", headers=bearer(token))
        record = await client.get(f"/audit/streams/{scene.stream}/export", headers=bearer(token))
        if role == "outsider":
            assert (exported.status_code, record.status_code) == (403, 404), role
            continue
        assert exported.status_code == 200, (role, exported.text)
        streams = [report["stream_id"] for report in exported.json()["reports"]]
        if role in READERS:
            assert scene.stream in streams and DESCRIPTION in exported.text and record.status_code == 200, role
        else:
            assert scene.stream not in streams and DESCRIPTION not in exported.text + record.text, role
            assert record.status_code == (404 if confidential else 403), role

    # --- API write: a ruling; only the panelist may, and nobody else learns more than they could read ---
    ruling = {"ruling": "uphold", "reasons": "the banner is shared"}
    for role, token in scene.tokens.items():
        if role == "panelist":
            continue
        head = await store.head(scene.stream)
        answer = await client.post(f"/disputes/{dispute_id}/rulings", json=ruling, headers=bearer(token))
        if role in READERS:
            assert (answer.status_code, answer.json()) == (403, {"detail": f"only the panelists of dispute {dispute_id!r} may rule"}), role
        elif role == "other member" and not confidential:  # who may see the outline learns no more from a refusal
            assert (answer.status_code, answer.json()) == (403, {"detail": outside_the_dispute(dispute_id).message}), role
        else:
            assert (answer.status_code, answer.json()) == (404, unknown(dispute_id)), role
        assert await store.head(scene.stream) == head
    ruled = await client.post(f"/disputes/{dispute_id}/rulings", json=ruling, headers=bearer(scene.tokens["panelist"]))
    assert ruled.status_code == 200, ruled.text
    [receipt] = ruled.json()["receipts"]
    assert receipt["stream_version"] == (await store.head(scene.stream)).version

    # --- the command line: show and list, and a ruling by those who may not know of the dispute ---
    # Readers see the same whatever the charter says, so the confidential case runs a reader and the two
    # roles whose answer depends on it; the public case runs every role.
    as_member = dict(scene.roles, outsider="oak")  # on the command line, someone outside the alliance
    if confidential:
        as_member = {role: as_member[role] for role in ("raiser", "other member", "outsider")}
    writers = ("other member", "outsider")
    shows, lists, writes = await asyncio.gather(
        asyncio.gather(*(cli(f"dispute show {dispute_id} --as {m}") for m in as_member.values())),
        asyncio.gather(*(cli(f"dispute list {scene.alliance_id} --as {m} --json") for m in as_member.values())),
        asyncio.gather(*(cli(f"dispute rule {dispute_id} dismiss --reasons nope --as {as_member[r]} --json") for r in writers)),
    )
    for role, shown, cli_list in zip(as_member, shows, lists, strict=True):
        if role == "outsider":  # as over the API: the alliance's list is for its members
            assert (cli_list.code, json.loads(cli_list.stderr)["kind"]) == (1, "forbidden"), role
        else:
            assert cli_list.code == 0, (role, cli_list.stderr)
        if role in READERS:
            assert shown.code == 0 and DESCRIPTION in shown.stdout and "stage: panel" in shown.stdout, (role, shown)
            assert [d["state"]["description"] for d in cli_list.json()] == [DESCRIPTION]
        elif role == "other member" and not confidential:
            assert shown.code == 0, shown.stderr
            assert shown.stdout.startswith(f"dispute {dispute_id} in {scene.alliance_id}: stage panel\n")
            assert DESCRIPTION not in shown.stdout and "Use of the shared banner" not in shown.stdout
            assert cli_list.json() == [{"dispute_id": dispute_id, "alliance_id": scene.alliance_id, "stage": "panel", "confidential": True}]
        else:
            assert (shown.code, shown.stdout, shown.stderr) == (1, "", f"error: no dispute {dispute_id!r}\n"), role
            assert role == "outsider" or cli_list.json() == []
    other, outsider = writes
    assert other.code == outsider.code == 1
    assert json.loads(other.stderr) == (
        {"error": f"no dispute {dispute_id!r}", "kind": "not_found", "field": None} if confidential
        else {"error": outside_the_dispute(dispute_id).message, "kind": "forbidden", "field": None}
    )
    assert json.loads(outsider.stderr) == {"error": f"no dispute {dispute_id!r}", "kind": "not_found", "field": None}
    assert (await store.head(scene.stream)).version == receipt["stream_version"]  # the refused rulings recorded nothing


# --- the ladder over the API ------------------------------------------------------------------------------


async def tokens_for(app: Accord, alliance_id: str) -> dict[str, str]:
    issued = await asyncio.gather(*(app.issue_token(alliance_id, COORDINATOR, m, "test") for m in MEMBERS))
    return {token.member_id: token.token for token in issued}


async def test_the_ladder_over_the_api_with_every_refusal_recording_nothing(
    skipping_app: Accord, time_skipping_env: WorkflowEnvironment, client: httpx.AsyncClient, store: EventStore
) -> None:
    app, env = skipping_app, time_skipping_env
    alliance_id = await alliance_for_disputes(app)
    tokens = await tokens_for(app, alliance_id)

    async def call(method: str, path: str, member: str, **body: Any) -> httpx.Response:
        return await client.request(method, path, json=body or None, headers=bearer(tokens[member]))

    async def refused(method: str, path: str, member: str, status: int, **body: Any) -> Any:
        """A refused request; the dispute's stream must not move (the others' clocks may)."""
        stream = DISPUTE.stream_name(path.split("/")[2], alliance_id)
        head = await store.head(stream)
        answer = await call(method, path, member, **body)
        assert answer.status_code == status, answer.text
        assert await store.head(stream) == head
        return answer.json()["detail"]

    raising = {"respondents": [RESPONDENT], "subject": "Use of the shared banner", "description": DESCRIPTION}
    path = f"/alliances/{alliance_id}/disputes"
    error = validation_error(await call("POST", path, RAISER, **raising | {"dispute_id": "x", "respondents": [RAISER]}))
    assert (error["loc"], error["msg"]) == (["body", "respondents"], "a dispute cannot name its raiser as a respondent")
    error = validation_error(await call("POST", path, RAISER, **raising | {"dispute_id": "x", "respondents": ["oak"]}))
    assert error["msg"] == f"respondents must be active members of {alliance_id!r}; not members: oak"
    error = validation_error(await call("POST", path, RAISER, **raising, dispute_id="x", actor="gw"))
    assert error["loc"] == ["body", "actor"]  # the actor is the token's member, never a field
    assert (await store.head(DISPUTE.stream_name("x", alliance_id))).version == 0
    ladder, crisis, stalling = unique("x"), unique("x"), unique("x")
    for dispute_id, severity in ((ladder, "normal"), (crisis, "crisis"), (stalling, "normal")):
        created = await call("POST", path, RAISER, **raising, dispute_id=dispute_id, severity=severity)
        assert created.status_code == 201, created.text

    # Negotiation: only the parties propose and accept.
    d = f"/disputes/{ladder}"
    outside = outside_the_dispute(ladder).message  # what elm, who may see only the outline, is told of any refusal
    assert await refused("POST", f"{d}/terms", "elm", 403, text="my idea") == outside
    proposed = await call("POST", f"{d}/terms", RAISER, text="return the banner")
    assert [r["stream_version"] for r in proposed.json()["receipts"]] == [2, 3]  # proposed, and accepted by cedar
    assert await refused("POST", f"{d}/terms/t1/accept", "elm", 403) == outside
    assert await refused("POST", f"{d}/impasse", "birch", 403) == outside  # on the roster, not (yet) this dispute's mediator

    # Crisis: interim measures by coordinators, ending in the future; withdrawal by the raiser only.
    c = f"/disputes/{crisis}"
    raised_at = (await state_of(app, crisis)).raised_at
    until = (raised_at + timedelta(hours=12)).isoformat()
    assert await refused("POST", f"{c}/interim", RAISER, 403, what="no statements", until=until) == (
        "only a coordinator may record interim measures")
    [error] = await refused("POST", f"{c}/interim", COORDINATOR, 422, what="no statements", until=until[:19])
    assert error["loc"] == ["body", "until"]  # a moment without its offset is ambiguous
    assert (await call("POST", f"{c}/interim", COORDINATOR, what="no statements", until=until)).status_code == 200
    assert await refused("POST", f"{c}/withdraw", RESPONDENT, 403, reason="done") == (
        "only the member who raised the dispute ('cedar') may withdraw it")
    assert (await call("POST", f"{c}/withdraw", RAISER, reason="talked it over")).status_code == 200
    assert (await call("GET", c, RESPONDENT)).json()["state"]["stage"] == "withdrawn"

    # Mediation: never a party as mediator; one objection per party; the mediator declares the impasse.
    state = await state_of(app, ladder)
    assert state.stage_deadline is not None
    await skip_to(env, state.stage_deadline)
    mediator = (await in_stage(app, ladder, "mediation")).mediator
    assert await refused("PUT", f"{d}/mediator", COORDINATOR, 422, mediator=RESPONDENT) == [
        {"loc": ["body", "mediator"], "msg": "'dune' is a party to this dispute and cannot mediate it", "type": "value_error"}]
    assert (await call("POST", f"{d}/mediator/objection", RAISER, reason="they campaign with dune")).status_code == 200
    assert await refused("POST", f"{d}/mediator/objection", RAISER, 409, reason="again") == (
        "'cedar' has already objected to a mediator once; each party may object once")
    objected = await state_of(app, ladder)
    assert objected.mediator not in (mediator, RAISER, RESPONDENT)
    assert objected.mediator is not None
    assert await refused("POST", f"{d}/impasse", RAISER, 403) == "only the mediator may declare an impasse"
    assert (await call("POST", f"{d}/impasse", objected.mediator)).status_code == 200

    # Panel: only panelists rule; a majority decides; a party appeals within the window.
    panel = (await state_of(app, ladder)).panel
    assert not set(panel) & {RAISER, RESPONDENT, objected.mediator}
    assert await refused("POST", f"{d}/rulings", RESPONDENT, 403, ruling="dismiss", reasons="not me") == (
        f"only the panelists of dispute {ladder!r} may rule")
    [error] = await refused("POST", f"{d}/rulings", panel[0], 422, ruling="terms", reasons="fair")
    assert (error["loc"], error["msg"]) == (["body", "terms"], "a ruling of terms must state the terms")
    for panelist in panel[:2]:
        ruled = await call("POST", f"{d}/rulings", panelist, ruling="terms", terms="share the banner", reasons="fair")
        assert ruled.status_code == 200, ruled.text
    assert [e.event_type for e in await store.read_stream(DISPUTE.stream_name(ladder, alliance_id))][-2:] == ["RulingSubmitted", "PanelDecided"]
    assert (await state_of(app, ladder)).stage == "appeal_window"
    # elm may have been drawn for the panel (then a reader, told why), or see only the outline.
    elm_reads = "elm" in panel
    assert await refused("POST", f"{d}/appeal", "elm", 403, reason="r") == (
        f"only the parties to dispute {ladder!r} may appeal" if elm_reads else outside
    )
    assert (await call("POST", f"{d}/appeal", RESPONDENT, reason="the panel ignored our vote")).status_code == 200
    view = (await call("GET", d, RESPONDENT)).json()
    assert (view["state"]["stage"], view["state"]["appeal_decision"]) == ("appeal", f"appeal-{ladder}")

    # A panel that reaches no majority in time: extended once (coordinators, steering), then referred.
    s = f"/disputes/{stalling}"
    state = await in_stage(app, stalling, "mediation")  # raised just after the first: its deadline a moment later
    assert state.mediator is not None
    assert (await call("POST", f"{s}/impasse", state.mediator)).status_code == 200
    deadline = (await state_of(app, stalling)).stage_deadline
    assert deadline is not None
    await skip_to(env, deadline)
    await in_stage(app, stalling, "panel_stalled")
    assert await refused("POST", f"{s}/panel/extend", "elm", 403) in (  # elm may sit on this panel, or see only the outline
        "only coordinators and steering members may extend the panel", outside_the_dispute(stalling).message,
    )
    assert (await call("POST", f"{s}/panel/extend", "amber")).status_code == 200
    assert await refused("POST", f"{s}/refer", COORDINATOR, 409, reason="r") == (
        f"dispute {stalling!r} is in panel; the dispute can be referred to the assembly only in panel_stalled")
    deadline = (await state_of(app, stalling)).stage_deadline
    assert deadline is not None
    await skip_to(env, deadline)
    await in_stage(app, stalling, "panel_stalled")
    assert (await call("POST", f"{s}/refer", COORDINATOR, reason="no majority twice")).status_code == 200
    assert (await call("GET", s, COORDINATOR)).json()["state"]["outcome"] == "referred to the assembly"


# --- the ladder on the command line ---------------------------------------------------------------------


async def test_the_ladder_on_the_command_line(
    skipping_app: Accord, time_skipping_env: WorkflowEnvironment, cli: Cli, store: EventStore
) -> None:
    """Every command once, with --json where its receipts matter; refusals are checked over the API above
    and in the matrix (each `accord` run costs about a second, so they run together where they can)."""
    app, env = skipping_app, time_skipping_env
    alliance_id = await alliance_for_disputes(app)
    for member in NEUTRAL:  # so that some member stays outside the ladder's appeal panel too
        await app.alliance_command(alliance_id, AdmitMember(actor=COORDINATOR, member_id=member, name=member.title(), roles=[Role.MEMBER]))
    ladder, crisis, settling = unique("x"), unique("x"), unique("x")
    raise_ = f"dispute raise {alliance_id} {{}} --respondent dune --subject 'Use of the banner' --description '{DESCRIPTION}' --as cedar"

    raised, raised_crisis, raised_settling, raiser_as_respondent = await asyncio.gather(
        cli(raise_.format(ladder)),
        cli(raise_.format(crisis) + " --severity crisis --json"),
        cli(raise_.format(settling)),
        cli(f"dispute raise {alliance_id} {unique('x')} --respondent cedar --subject s --description d --as cedar --json"),
    )
    assert raised.code == 0, raised.stderr
    [first] = await store.read_stream(DISPUTE.stream_name(ladder, alliance_id))
    assert raised.stdout.startswith(f"raised dispute {ladder!r} with dune; negotiate until ")
    assert f"receipt: {DISPUTE.stream_name(ladder, alliance_id)} v1 position {first.global_position} hash {first.hash.hex()}" in raised.stdout
    assert raised_crisis.code == 0 and raised_crisis.json()["receipts"][0]["stream_id"] == DISPUTE.stream_name(crisis, alliance_id)
    assert raised_settling.code == 0, raised_settling.stderr
    assert raiser_as_respondent.code == 1 and json.loads(raiser_as_respondent.stderr) == {
        "error": "a dispute cannot name its raiser as a respondent", "kind": "invalid", "field": "respondents"}

    # Settlement: dune's own proposal counts as its acceptance; cedar accepts it.
    until = ((await state_of(app, crisis)).raised_at + timedelta(hours=12)).isoformat()
    proposed, interim, respondent_withdraws = await asyncio.gather(
        cli(f"dispute propose {settling} --text 'share the banner by turns' --as dune --json"),
        cli(f"dispute interim {crisis} --what 'no statements on the banner' --until {until} --as gw --json"),
        cli(f"dispute withdraw {crisis} --reason done --as dune"),
    )
    assert proposed.code == 0 and [r["stream_version"] for r in proposed.json()["receipts"]] == [2, 3], proposed.stderr
    assert interim.code == 0, interim.stderr
    assert (respondent_withdraws.code, respondent_withdraws.stdout, respondent_withdraws.stderr) == (
        1, "", "error: only the member who raised the dispute ('cedar') may withdraw it\n")
    accepted, withdrawn = await asyncio.gather(
        cli(f"dispute accept {settling} t1 --as cedar --json"),
        cli(f"dispute withdraw {crisis} --reason 'talked it over' --as cedar --json"),
    )
    assert accepted.code == 0 and len(accepted.json()["receipts"]) == 2, accepted.stderr  # accepted, and settled
    assert (await state_of(app, settling)).stage == "settled"
    assert withdrawn.code == 0 and (await state_of(app, crisis)).stage == "withdrawn"
    assert [e.event_type for e in await store.read_stream(DISPUTE.stream_name(crisis, alliance_id))][-2:] == ["InterimMeasureRecorded", "DisputeWithdrawn"]

    # Mediation: no party as mediator; one objection each; the mediator's impasse draws the panel.
    state = await state_of(app, ladder)
    assert state.stage_deadline is not None
    await skip_to(env, state.stage_deadline)
    mediator = (await in_stage(app, ladder, "mediation")).mediator
    party_mediates, objected = await asyncio.gather(
        cli(f"dispute assign-mediator {ladder} dune --as gw"),
        cli(f"dispute object-mediator {ladder} --reason 'they campaign with dune' --as cedar --json"),
    )
    assert (party_mediates.code, party_mediates.stderr) == (1, "error: 'dune' is a party to this dispute and cannot mediate it\n")
    assert objected.code == 0, objected.stderr
    mediator = (await state_of(app, ladder)).mediator
    impasse = await cli(f"dispute impasse {ladder} --as {mediator} --json")
    assert impasse.code == 0 and [r["stream_id"] for r in impasse.json()["receipts"]] == [DISPUTE.stream_name(ladder, alliance_id)] * 2

    # Panel: a party may not rule; a majority of panelists decides; a party appeals.
    panel = (await state_of(app, ladder)).panel
    rulings = await asyncio.gather(
        *(cli(f"dispute rule {ladder} terms --terms 'share the banner' --reasons fair --as {p} --json") for p in panel[:2])
    )
    assert all(r.code == 0 for r in rulings), [r.stderr for r in rulings]
    appealed = await cli(f"dispute appeal {ladder} --reason 'the panel ignored our vote' --as dune --json")
    assert appealed.code == 0, appealed.stderr
    appealed = await state_of(app, ladder)
    involved = {RAISER, RESPONDENT, COORDINATOR, *panel, *appealed.mediator_objections.values(), mediator, *appealed.appeal_panel}
    lister = next(m for m in [*MEMBERS, *NEUTRAL] if m not in involved)  # a member who may read none of the three
    shown, listed = await asyncio.gather(cli(f"dispute show {ladder} --as cedar"), cli(f"dispute list {alliance_id} --as {lister}"))
    assert shown.code == 0, shown.stderr
    for line in (
        f"Use of the banner ({ladder}) in {alliance_id}: cedar with dune",
        "stage: appeal",
        f"description: {DESCRIPTION}",
        f"mediator: {mediator} (cedar objected to ",
        "ruling: terms (share the banner): fair; fair",
        f"appealed by dune: decision appeal-{ladder}",
    ):
        assert line in shown.stdout, (line, shown.stdout)
    assert listed.code == 0, listed.stderr
    assert sorted(listed.stdout.splitlines()) == sorted([  # raised at once: in any order
        f"{ladder:24} {'appeal':14} (confidential)", f"{crisis:24} {'withdrawn':14} (confidential)",
        f"{settling:24} {'settled':14} (confidential)",
    ])


async def test_a_party_contributes_to_an_open_draw_over_the_api_and_on_the_command_line(
    skipping_app: Accord, time_skipping_env: WorkflowEnvironment, client: httpx.AsyncClient, cli: Cli, store: EventStore
) -> None:
    """The respondent sends its own bytes over the API, the raiser lets `accord dispute contribute` make them:
    the draw is made at once, and `audit verify` recomputes it. Refusals are specific and record nothing."""
    app = skipping_app
    alliance_id = await alliance_for_disputes(app, draws="open")
    tokens = {m: (await app.issue_token(alliance_id, COORDINATOR, m, "test")).token for m in (RAISER, RESPONDENT, "elm")}
    dispute_id = unique("x")
    raised = await client.post(
        f"/alliances/{alliance_id}/disputes",
        json={"dispute_id": dispute_id, "respondents": [RESPONDENT], "subject": "The banner", "description": DESCRIPTION},
        headers=bearer(tokens[RAISER]),
    )
    assert raised.status_code == 201, raised.text
    route = f"/disputes/{dispute_id}/draw/contributions"
    mine = "5a" * 32
    early = await client.post(route, json={"contribution": mine}, headers=bearer(tokens[RESPONDENT]))
    assert early.status_code == 409 and "only in drawing" in early.json()["detail"], early.text
    state = await state_of(app, dispute_id)
    assert state.stage_deadline is not None
    await skip_to(time_skipping_env, state.stage_deadline)
    await in_stage(app, dispute_id, "drawing")
    stream = DISPUTE.stream_name(dispute_id, alliance_id)
    before = (await store.head(stream)).version

    bad = await client.post(route, json={"contribution": "my lucky number"}, headers=bearer(tokens[RESPONDENT]))
    assert bad.status_code == 422 and "64 lowercase hexadecimal characters" in validation_error(bad)["msg"], bad.text
    outsider = await client.post(route, json={"contribution": mine}, headers=bearer(tokens["elm"]))
    assert outsider.status_code == 403, outsider.text
    assert (await store.head(stream)).version == before
    shown = await cli(f"dispute show {dispute_id} --as {RESPONDENT}")
    assert shown.code == 0 and "draw 0 (mediation) open until" in shown.stdout and "contributed: nobody yet" in shown.stdout, shown

    ours = await client.post(route, json={"contribution": mine}, headers=bearer(tokens[RESPONDENT]))
    assert ours.status_code == 200, ours.text
    ran = await cli(f"dispute contribute {dispute_id} --as {RAISER} --json")
    assert ran.code == 0, ran.stderr
    mediation = await in_stage(app, dispute_id, "mediation")
    [assigned] = [e for e in await store.read_stream(stream) if e.event_type == "MediatorAssigned"]
    contributions = assigned.data["draw"]["contributions"]
    assert contributions[RESPONDENT] == mine and len(contributions[RAISER]) == 64 and contributions[RAISER] != mine
    assert [mediation.mediator] == assigned.data["draw"]["drawn"]
    verified = await cli(f"audit verify --alliance {alliance_id}")
    assert verified.code == 0 and "1 draw(s) recomputed" in verified.stdout, verified
