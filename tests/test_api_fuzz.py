"""The HTTP API fuzzed from its own OpenAPI document with schemathesis, against real state.

What is fuzzed: every operation of the document the API serves (`/openapi.json`), each with
MAX_EXAMPLES cases drawn by schemathesis (positive and negative data), sent to the API served by
uvicorn (`accord.api.serve`, i.e. `create_app`) on a free port of 127.0.0.1, over a real PostgreSQL and
a real Temporal dev server. The cases are drawn with Hypothesis in a worker thread and sent with
`case.call`; the API runs on the test's event loop, where the asyncpg pool and the Temporal client live
(schemathesis's in-process ASGI client would run the app on an event loop of its own, which they cannot
be used from).

Real state first (`World`): an alliance with members of every role (tests/dispute_support.py's roster:
gw coordinator, amber steering, birch/fern/dune mediators, cedar, elm, hazel, ivy members), a second
alliance, a token for each member, an auditor's token and an outsider's; an open decision with three
points and stances, a stalled one, a closed one that parked a point; a dispute in negotiation with
terms proposed, one in mediation with the mediator's terms, one before a panel.

How ids and tokens are supplied: two schemathesis hooks on the loaded schema. `flatmap_path_parameters`
replaces the generated path parameters, in four cases of five, by real ones (alliance, member, token,
decision, point, dispute, terms and stream ids; receipts as real (stream, version, hash) triples);
`flatmap_body` replaces, in one case of two, the fields of a generated body that name things (member,
point, principle, parked point, mediator, respondents, new slugs, durations, the charter, webhooks) by
real or well-formed values. The bearer token of each case is drawn too: a real one most of the time
(every member's, the auditor's, another alliance's; the admin token for founding), else garbage or none.
Webhooks point at a closed port of 127.0.0.1, so nothing leaves the machine.

Checks, on every response: schemathesis's not_a_server_error, status_code_conformance,
content_type_conformance, response_headers_conformance, response_schema_conformance and ignored_auth,
and no traceback text in the body. Every failure is collected with the request that caused it (as curl)
and reported at the end, along with each operation's status counts; every operation must have been
answered at least once with something other than 401. Deterministic: `derandomize=True`, no shrinking,
no example database; operations run in a fixed order, reads first and the destructive ones last.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import requests
import schemathesis
from api_support import client_for
from decision_support import charter, eventually, in_stage, stance
from dispute_support import COORDINATOR, MEMBERS, RESPONDENT, ROLES, dispute_charter, raise_between
from dispute_support import in_stage as dispute_in_stage
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accord import costs
from accord.api import serve
from accord.app import Accord
from accord.config import Settings
from events.alliance import AdmitMember, FoundAlliance
from events.dispute import DeclareImpasse, ProposeTerms
from events.ledger import EntryKind, RecordEntry, TakeResponsibility
from events.log import TransparencyLog
from events.notes import Signer
from events.store import EventStore

MAX_EXAMPLES = int(os.environ.get("ACCORD_FUZZ_EXAMPLES", "60"))
"""Cases per operation (fewer for /health, which has few distinct ones): the 70 operations take about 160 s
at this size on 2 cores (ACCORD_FUZZ_EXAMPLES=N to change)."""

ADMIN_TOKEN = "admin-" + uuid.uuid4().hex
LOG = Signer.generate("accord.fuzz")
"""The log's signing key: the world's checkpoint is signed with it, and the API's settings hold it."""
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    ignored_auth,
]

DESTRUCTIVE = [
    # Last, in this order: they end processes, revoke tokens, take members and their rights away.
    "POST /disputes/{dispute_id}/terms/{terms_id}/accept",
    "POST /decisions/{decision_id}/extend",  # after fallback and close, which it would leave nothing stalled for
    "DELETE /decisions/{decision_id}/points/{point_id}",
    "POST /decisions/{decision_id}/withdraw",
    "POST /disputes/{dispute_id}/withdraw",
    "DELETE /alliances/{alliance_id}/tokens/{token_id}",
    "PUT /alliances/{alliance_id}/charter",
    "PUT /alliances/{alliance_id}/members/{member_id}/roles",
    "POST /alliances/{alliance_id}/members/{member_id}/suspend",
    "DELETE /alliances/{alliance_id}/members/{member_id}",
]


def unique(prefix: str) -> str:
    # The Temporal server lives for the whole session: each test needs workflow ids of its own.
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- the real state -------------------------------------------------------------------------------


@dataclass
class World:
    alliance_id: str
    other_alliance_id: str
    tokens: dict[str, str]
    """Member id -> token in `alliance_id`; 'auditor' (an auditor's), 'outsider' (gw of the other alliance)."""
    spare_token_ids: list[str]
    """Tokens of elm and ivy that nobody authenticates with: the ones a case may revoke."""
    decisions: list[str]
    """Open (amber's, points p1-p3), closed (it parked p2), three stalled (gw's, for fallback, close and extend)."""
    disputes: list[str]
    """cedar and dune's: in negotiation (terms t1), in mediation (the mediator's terms t1), before a panel."""
    streams: list[str]
    receipts: list[tuple[str, int, str]]
    parked: list[str]
    charter: dict[str, Any]
    webhook: str
    """A closed port of 127.0.0.1."""

    def path_values(self) -> dict[str, st.SearchStrategy[Any]]:
        members = [*MEMBERS, "auditor:kpmg-2026", "outsider"]
        return {
            "alliance_id": st.sampled_from([self.alliance_id] * 5 + [self.other_alliance_id]),
            "member_id": st.sampled_from(members),
            "token_id": st.sampled_from(self.spare_token_ids),
            "decision_id": st.sampled_from(self.decisions),
            "point_id": st.sampled_from(["p1", "p2", "p3", "p4"]),
            "dispute_id": st.sampled_from(self.disputes),
            "terms_id": st.sampled_from(["t1", "t2"]),
            "stream_id": st.sampled_from(self.streams),
            "entry_id": st.sampled_from(["e1", "e2", "e9"]),
            "responsibility_id": st.sampled_from(["minutes", "budget", "nothing"]),
        }

    def body_values(self) -> dict[str, st.SearchStrategy[Any]]:
        slug = st.from_regex(r"[a-z][a-z0-9_-]{0,15}", fullmatch=True)
        known = st.sampled_from(MEMBERS)
        duration = st.sampled_from(["1s", "30s", "1h", "36h", "2d", "7d", "30d", "90d", "P7D", "0s", "99999999999d"])
        text = st.sampled_from(["A joint march", "We object", "Share the banner by turns"]) | st.text(min_size=1, max_size=30)
        parked = st.sampled_from([*self.parked, "nope/p9"])
        return {
            "alliance_id": slug,
            "founder_id": slug,
            "member_id": slug | known,
            "decision_id": slug | st.sampled_from(self.decisions),
            "dispute_id": slug | st.sampled_from(self.disputes),
            "point_id": st.sampled_from(["p1", "p2", "p3", "p4"]),
            "principle": st.sampled_from([None, "independence", "non-violence", "no-such-principle"]),
            "terms": st.sampled_from([None, "share the banner"]),
            "origin": parked,
            "points": st.lists(st.fixed_dictionaries({"text": text}, optional={"origin": parked}), min_size=1, max_size=4),
            "mediator": known,
            "respondents": st.lists(known, min_size=1, max_size=3),
            "response_window": duration,
            "min_response_window": duration,
            "max_response_window": duration,
            "reminder_lead": duration,
            "escalation_window": duration,
            "extension": duration,
            "charter": st.just(self.charter),
            "webhook_url": st.sampled_from([self.webhook, None]),
            "founder_webhook_url": st.just(self.webhook),
            "until": st.sampled_from([timedelta(hours=1), timedelta(days=2), timedelta(days=-1)]).map(
                lambda delta: (datetime.now(UTC) + delta).isoformat()
            ),
            **dict.fromkeys(["text", "reason", "reasons", "title", "name", "founder_name", "subject", "description", "what"], text),
        }

    def rules(self) -> st.SearchStrategy[dict[str, Any]]:
        """Decision rules as the charter's, with the outcome-deciding ones drawn: a what-if body."""
        return st.fixed_dictionaries(
            {
                "quorum": st.sampled_from([0.2, 0.6, 1.0]),
                "fallback": st.sampled_from(["supermajority", "lapse"]),
                "supermajority": st.sampled_from([0.51, 0.6667, 1.0]),
                "objection_tolerance": st.integers(0, 4),
            }
        ).map(lambda drawn: {**self.charter["decisions"], **drawn})

    def token_choices(self, label: str) -> list[str | None]:
        members = [self.tokens[m] for m in MEMBERS]
        real = [self.tokens[COORDINATOR], self.tokens[COORDINATOR], *members, self.tokens["auditor"], self.tokens["outsider"]]
        if label == "POST /alliances":
            real = [ADMIN_TOKEN, ADMIN_TOKEN, ADMIN_TOKEN, self.tokens[COORDINATOR]]
        return [*real, "acc_" + "0" * 43, "", None]


async def build_world(app: Accord) -> World:
    """The state the cases reach into; see the module's docstring."""
    alliance_id, other = unique("fuzz"), unique("lakes")
    rules = charter(min_response_window="1s").decisions  # a decision may stall within the test
    rivers = dispute_charter(crisis={"negotiation_window": "1s"}).model_copy(update={"decisions": rules})
    await app.found_alliance(FoundAlliance(alliance_id=alliance_id, charter=rivers, founder_id=COORDINATOR, founder_name="GreenWatch"))
    await app.found_alliance(FoundAlliance(alliance_id=other, charter=rivers, founder_id=COORDINATOR, founder_name="Lakers"))
    await asyncio.gather(
        *(
            app.alliance_command(alliance_id, AdmitMember(actor=COORDINATOR, member_id=m, name=m.title(), roles=roles))
            for m, roles in ROLES.items()
        )
    )
    tokens = {m: (await app.issue_token(alliance_id, COORDINATOR, m, "fuzz")).token for m in MEMBERS}
    tokens["auditor"] = (await app.issue_auditor_token(alliance_id, COORDINATOR, "kpmg-2026")).token
    tokens["outsider"] = (await app.issue_token(other, COORDINATOR, COORDINATOR, "fuzz")).token
    spare = [str((await app.issue_token(alliance_id, COORDINATOR, m, "spare")).token_id) for m in ("elm", "ivy", "elm")]

    opened, closed, stalled = unique("d-open"), unique("d-closed"), [unique("d-stalled") for _ in range(3)]
    await app.open_decision(alliance_id, "amber", opened, "Spring campaign", [{"text": t} for t in ("March", "Grant", "Banner")])
    for decision_id in stalled:
        await app.open_decision(alliance_id, COORDINATOR, decision_id, "Autumn campaign", [{"text": "Leaflets"}], response_window="2s")
    await app.open_decision(alliance_id, COORDINATOR, closed, "Sponsorship", [{"text": "Fair"}, {"text": "HydroCorp"}])
    await stance(app, opened, COORDINATOR, "p1", "agree")
    await stance(app, opened, "cedar", "p2", "concerns")
    for member in MEMBERS:
        await stance(app, closed, member, "p1", "agree")
        if member in ("cedar", "dune", "elm"):  # three objections: p2 is parked
            await stance(app, closed, member, "p2", "object", reason="no")
        else:
            await stance(app, closed, member, "p2", "agree")
    await in_stage(app, closed, "closed")
    for decision_id in stalled:
        await in_stage(app, decision_id, "stalled")

    negotiation = await raise_between(app, alliance_id)
    mediation = await raise_between(app, alliance_id, severity="crisis")
    panel = await raise_between(app, alliance_id, severity="crisis")
    await app.dispute_command(negotiation, ProposeTerms(actor=RESPONDENT, text="we share the banner by turns"))
    for dispute_id in (mediation, panel):
        state = await dispute_in_stage(app, dispute_id, "mediation")
        assert state.mediator is not None
        await app.dispute_command(dispute_id, ProposeTerms(actor=state.mediator, text="a joint statement"))
    await app.dispute_command(panel, DeclareImpasse(actor=(await dispute_in_stage(app, panel, "mediation")).mediator or ""))
    await dispute_in_stage(app, panel, "panel")

    parked = list((await eventually(lambda: app.alliance(alliance_id), lambda s: bool(s.parked))).parked)
    store = EventStore(app.pool)
    streams = [
        f"alliance-{alliance_id}", f"alliance-{other}",
        *(f"decision-{d}" for d in (opened, closed, *stalled)),
        *(f"dispute-{d}" for d in (negotiation, mediation, panel)),
    ]
    receipts = [(e.stream_id, e.stream_version, e.hash.hex()) for s in streams for e in await store.read_stream(s)]
    # A ledger with an entry of elm's (e1) and a responsibility elm holds ("minutes"), for the costs routes to act on.
    await costs.command(app, alliance_id, RecordEntry(
        actor="elm", kind=EntryKind.MONEY, member_id="elm", on=date.today(), amount="25.00", currency="EUR", description="Hall"
    ))
    await costs.command(app, alliance_id, TakeResponsibility(
        actor="elm", responsibility_id="minutes", what="Keep the minutes", owner="elm", start=date.today(),
        review=date.today() + timedelta(days=90),
    ))
    # A signed checkpoint of the alliance's log, which covers every receipt of it: the log's reads and proofs can answer.
    assert await TransparencyLog(app.pool).issue(alliance_id, LOG, LOG.name) is not None
    return World(
        alliance_id=alliance_id,
        other_alliance_id=other,
        tokens=tokens,
        spare_token_ids=spare,
        decisions=[opened, closed, *stalled],
        disputes=[negotiation, mediation, panel],
        streams=[*streams, "decision-nope", "alliance-nope"],
        receipts=receipts,
        parked=parked,
        charter=rivers.model_dump(mode="json"),
        webhook=f"http://127.0.0.1:{free_port()}/hook",
    )


# --- the fuzzer -----------------------------------------------------------------------------------


@dataclass
class Finding:
    operation: str
    check: str
    status: int
    request: str
    body: str


@dataclass
class Outcome:
    operations: list[str] = field(default_factory=list)
    """Every operation of the document, in the order fuzzed."""
    statuses: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    findings: dict[tuple[str, str], Finding] = field(default_factory=dict)
    repeats: Counter[tuple[str, str]] = field(default_factory=Counter)

    def found(self, finding: Finding) -> None:
        key = (finding.operation, finding.check)
        self.findings.setdefault(key, finding)
        self.repeats[key] += 1


def with_real_ids(world: World) -> Any:
    """The `flatmap_path_parameters` hook: real ids in four cases of five, the generated ones otherwise."""
    values = world.path_values()
    receipts = st.sampled_from(world.receipts).map(lambda r: {"stream_id": r[0], "version": r[1], "hash": r[2]})

    def flatmap_path_parameters(context: schemathesis.HookContext, path_parameters: dict[str, Any]) -> st.SearchStrategy[Any]:
        if not path_parameters:
            return st.just(path_parameters)
        if "version" in path_parameters:  # a receipt's stream and version (and hash, where the path has it): an event of the record
            real = receipts.map(lambda receipt: {k: receipt[k] for k in path_parameters})
        else:
            real = st.fixed_dictionaries({k: values[k] for k in path_parameters})
        return st.integers(0, 4).flatmap(lambda pick: real if pick else st.just(path_parameters))

    return flatmap_path_parameters


def with_real_fields(world: World) -> Any:
    """The `flatmap_body` hook: in one case of two, the fields that name things get real or well-formed values."""
    values = world.body_values()

    def flatmap_body(context: schemathesis.HookContext, body: Any) -> st.SearchStrategy[Any]:
        if not isinstance(body, dict):
            return st.just(body)
        names = [name for name in body if name in values]
        # Webhooks always go to the local closed port, whatever else the case holds.
        sinks = {name: world.webhook for name in ("webhook_url", "founder_webhook_url") if isinstance(body.get(name), str)}
        plain = st.just({**body, **sinks})
        if {"quorum", "fallback"} <= set(body):  # decision rules (what-if)
            real = world.rules()
        elif names:
            real = st.fixed_dictionaries({name: values[name] for name in names}).map(lambda drawn: {**body, **sinks, **drawn})
        else:
            return plain
        return st.booleans().flatmap(lambda pick: real if pick else plain)

    return flatmap_body


def no_traceback(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> bool | None:
    """A defect is answered with a reference to the log, never with its traceback."""
    text = response.content.decode("utf-8", "replace") if response.content else ""
    if "Traceback" in text or 'File "' in text:
        raise AssertionError(f"the response shows a traceback: {text[:300]!r}")
    return None


def fuzz(base_url: str, world: World) -> Outcome:
    """Load the served document, register the hooks, and fuzz each operation in turn (in a worker thread)."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    # The bearer token is drawn by the test (`World.token_choices`), not generated from the security scheme.
    schema.config.generation.update(with_security_parameters=False)
    schema.hook("flatmap_path_parameters")(with_real_ids(world))
    schema.hook("flatmap_body")(with_real_fields(world))
    operations = [result.ok() for result in schema.get_all_operations()]
    last = {label: index for index, label in enumerate(DESTRUCTIVE)}
    operations.sort(key=lambda op: (op.label in last, last.get(op.label, 0), op.method != "get"))
    outcome = Outcome(operations=[op.label for op in operations])
    session = requests.Session()
    for operation in operations:
        fuzz_operation(operation, world, session, outcome)
    return outcome


def fuzz_operation(operation: Any, world: World, session: requests.Session, outcome: Outcome) -> None:
    modes = st.sampled_from([GenerationMode.POSITIVE, GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
    cases = modes.flatmap(lambda mode: operation.as_strategy(generation_mode=mode))

    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases, token=st.sampled_from(world.token_choices(operation.label)))
    def run(case: schemathesis.Case, token: str | None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        response = case.call(session=session, headers=headers)
        outcome.statuses[operation.label][response.status_code] += 1
        try:
            case.validate_response(
                response, checks=[*CHECKS, no_traceback], headers=headers, transport_kwargs={"session": session, "headers": headers}
            )
        except FailureGroup as group:
            for failure in group.exceptions:
                curl = case.as_curl_command(headers=headers)
                outcome.found(Finding(operation.label, failure.title, response.status_code, curl, response.text_lossy()[:400]))

    run()


async def test_the_api_survives_fuzzing_of_every_operation_of_its_openapi_document(app: Accord) -> None:
    world = await build_world(app)
    settings_ = Settings(
        api_host="127.0.0.1", api_port=free_port(), admin_token=ADMIN_TOKEN, log_name=LOG.name, log_key=SecretStr(str(LOG))
    )
    base_url = f"http://127.0.0.1:{settings_.api_port}"
    stop = asyncio.Event()
    server = asyncio.create_task(serve(app, settings_, stop))
    try:
        async with httpx.AsyncClient(base_url=base_url) as http:
            await eventually(lambda: _up(http), bool)
        outcome = await asyncio.to_thread(fuzz, base_url, world)
    finally:
        stop.set()
        await asyncio.wait_for(server, timeout=30)

    print(f"\n{'operation':<62} cases  statuses")
    for label, statuses in outcome.statuses.items():
        print(f"{label:<62} {sum(statuses.values()):>5}  {dict(sorted(statuses.items()))}")
    never_done = [label for label, statuses in outcome.statuses.items() if not any(200 <= code < 300 for code in statuses)]
    print(f"never answered 2xx ({len(never_done)}): {never_done}")
    findings = [
        f"{f.operation}: {f.check} (status {f.status}, {outcome.repeats[key]} case(s))\n  {f.request}\n  -> {f.body}"
        for key, f in outcome.findings.items()
    ]
    assert not findings, "\n\n".join(findings)
    unreached = [label for label, statuses in outcome.statuses.items() if not set(statuses) - {401}]
    assert not unreached, f"only ever answered 401: {unreached}"
    assert list(outcome.statuses) == outcome.operations and len(outcome.operations) >= 49


async def _up(http: httpx.AsyncClient) -> bool:
    try:
        return (await http.get("/health")).status_code == 200
    except httpx.TransportError:
        return False


async def test_a_body_that_is_not_json_text_is_invalid_input_not_a_400(app: Accord) -> None:
    """What the fuzzer found: FastAPI answered a body of bytes that are not UTF-8 (and one nested too deep
    to parse) with a 400 of its own shape, which the document does not name; it is the 422 of any JSON
    that does not decode, before the token is even looked at."""
    async with client_for(app, Settings()) as api:
        for body in (b"\xf6\xaa\xee\xc9", b"[" * 100_000):
            response = await api.post("/disputes/x/terms", content=body, headers={"Content-Type": "application/json"})
            assert response.status_code == 422, response.text
            [error] = response.json()["detail"]
            assert (error["type"], error["loc"], error["msg"]) == ("json_invalid", ["body"], "JSON decode error")
