"""Every operation of the HTTP API against every role, with the status the access policy expects (events/access.py).

`MATRIX` below is the table: one row per route, one column per role, each cell the status that role's
token must get. Every operation of the app's OpenAPI document must have a row (a new route fails this
test until it is added), and every row must be an operation of the document. Some operations have
several rows, one per kind of target (a decision's stream and a dispute's; a dispute whose existence is
public and one whose existence the charter keeps confidential).

The roles, each a real bearer token (the column heads in brackets):

- [non] non-member: the API only accepts tokens of some alliance, and a token of alliance A always names
  one of A's members (or an auditor of A), so someone with no membership in A at all is a member of
  another alliance, B, whose member id A has never had (`zed`);
- [mem] a plain member (`elm`); [pro] the proposer of the decisions in question, a plain member (`fir`);
- [rai] the raiser and [res] the respondent of the dispute in question (`cedar` and `dune`; dune is on
  the mediator roster, and a party never mediates its own dispute);
- [med] the dispute's mediator (drawn from the roster birch/fern when negotiation ran out; `birch`
  where no dispute is in question, and in a dispute still in negotiation, where it is a plain member);
- [pan] a panelist of the dispute in panel stage (a plain member, drawn; a plain member elsewhere);
- [ste] steering (`amber`), [coo] coordinator (`gw`), [aud] an auditor (the coordinators' read-only token);
- [oth] a member of alliance B whose member id also exists in A: B's founder `gw`, A's coordinator's id.

The statuses: 2xx allowed; 403 forbidden; 404 where the policy hides existence (a dispute whose existence
is confidential, to its non-readers; anything of A's by id - decisions, disputes, streams - to a token of
B, which gets the answer of an id that does not exist). No cell expects 409: the state is arranged so
that every allowed command is accepted. A few cells check what a read leaves out, beyond its status
(`CONTENT`: a dispute's outline without its subject and description, a member's webhook as "(private)",
exports without a dispute's record, and `AsMissing`: a 404 exactly as for an id that does not exist).
A failure lists every cell that differs.

The state, built once on the time-skipping server (the columns' people are the same in every row, but
the mediator, who is the mediator of the row's dispute; each row names its target in its route):

- `D`: an open decision of fir's with points p1-p3; `Dw`: fresh ones to withdraw; `Dx`, `Df`, `Dk`:
  stalled ones (to extend, fall back, close); `Dc`: one closed (for what-if);
- `P`: a dispute in panel stage (the one of several raised whose drawn panel holds none of gw, amber,
  elm, fir, so that their column means what its head says); `M`, `Mas`, `Mi`, `Xa`, `Xo`: in mediation
  (`Xa` with terms t1 of the mediator's); `Xe`, `Xr`: stalled panels; `Xp`: ruled, in the appeal window;
  `W`: in negotiation; `C`: a crisis; `Q`: raised after the charter made disputes' existence confidential;
- `T`: spare tokens of elm's; yew, zinnia (suspended), rowan, willow: members for the member commands;
- A's transparency log: `S1`, a checkpoint signed once the members were admitted, and `S2`, one signed
  after everything above (with `LOG`, the key the API's settings hold); every column's holder but the
  panelist has named a witness key (`WITNESSED`), with which its cosignature of S2 is made.

A route whose placeholder is in `POOLS` gets a target of its own for each allowed cell. Reads run first;
then each command row in table order, its refused cells first (they change nothing), its allowed ones last.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from api_support import bearer, client_for
from decision_support import in_stage as decision_in_stage
from dispute_support import (
    COORDINATOR,
    RAISER,
    RESPONDENT,
    STEERING,
    alliance_for_disputes,
    dispute_charter,
    in_stage,
    raise_between,
    skip_to,
    state_of,
    unique,
)
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from accord import costs
from accord.app import Accord
from accord.config import Settings
from events.access import PRIVATE
from events.alliance import AdmitMember, AmendCharter, FoundAlliance, SetWebhook, SetWitnessKey, SuspendMember
from events.decision import CloseDecision, PointDraft
from events.dispute import DeclareImpasse, ProposeTerms, RulingKind, SubmitRuling
from events.ledger import EntryKind, RecordEntry, TakeResponsibility
from events.log import TransparencyLog
from events.notes import COSIGNATURE, Checkpoint, Signer, split_note
from events.processes import DECISION, DISPUTE
from events.store import EventStore

ROLES = {
    "non": "nonmember", "mem": "member", "pro": "proposer", "rai": "raiser", "res": "respondent", "med": "mediator",
    "pan": "panelist", "ste": "steering", "coo": "coordinator", "aud": "auditor", "oth": "other alliance",
}

MATRIX = """
METHOD  ROUTE                                         non mem pro rai res med pan ste coo aud oth
# --- service; founding an alliance takes the server's admin token, which no role holds
GET     /health                                       200 200 200 200 200 200 200 200 200 200 200
POST    /alliances                                    403 403 403 403 403 403 403 403 403 403 403
# --- the alliance's own records: its members; an auditor reads only through the audit routes
GET     /alliances/{A}                                403 200 200 200 200 200 200 200 200 403 403
GET     /alliances/{A}/members                        403 200 200 200 200 200 200 200 200 403 403
GET     /alliances/{A}/head                           403 200 200 200 200 200 200 200 200 403 403
GET     /alliances/{A}/decisions                      403 200 200 200 200 200 200 200 200 403 403
GET     /alliances/{A}/parked                         403 200 200 200 200 200 200 200 200 403 403
GET     /alliances/{A}/disputes                       403 200 200 200 200 200 200 200 200 403 403
GET     /alliances/{A}/members/elm/tokens             403 200 403 403 403 403 403 403 200 403 403
GET     /alliances/{A}/members/elm/notifications      403 200 403 403 403 403 403 403 200 403 403
GET     /decisions/{D}                                404 200 200 200 200 200 200 200 200 403 404
GET     /disputes/{P}                                 404 200 200 200 200 200 200 200 200 403 404
GET     /disputes/{Q}                                 404 404 404 200 200 404 404 404 200 403 404
# --- the audit reads: members and auditors; a dispute's record only for its readers
GET     /alliances/{A}/audit/verify                   403 200 200 200 200 200 200 200 200 200 403
GET     /alliances/{A}/audit/export                   403 200 200 200 200 200 200 200 200 200 403
GET     /audit/streams/{Astream}/replay               404 200 200 200 200 200 200 200 200 200 404
GET     /audit/streams/{Dstream}/replay               404 200 200 200 200 200 200 200 200 200 404
GET     /audit/streams/{Pstream}/replay               404 403 403 200 200 200 200 403 200 200 404
GET     /audit/streams/{Qstream}/replay               404 404 404 200 200 404 404 404 200 200 404
GET     /audit/streams/{Dstream}/check                404 200 200 200 200 200 200 200 200 200 404
GET     /audit/streams/{Pstream}/check                404 403 403 200 200 200 200 403 200 200 404
GET     /audit/streams/{Dstream}/export               404 200 200 200 200 200 200 200 200 200 404
GET     /audit/streams/{Pstream}/export               404 403 403 200 200 200 200 403 200 200 404
GET     /audit/receipts/{Dstream}/{Dv}/{Dh}           404 200 200 200 200 200 200 200 200 200 404
GET     /audit/receipts/{Pstream}/{Pv}/{Ph}           404 403 403 200 200 200 200 403 200 200 404
POST    /audit/decisions/{Dc}/whatif                  404 200 200 200 200 200 200 200 200 200 404
# --- the transparency log (two checkpoints signed, S1 and S2 > S1): the alliance's log is for its members and
#     auditors, and a token of another alliance reaches nothing of A's, as for the audit reads above (403);
#     an event's inclusion proof is for whoever may read its stream's record, exactly as that stream's replay
GET     /alliances/{A}/log/checkpoint?size={S1}       403 200 200 200 200 200 200 200 200 200 403
GET     /alliances/{A}/log/checkpoints                403 200 200 200 200 200 200 200 200 200 403
GET     /alliances/{A}/log/consistency?old={S1}       403 200 200 200 200 200 200 200 200 200 403
GET     /alliances/{A}/log/verify                     403 200 200 200 200 200 200 200 200 200 403
GET     /alliances/{A}/log/bundle                     403 200 200 200 200 200 200 200 200 200 403
GET     /audit/proofs/{Dstream}/{Dv}?hash={Dh}        404 200 200 200 200 200 200 200 200 200 404
GET     /audit/proofs/{Pstream}/{Pv}                  404 403 403 200 200 200 200 403 200 200 404
GET     /audit/proofs/{Qstream}/{Qv}?size={S2}        404 404 404 200 200 404 404 404 200 200 404
# --- the alliance's commands: coordinators; a member's own tokens, webhook and notifications: the member too
PUT     /alliances/{A}/charter                        403 403 403 403 403 403 403 403 200 403 403
POST    /alliances/{A}/members                        403 403 403 403 403 403 403 403 201 403 403
POST    /alliances/{A}/members/yew/suspend            403 403 403 403 403 403 403 403 200 403 403
POST    /alliances/{A}/members/zinnia/reinstate       403 403 403 403 403 403 403 403 200 403 403
PUT     /alliances/{A}/members/rowan/roles            403 403 403 403 403 403 403 403 200 403 403
DELETE  /alliances/{A}/members/willow                 403 403 403 403 403 403 403 403 200 403 403
PUT     /alliances/{A}/members/elm/webhook            403 200 403 403 403 403 403 403 200 403 403
PUT     /alliances/{A}/members/elm/contact            403 200 403 403 403 403 403 403 200 403 403
GET     /alliances/{A}/members/elm/contact            403 200 403 403 403 403 403 403 200 403 403
DELETE  /alliances/{A}/members/elm/contact            403 200 403 403 403 403 403 403 200 403 403
POST    /alliances/{A}/members/elm/tokens             403 201 403 403 403 403 403 403 201 403 403
DELETE  /alliances/{A}/tokens/{T}                     403 200 403 403 403 403 403 403 200 403 403
# --- the log's witnesses: an active member whose witness key is set cosigns (every column's holder has one but the
#     panelist's, a plain member who named none: 403); any active member reports a split view (two checkpoints
#     signed with the log's key, of S2 leaves with two roots); a witness key is the member's own to set, not even
#     a coordinator's (after the cosignatures: it changes elm's key)
POST    /alliances/{A}/log/cosignatures               403 200 200 200 200 200 403 200 200 403 403
POST    /alliances/{A}/log/split-views                403 200 200 200 200 200 200 200 200 403 403
PUT     /alliances/{A}/members/elm/witness-key        403 200 403 403 403 403 403 403 403 403 403
# --- the costs ledger: a member records and takes on its own, a coordinator anyone's and the rates; its member or a
#     coordinator corrects an entry (E: elm's), its holder or a coordinator hands over or releases (R, Rr: elm's);
#     elm, who alone carried the costs of the day before yesterday, or a coordinator turns that imbalance into a proposal;
#     any member but elm disputes elm's entry of that day (Ev), and elm is told to correct it instead (409)
GET     /alliances/{A}/costs                          403 200 200 200 200 200 200 200 200 200 403
GET     /alliances/{A}/costs/report?from={day}&to={day} 403 200 200 200 200 200 200 200 200 200 403
GET     /alliances/{A}/responsibilities               403 200 200 200 200 200 200 200 200 200 403
POST    /alliances/{A}/costs/entries                  403 201 201 201 201 201 201 201 201 403 403
POST    /alliances/{A}/costs/entries/{E}/correction   403 200 403 403 403 403 403 403 200 403 403
POST    /alliances/{A}/costs/rates                    403 403 403 403 403 403 403 403 201 403 403
POST    /alliances/{A}/costs/proposals                403 201 403 403 403 403 403 403 201 403 403
POST    /alliances/{A}/costs/entries/{Ev}/disputes    403 409 201 201 201 201 201 201 201 403 403
POST    /alliances/{A}/responsibilities               403 201 201 201 201 201 201 201 201 403 403
POST    /alliances/{A}/responsibilities/{R}/hand-over 403 200 403 403 403 403 403 403 200 403 403
POST    /alliances/{A}/responsibilities/{Rr}/release  403 200 403 403 403 403 403 403 200 403 403
POST    /alliances/{A}/decisions                      403 201 201 201 201 201 201 201 201 403 403
POST    /alliances/{A}/disputes                       403 201 201 201 201 201 201 201 201 403 403
# --- decisions: the electorate takes stances, the proposer shapes the proposal, coordinators act on a stalled one
POST    /decisions/{D}/stances                        404 200 200 200 200 200 200 200 200 403 404
PUT     /decisions/{D}/points/p1                      404 403 200 403 403 403 403 403 403 403 404
POST    /decisions/{D}/points                         404 403 201 403 403 403 403 403 403 403 404
DELETE  /decisions/{D}/points/p2                      404 403 200 403 403 403 403 403 403 403 404
POST    /decisions/{Dw}/withdraw                      404 403 200 403 403 403 403 403 200 403 404
POST    /decisions/{Dx}/extend                        404 403 403 403 403 403 403 403 200 403 404
POST    /decisions/{Df}/fallback                      404 403 403 403 403 403 403 403 200 403 404
POST    /decisions/{Dk}/close                         404 403 403 403 403 403 403 403 200 403 404
# --- disputes: each command for its role; who may see only the outline gets 403, who may not know of it 404
POST    /disputes/{M}/terms                           404 403 403 200 200 200 403 403 403 403 404
POST    /disputes/{Q}/terms                           404 404 404 200 200 404 404 404 403 403 404
POST    /disputes/{Xa}/terms/t1/accept                404 403 403 200 200 403 403 403 403 403 404
POST    /disputes/{Xo}/mediator/objection             404 403 403 200 200 403 403 403 403 403 404
PUT     /disputes/{Mas}/mediator                      404 403 403 403 403 403 403 403 200 403 404
POST    /disputes/{Mi}/impasse                        404 403 403 403 403 200 403 403 403 403 404
POST    /disputes/{P}/rulings                         404 403 403 403 403 403 200 403 403 403 404
POST    /disputes/{Xe}/panel/extend                   404 403 403 403 403 403 403 200 200 403 404
POST    /disputes/{Xr}/refer                          404 403 403 403 403 403 403 200 200 403 404
POST    /disputes/{Xp}/appeal                         404 403 403 200 200 403 403 403 403 403 404
POST    /disputes/{Xd}/draw/contributions             404 403 403 200 200 403 403 403 403 403 404
POST    /disputes/{W}/withdraw                        404 403 403 200 403 403 403 403 403 403 404
POST    /disputes/{C}/interim                         404 403 403 403 403 403 403 403 200 403 404
"""

POOLS = {"Dw", "T", "Xa", "Xo", "Xe", "Xr", "Xp", "Xd", "E", "R", "Rr"}
"""Targets of which each allowed cell gets its own (the command changes what the next allowed role would meet)."""

HOOK = "http://127.0.0.1:9/hook"  # nothing listens: deliveries fail and are retried, harmlessly
SECRET = "the treasurer moved funds without a mandate"  # the description of Q, whose existence is confidential
LOG = Signer.generate("accord.test")
"""The log's signing key: the matrix signs A's checkpoints with it, and the API's settings hold it (verify, split views)."""

BODIES: dict[str, Any] = {
    "POST /alliances": {"alliance_id": "found-{role}-{tag}", "founder_id": "founder", "founder_name": "Founder", "charter": "{charter}"},
    "POST /audit/decisions/{Dc}/whatif": "{rules}",
    "PUT /alliances/{A}/charter": {"charter": "{amended}", "reason": "a clearer name"},
    "POST /alliances/{A}/members": {"member_id": "new-{role}", "name": "Newcomer"},
    "POST /alliances/{A}/members/yew/suspend": {"reason": "dues unpaid"},
    "PUT /alliances/{A}/members/rowan/roles": {"roles": ["member", "steering"]},
    "DELETE /alliances/{A}/members/willow": {"reason": "left the region"},
    "PUT /alliances/{A}/members/elm/webhook": {"webhook_url": HOOK},
    "PUT /alliances/{A}/members/elm/contact": {"email": "elm@example.org", "language": "es"},
    "POST /alliances/{A}/members/elm/tokens": {"label": "matrix-{role}"},
    "POST /alliances/{A}/log/cosignatures": {"tree_size": "{S2}", "line": "{cosignature}"},
    "POST /alliances/{A}/log/split-views": {"reason": "two roots", "earlier": "{S2note}", "later": "{S2forged}"},
    "PUT /alliances/{A}/members/elm/witness-key": {"witness_key": "{new_witness_key}"},
    "POST /alliances/{A}/costs/entries": {"kind": "money", "on": "{day}", "amount": "5.00", "currency": "EUR", "description": "Minutes"},
    "POST /alliances/{A}/costs/entries/{E}/correction": {"reason": "it was 15.00"},
    "POST /alliances/{A}/costs/rates": {"currency": "USD", "rate": "0.9", "on": "{day}", "source": "ECB"},
    "POST /alliances/{A}/costs/entries/{Ev}/disputes": {"dispute_id": "entry-{role}-{tag}", "reason": "that venue was free"},
    "POST /alliances/{A}/costs/proposals": {"decision_id": "rebalance-{role}-{tag}", "start": "{before}", "end": "{before}"},
    "POST /alliances/{A}/responsibilities": {"responsibility_id": "r-{role}-{tag}", "what": "Minutes", "start": "{day}", "review": "{later}"},
    "POST /alliances/{A}/responsibilities/{R}/hand-over": {"to": "hazel"},
    "POST /alliances/{A}/responsibilities/{Rr}/release": {"reason": "meetings moved online"},
    "POST /alliances/{A}/decisions": {"decision_id": "open-{role}-{tag}", "title": "Minutes", "points": [{"text": "Keep minutes"}]},
    "POST /alliances/{A}/disputes": {
        "dispute_id": "raised-{role}-{tag}", "respondents": ["olive"], "subject": "Minutes", "description": "Late minutes",
    },
    "POST /decisions/{D}/stances": {"point_id": "p1", "stance": "agree"},
    "PUT /decisions/{D}/points/p1": {"text": "Book the hall for two days"},
    "POST /decisions/{D}/points": {"text": "Pay for the hall"},
    "POST /decisions/{Dw}/withdraw": {"reason": "overtaken by events"},
    "POST /disputes/{M}/terms": {"text": "Return the banner by Friday"},
    "POST /disputes/{Q}/terms": {"text": "Repay the funds"},
    "POST /disputes/{Xo}/mediator/objection": {"reason": "they campaign with the other side"},
    "PUT /disputes/{Mas}/mediator": {"mediator": "{other_mediator}"},
    "POST /disputes/{P}/rulings": {"ruling": "dismiss", "reasons": "the banner is shared"},
    "POST /disputes/{Xr}/refer": {"reason": "no majority"},
    "POST /disputes/{Xp}/appeal": {"reason": "the panel ignored our vote"},
    "POST /disputes/{Xd}/draw/contributions": {"contribution": "5a" * 32},
    "POST /disputes/{W}/withdraw": {"reason": "talked it over"},
    "POST /disputes/{C}/interim": {"what": "No statements on the banner", "until": "{until}"},
}

# Who holds each role's token (the mediator's and the panelist's depend on the draws: see `Scene.holder`).
MEMBER, PROPOSER, MEDIATORS = "elm", "fir", ("birch", "fern")
HOLDERS = {
    "nonmember": "zed@other", "member": MEMBER, "proposer": PROPOSER, "raiser": RAISER, "respondent": RESPONDENT,
    "steering": STEERING, "coordinator": COORDINATOR, "auditor": "auditor", "other alliance": f"{COORDINATOR}@other",
}
KEPT_OFF_THE_PANEL = {COORDINATOR, STEERING, MEMBER, PROPOSER}
PLAIN = ("hazel", "ivy", "juniper", "larch", "maple", "nettle", "pine", "quince", "sorrel", "tansy", "umber", "vetch", "wren", "yarrow")
"""Plain members, in the pool a panel is drawn from: the panelist is one of them."""
OTHERS = (PROPOSER, "olive", "yew", "zinnia", "rowan", "willow")
"""The proposer, the respondent of the disputes the matrix raises, and the members the member commands act on."""
WITNESSED = {
    "member": MEMBER, "proposer": PROPOSER, "raiser": RAISER, "respondent": RESPONDENT, "mediator": MEDIATORS[0],
    "steering": STEERING, "coordinator": COORDINATOR,
}
"""The roles whose holder (on the log's routes, which name no dispute) has named a witness key: all members but the panelist."""
CANDIDATES = 12
"""Disputes taken to a panel, of which one whose panel leaves out KEPT_OFF_THE_PANEL is `P` (each is, about half the time)."""


@dataclass(frozen=True)
class Row:
    method: str
    route: str
    expected: dict[str, int]

    @property
    def key(self) -> str:
        return f"{self.method} {self.route}"

    @property
    def read(self) -> bool:
        return self.method == "GET" or self.route.endswith("/whatif")

    @property
    def pool(self) -> str | None:
        return next((name for name in re.findall(r"\{(\w+)\}", self.route) if name in POOLS), None)

    def allowed(self) -> list[str]:
        return [role for role, status in self.expected.items() if status < 300]


def parse(matrix: str) -> list[Row]:
    rows: list[Row] = []
    for line in matrix.strip().splitlines():
        if line.startswith("#"):
            continue
        method, route, *cells = line.split()
        if method == "METHOD":
            assert cells == list(ROLES), cells
            continue
        assert len(cells) == len(ROLES), line
        rows.append(Row(method, route, {ROLES[short]: int(cell) for short, cell in zip(ROLES, cells, strict=True)}))
    return rows


ROWS = parse(MATRIX)


# --- the state every row meets ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ByRole:
    """A value that differs by role (each role's own witness's cosignature line); `default` for the others."""

    values: dict[str, Any]
    default: Any

    def of(self, role: str) -> Any:
        return self.values.get(role, self.default)


@dataclass
class Scene:
    alliance_id: str
    values: dict[str, Any]
    """placeholder -> its value: ids, versions, hashes, and the bodies' objects"""
    pools: dict[str, list[str]]
    tokens: dict[str, str]
    """member id (of A), 'auditor', or '<member id>@other' -> token"""
    mediators: dict[str, str]
    """dispute id -> its mediator"""
    panelist: str
    subject: str
    description: str

    def holder(self, role: str, path: str) -> str:
        """The token of the role, for the request to `path`."""
        if role == "mediator":
            return self.tokens[next((m for d, m in self.mediators.items() if d in path), MEDIATORS[0])]
        if role == "panelist":
            return self.tokens[self.panelist]
        return self.tokens[HOLDERS[role]]

    def fill(self, template: Any, role: str, instance: int) -> Any:
        """Placeholders replaced: by the value, by the pool's instance, by the role; '{x}' alone by an object."""
        if isinstance(template, dict):
            return {key: self.fill(item, role, instance) for key, item in template.items()}
        if isinstance(template, list):
            return [self.fill(item, role, instance) for item in template]
        if not isinstance(template, str):
            return template
        whole = re.fullmatch(r"\{(\w+)\}", template)
        if whole and isinstance(self.values.get(whole[1]), ByRole):
            return self.values[whole[1]].of(role)
        if whole and not isinstance(self.values.get(whole[1], ""), str):
            return self.values[whole[1]]

        def value(match: re.Match[str]) -> str:
            name = match[1]
            if name == "role":
                return role.replace(" ", "-")
            if name in POOLS:
                return self.pools[name][instance]
            return str(self.values[name])

        return re.sub(r"\{(\w+)\}", value, template)


async def build(app: Accord, env: WorkflowEnvironment, store: EventStore) -> Scene:
    gw = COORDINATOR
    needed = {row.pool: max(1, len(row.allowed())) for row in ROWS if row.pool}
    alliance_id = await alliance_for_disputes(app, negotiation_window="1d", panel_window="3d", crisis={"negotiation_window": "1d"})
    founding = await app.alliance(alliance_id)  # dispute_support's members, and these
    newcomers = [m for m in PLAIN + OTHERS if founding.member(m) is None]
    await asyncio.gather(*(app.alliance_command(alliance_id, AdmitMember(actor=gw, member_id=m, name=m.title())) for m in newcomers))
    await app.alliance_command(alliance_id, SuspendMember(actor=gw, member_id="zinnia", reason="dues unpaid"))
    other = unique("lakes")
    founded = await app.found_alliance(FoundAlliance(alliance_id=other, charter=dispute_charter(), founder_id=gw, founder_name="Lake Watch"))
    await app.alliance_command(other, AdmitMember(actor=gw, member_id="zed", name="Zed"))
    state = await app.alliance(alliance_id)
    issued = await asyncio.gather(*(app.issue_token(alliance_id, gw, m.member_id, "matrix") for m in state.active_members()))
    tokens = {token.member_id: token.token for token in issued}
    tokens["auditor"] = (await app.issue_auditor_token(alliance_id, gw, "firm")).token
    tokens[f"{gw}@other"] = founded.token.token
    tokens["zed@other"] = (await app.issue_token(other, gw, "zed", "matrix")).token
    log = TransparencyLog(app.pool)
    s1 = await log.issue(alliance_id, LOG, LOG.name)

    # Now (t0): what must get to mediation, to a panel, to a stall; and decisions that will stall (in 2 days).
    async def disputes(count: int) -> list[str]:
        return list(await asyncio.gather(*(raise_between(app, alliance_id) for _ in range(count))))

    async def decisions(count: int, **options: Any) -> list[str]:
        ids = [unique("d") for _ in range(count)]
        points = [PointDraft(text="Book the hall"), PointDraft(text="Share the hall"), PointDraft(text="Clean the hall")]
        for decision_id in ids:
            await app.open_decision(alliance_id, PROPOSER, decision_id, "The hall", points, **options)
        return ids

    # Disputes raised while the charter keeps a draw open for long: their mediator's draw is still open at the end.
    founded_with = (await app.alliance(alliance_id)).charter
    drawing_for = founded_with.disputes.model_copy(update={"draws": "open", "draw_window": timedelta(days=60)})
    await app.alliance_command(
        alliance_id, AmendCharter(actor=gw, charter=founded_with.model_copy(update={"disputes": drawing_for}), reason="open draws")
    )
    drawing = await disputes(needed["Xd"])
    await app.alliance_command(alliance_id, AmendCharter(actor=gw, charter=founded_with, reason="draws at once"))
    stalling = needed["Xe"] + needed["Xr"]
    candidates, stalled, ruled, mediating = await asyncio.gather(
        disputes(CANDIDATES), disputes(stalling), disputes(needed["Xp"]), disputes(3 + needed["Xa"] + needed["Xo"])
    )
    extend, fallback, close, closed = await decisions(4, response_window="2d")
    every = [*candidates, *stalled, *ruled, *mediating]

    # t0 + 1d: negotiation has run out, a mediator is drawn for each.
    await skip_to(env, max([(await state_of(app, d)).stage_deadline for d in every]))
    mediators = {d: s.mediator for d, s in zip(every, await asyncio.gather(*(in_stage(app, d, "mediation") for d in every)), strict=True)}
    await asyncio.gather(*(in_stage(app, d, "drawing") for d in drawing))
    assert all(mediators.values()), mediators
    m, mas, mi, *rest = mediating
    accepting, objecting = rest[: needed["Xa"]], rest[needed["Xa"] :]
    for dispute_id in accepting:  # terms t1, the mediator's: the parties may accept them
        await app.dispute_command(dispute_id, ProposeTerms(actor=mediators[dispute_id], text="Share the banner by turns"))
    for dispute_id in stalled:
        await app.dispute_command(dispute_id, DeclareImpasse(actor=mediators[dispute_id]))

    # t0 + 4d: those panels ran out of time; the decisions stalled two days ago (their fallback is 3 days away).
    await skip_to(env, max([(await state_of(app, d)).stage_deadline for d in stalled]))
    await asyncio.gather(*(in_stage(app, d, "panel_stalled") for d in stalled))
    await asyncio.gather(*(decision_in_stage(app, d, "stalled") for d in (extend, fallback, close, closed)))
    await app.decision_command(closed, CloseDecision(actor=gw))
    for dispute_id in [*candidates, *ruled]:
        await app.dispute_command(dispute_id, DeclareImpasse(actor=mediators[dispute_id]))
    for dispute_id in ruled:
        for panelist in (await state_of(app, dispute_id)).panel[:2]:
            ruling = SubmitRuling(actor=panelist, ruling=RulingKind.UPHOLD, reasons="the banner is shared")
            await app.dispute_command(dispute_id, ruling)
        await in_stage(app, dispute_id, "appeal_window")
    panels = {d: (await state_of(app, d)).panel for d in candidates}
    chosen = [d for d, panel in panels.items() if not KEPT_OFF_THE_PANEL & set(panel) and set(PLAIN) & set(panel)]
    assert chosen, f"no panel of {CANDIDATES} left out {sorted(KEPT_OFF_THE_PANEL)}: {panels}"
    p = chosen[0]
    panelist = next(member for member in panels[p] if member in PLAIN)

    # After the clock's last move: what must not move on by itself.
    withdrawn = await raise_between(app, alliance_id)
    crisis = await raise_between(app, alliance_id, severity="crisis")
    [d] = await decisions(1)
    withdrawable = await decisions(needed["Dw"])
    charter = (await app.alliance(alliance_id)).charter
    secret = charter.model_copy(update={"disputes": charter.disputes.model_copy(update={"existence_confidential": True})})
    await app.alliance_command(alliance_id, AmendCharter(actor=gw, charter=secret, reason="discretion"))
    q = unique("q")
    await app.raise_dispute(alliance_id, RAISER, q, [RESPONDENT], "Funds", SECRET)
    spare = [(await app.issue_token(alliance_id, gw, MEMBER, "spare")).token_id for _ in range(needed["T"])]
    day = date.today()  # the server's clock is days ahead: an entry may not be dated after it, nor after ours
    for _ in range(needed["E"]):
        await costs.command(app, alliance_id, RecordEntry(
            actor=MEMBER, kind=EntryKind.MONEY, member_id=MEMBER, on=day, amount="50.00", currency="EUR", description="Hall"
        ))
    entries = sorted((await costs.read(app, alliance_id, None)).entries)
    await costs.command(app, alliance_id, RecordEntry(  # two days ago, elm alone carried a cost: flagged beyond its share
        actor=MEMBER, kind=EntryKind.MONEY, member_id=MEMBER, on=day - timedelta(days=2), amount="80.00", currency="EUR",
        description="Venue",
    ))
    venue_entry = next(e.entry_id for e in (await costs.read(app, alliance_id, None)).entries.values() if e.description == "Venue")
    held = [unique("held") for _ in range(needed["R"] + needed["Rr"])]
    for responsibility_id in held:
        await costs.command(app, alliance_id, TakeResponsibility(
            actor=MEMBER, responsibility_id=responsibility_id, what="Convene", owner=MEMBER, start=day, review=day + timedelta(days=60)
        ))
    await app.alliance_command(alliance_id, SetWebhook(actor=gw, member_id="rowan", webhook_url=HOOK))
    witnesses = {role: Signer.generate(f"witness-{holder}", COSIGNATURE) for role, holder in WITNESSED.items()}
    await asyncio.gather(*(
        app.alliance_command(alliance_id, SetWitnessKey(actor=holder, member_id=holder, witness_key=str(witnesses[role].verifier)))
        for role, holder in WITNESSED.items()
    ))

    streams = {
        name: await app.stream_of(process, process_id, alliance_id)
        for name, process, process_id in (("D", DECISION, d), ("P", DISPUTE, p), ("Q", DISPUTE, q))
    }
    decision_head, dispute_head = await store.head(streams["D"]), await store.head(streams["P"])
    secret_head = await store.head(streams["Q"])
    # The checkpoint that covers all of it; the cosignatures of it and a checkpoint of as many leaves with another root.
    s2 = await log.issue(alliance_id, LOG, LOG.name)
    assert s1 is not None and s2 is not None and s1.tree_size < s2.tree_size, (s1, s2)
    signed, _ = split_note(s2.note)
    cosigned_at = int(time.time())
    forged = LOG.sign(Checkpoint(Checkpoint.parse(signed).origin, s2.tree_size, bytes(32)).text())
    seen = await state_of(app, p)
    values: dict[str, Any] = {
        "A": alliance_id, "D": d, "Dc": closed, "Dx": extend, "Df": fallback, "Dk": close,
        "P": p, "Q": q, "M": m, "Mas": mas, "Mi": mi, "W": withdrawn, "C": crisis,
        "Astream": f"alliance-{alliance_id}", "Dstream": streams["D"], "Pstream": streams["P"], "Qstream": streams["Q"],
        "Dv": decision_head.version, "Dh": decision_head.hash, "Pv": dispute_head.version, "Ph": dispute_head.hash,
        "Qv": secret_head.version, "Qh": secret_head.hash,
        "S1": s1.tree_size, "S2": s2.tree_size, "S2note": s2.note, "S2forged": forged,
        "cosignature": ByRole(
            {role: witness.cosign(signed, cosigned_at) for role, witness in witnesses.items()},
            # well-formed, by a key nobody named: the other roles are refused before it is looked at (or for naming none)
            Signer.generate("witness-none", COSIGNATURE).cosign(signed, cosigned_at),
        ),
        "new_witness_key": str(Signer.generate("witness-elm-renewed", COSIGNATURE).verifier),
        "tag": unique("t"),
        "Ev": venue_entry,
        "day": day.isoformat(), "later": (day + timedelta(days=30)).isoformat(), "before": (day - timedelta(days=2)).isoformat(),
        "other_mediator": next(x for x in MEDIATORS if x != mediators[mas]),
        "until": (await env.get_current_time() + timedelta(days=30)).isoformat(),
        "charter": dispute_charter().model_dump(mode="json"),
        "amended": secret.model_copy(update={"name": "Clean Rivers Alliance (amended)"}).model_dump(mode="json"),
        "rules": secret.decisions.model_copy(update={"quorum": 0.2}).model_dump(mode="json"),
    }
    pools = {
        "Dw": withdrawable, "T": [str(token_id) for token_id in spare], "Xa": accepting, "Xo": objecting,
        "Xe": stalled[: needed["Xe"]], "Xr": stalled[needed["Xe"] :], "Xp": ruled, "Xd": drawing,
        "E": entries, "R": held[: needed["R"]], "Rr": held[needed["R"] :],
    }
    assert all(len(pools[name]) == count for name, count in needed.items()), (pools, needed)
    return Scene(alliance_id, values, pools, tokens, mediators, panelist, seen.subject, seen.description)


# --- what some reads must leave out ---------------------------------------------------------------------------

Check = Callable[[Scene, Any, str], None]
"""(scene, the answer's JSON, its text): raises AssertionError when the answer shows what it must not."""


def outline_only(scene: Scene, body: Any, text: str) -> None:
    assert body == {"dispute_id": scene.values["P"], "alliance_id": scene.alliance_id, "stage": "panel", "confidential": True}, body
    assert scene.subject not in text and scene.description not in text


def in_full(scene: Scene, body: Any, text: str) -> None:
    assert (body["state"]["subject"], body["state"]["description"]) == (scene.subject, scene.description), body


@dataclass(frozen=True)
class AsMissing:
    """The answer must be exactly the one for an id that does not exist (that id aside): the same request
    is sent again with the placeholder's id, wherever it appears, replaced by one nothing has."""

    name: str


def outlines_without_q(scene: Scene, body: Any, text: str) -> None:
    listed = {item.get("dispute_id") or item["state"]["dispute_id"]: item for item in body}
    assert scene.values["Q"] not in listed and SECRET not in text, sorted(listed)
    assert listed[scene.values["P"]] == {"dispute_id": scene.values["P"], "alliance_id": scene.alliance_id, "stage": "panel", "confidential": True}


def q_in_full(scene: Scene, body: Any, text: str) -> None:
    [q] = [item for item in body if item.get("state", {}).get("dispute_id") == scene.values["Q"]]
    assert q["state"]["description"] == SECRET


def webhook(shown: str) -> Check:
    def check(scene: Scene, body: Any, text: str) -> None:
        [rowan] = [member for member in body if member["member_id"] == "rowan"]
        assert rowan["webhook_url"] == shown, rowan

    return check


def export_with(*names: str) -> Check:
    """The alliance's export holds the record of P and of Q (confidential) only for the names given."""

    def check(scene: Scene, body: Any, text: str) -> None:
        streams = {report["stream_id"] for report in body["reports"]}
        for name in ("P", "Q"):
            assert (scene.values[f"{name}stream"] in streams) == (name in names), (name, sorted(streams))
        assert (SECRET in text) == ("Q" in names)

    return check


def checkpoint_of(size: str) -> Check:
    """The checkpoint of S1 (or S2) leaves, its note signed with the log's key."""

    def check(scene: Scene, body: Any, text: str) -> None:
        assert body["tree_size"] == scene.values[size], body
        note, signatures = split_note(body["note"])
        LOG.verifier.verify(note, next(s for s in signatures if s.name == LOG.name))

    return check


def both_checkpoints(scene: Scene, body: Any, text: str) -> None:
    assert [record["tree_size"] for record in body] == [scene.values["S1"], scene.values["S2"]], body


def s1_to_s2(scene: Scene, body: Any, text: str) -> None:
    assert (body["old_size"], body["new_size"]) == (scene.values["S1"], scene.values["S2"]) and body["proof"], body


def log_holds(scene: Scene, body: Any, text: str) -> None:
    """Recomputed from the record, the log holds: both checkpoints, their signatures checked with the settings' key."""
    assert body["problems"] == [] and body["signatures_checked"], body
    assert (body["checkpoints"], body["latest"]) == (2, scene.values["S2"]), body


def proves(name: str) -> Check:
    """The inclusion proof of the head of stream `name` (its receipt: version and hash) at S2."""

    def check(scene: Scene, body: Any, text: str) -> None:
        got = (body["stream_id"], body["stream_version"], body["event_hash"], body["tree_size"])
        assert got == (scene.values[f"{name}stream"], scene.values[f"{name}v"], scene.values[f"{name}h"], scene.values["S2"]), body

    return check


def bundle_with(*names: str) -> Check:
    """The alliance's audit bundle holds the events of P and of Q (confidential) only for the names given;
    never a member's settings (rowan's webhook); its log keys are the settings'."""

    def check(scene: Scene, body: Any, text: str) -> None:
        streams = {leaf["event"]["stream_id"] for leaf in body["leaves"] if "event" in leaf}
        for name in ("P", "Q"):
            assert (scene.values[f"{name}stream"] in streams) == (name in names), (name, sorted(streams))
            assert (scene.values[name] in text) == (name in names), name  # a withheld leaf does not name its stream
        assert (SECRET in text) == ("Q" in names)
        assert HOOK not in text
        assert body["log_keys"] == [str(LOG.verifier)], body["log_keys"]

    return check


def refused_because(words: str) -> Check:
    """A refusal for the reason its row's comment gives (not another one that happens to have the same status)."""

    def check(scene: Scene, body: Any, text: str) -> None:
        assert words in body["detail"], body

    return check


CONTENT: dict[tuple[str, str], Check | AsMissing] = {
    ("GET /disputes/{P}", "member"): outline_only,
    ("GET /disputes/{P}", "proposer"): outline_only,
    ("GET /disputes/{P}", "steering"): outline_only,
    ("GET /disputes/{P}", "raiser"): in_full,
    ("GET /disputes/{P}", "mediator"): in_full,
    ("GET /disputes/{P}", "panelist"): in_full,
    ("GET /disputes/{P}", "nonmember"): AsMissing("P"),
    ("GET /disputes/{P}", "other alliance"): AsMissing("P"),
    ("GET /disputes/{Q}", "member"): AsMissing("Q"),
    ("GET /disputes/{Q}", "mediator"): AsMissing("Q"),
    ("GET /decisions/{D}", "nonmember"): AsMissing("D"),
    ("GET /decisions/{D}", "other alliance"): AsMissing("D"),
    ("POST /decisions/{D}/stances", "other alliance"): AsMissing("D"),
    ("POST /audit/decisions/{Dc}/whatif", "other alliance"): AsMissing("Dc"),
    ("GET /alliances/{A}/disputes", "member"): outlines_without_q,
    ("GET /alliances/{A}/disputes", "steering"): outlines_without_q,
    ("GET /alliances/{A}/disputes", "coordinator"): q_in_full,
    ("GET /alliances/{A}/members", "member"): webhook(PRIVATE),
    ("GET /alliances/{A}/members", "coordinator"): webhook(HOOK),
    ("GET /alliances/{A}/audit/export", "member"): export_with(),
    ("GET /alliances/{A}/audit/export", "panelist"): export_with("P"),
    ("GET /alliances/{A}/audit/export", "raiser"): export_with("P", "Q"),
    ("GET /alliances/{A}/audit/export", "auditor"): export_with("P", "Q"),
    ("GET /audit/streams/{Qstream}/replay", "steering"): AsMissing("Q"),
    ("GET /audit/streams/{Pstream}/replay", "other alliance"): AsMissing("P"),
    ("GET /audit/streams/{Dstream}/replay", "other alliance"): AsMissing("D"),
    ("GET /audit/streams/{Astream}/replay", "other alliance"): AsMissing("A"),
    ("POST /disputes/{Q}/terms", "member"): AsMissing("Q"),
    ("POST /disputes/{P}/rulings", "other alliance"): AsMissing("P"),
    ("GET /alliances/{A}/log/checkpoint?size={S1}", "auditor"): checkpoint_of("S1"),
    ("GET /alliances/{A}/log/checkpoints", "member"): both_checkpoints,
    ("GET /alliances/{A}/log/consistency?old={S1}", "auditor"): s1_to_s2,
    ("GET /alliances/{A}/log/verify", "member"): log_holds,
    ("GET /alliances/{A}/log/verify", "auditor"): log_holds,
    ("GET /alliances/{A}/log/bundle", "member"): bundle_with(),
    ("GET /alliances/{A}/log/bundle", "panelist"): bundle_with("P"),
    ("GET /alliances/{A}/log/bundle", "raiser"): bundle_with("P", "Q"),
    ("GET /alliances/{A}/log/bundle", "auditor"): bundle_with("P", "Q"),
    ("GET /audit/proofs/{Dstream}/{Dv}?hash={Dh}", "auditor"): proves("D"),
    ("GET /audit/proofs/{Dstream}/{Dv}?hash={Dh}", "other alliance"): AsMissing("D"),
    ("GET /audit/proofs/{Pstream}/{Pv}", "panelist"): proves("P"),
    ("GET /audit/proofs/{Pstream}/{Pv}", "other alliance"): AsMissing("P"),
    ("GET /audit/proofs/{Qstream}/{Qv}?size={S2}", "raiser"): proves("Q"),
    ("GET /audit/proofs/{Qstream}/{Qv}?size={S2}", "member"): AsMissing("Q"),
    ("GET /audit/proofs/{Qstream}/{Qv}?size={S2}", "steering"): AsMissing("Q"),
    ("GET /audit/proofs/{Qstream}/{Qv}?size={S2}", "nonmember"): AsMissing("Q"),
    ("POST /alliances/{A}/log/cosignatures", "panelist"): refused_because("has named no witness key"),
    ("PUT /alliances/{A}/members/elm/witness-key", "coordinator"): refused_because("a witness key is the member's own"),
}


# --- the walk -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    row: Row
    role: str
    status: int
    detail: str


@pytest.fixture
async def client(skipping_app: Accord) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(admin_token="admin-not-held-by-any-role", log_name=LOG.name, log_key=SecretStr(str(LOG)))
    async with client_for(skipping_app, settings) as api:
        yield api


def operations(document: dict[str, Any]) -> dict[tuple[str, str], re.Pattern[str]]:
    return {
        (method.upper(), path): re.compile(re.sub(r"\{[^}]+\}", "[^/]+", path))
        for path, item in document["paths"].items()
        for method in item
    }


async def test_every_role_gets_the_status_the_policy_gives_it_on_every_route(
    skipping_app: Accord, time_skipping_env: WorkflowEnvironment, client: httpx.AsyncClient, store: EventStore
) -> None:
    # Every operation of the OpenAPI document has a row, and every row is one operation.
    ops = operations((await client.get("/openapi.json")).json())
    rows_of: dict[tuple[str, str], list[str]] = {op: [] for op in ops}
    for row in ROWS:
        probe = re.sub(r"\{\w+\}", "x", row.route.partition("?")[0])  # a row's query string is no part of the path
        matched = [(method, path) for (method, path), pattern in ops.items() if method == row.method and pattern.fullmatch(probe)]
        assert len(matched) == 1, f"{row.key} is {len(matched)} operations of the OpenAPI document: {matched}"
        rows_of[matched[0]].append(row.key)
    missing = sorted(f"{method} {path}" for (method, path), keys in rows_of.items() if not keys)
    assert not missing, f"operations without a row in MATRIX (add one, with the status each role gets): {missing}"
    assert len({row.key for row in ROWS}) == len(ROWS), "a route is in MATRIX twice"
    assert all(key in {row.key for row in ROWS} for key in BODIES) and all(key in {row.key for row in ROWS} for key, _ in CONTENT)

    scene = await build(skipping_app, time_skipping_env, store)
    cells: list[Cell] = []
    limit = asyncio.Semaphore(12)

    async def request(scene: Scene, row: Row, role: str, instance: int) -> httpx.Response:
        path = scene.fill(row.route, role, instance)
        body = scene.fill(BODIES[row.key], role, instance) if row.key in BODIES else None
        async with limit:
            return await client.request(row.method, path, json=body, headers=bearer(scene.holder(role, path)))

    async def ask(row: Row, role: str, instance: int = 0) -> None:
        answer = await request(scene, row, role, instance)
        detail = answer.text[:300]
        check = CONTENT.get((row.key, role))
        if check is not None and answer.status_code == row.expected[role]:
            try:
                if isinstance(check, AsMissing):
                    real, missing = scene.values[check.name], unique("nothing")
                    values = {name: value.replace(real, missing) if isinstance(value, str) else value for name, value in scene.values.items()}
                    twin = await request(replace(scene, values=values), row, role, instance)
                    assert (twin.status_code, json.loads(twin.text.replace(missing, real))) == (answer.status_code, answer.json()), twin.text
                else:
                    check(scene, answer.json(), answer.text)
            except AssertionError as error:
                detail = f"shows what it must not: {error}"[:600]
                cells.append(Cell(row, role, -1, detail))
                return
        cells.append(Cell(row, role, answer.status_code, detail))

    # Reads first, all at once: they change nothing. Then the commands, row by row, refused cells first.
    await asyncio.gather(*(ask(row, role) for row in ROWS if row.read for role in row.expected))
    for row in ROWS:
        if row.read:
            continue
        allowed = row.allowed()
        await asyncio.gather(*(ask(row, role) for role in row.expected if role not in allowed))
        for instance, role in enumerate(allowed):
            await ask(row, role, instance if row.pool else 0)

    assert len(cells) == len(ROWS) * len(ROLES)
    wrong = [cell for cell in cells if cell.status != cell.row.expected[cell.role]]

    def listed(group: list[Cell]) -> str:
        return "\n".join(
            f"  {cell.row.key:46} {cell.role:14} expected {cell.row.expected[cell.role]}, got {cell.status}: {cell.detail}"
            for cell in sorted(group, key=lambda c: (ROWS.index(c.row), list(ROLES.values()).index(c.role)))
        )

    assert not wrong, f"{len(wrong)} of {len(cells)} cells differ from the policy\n{listed(wrong)}"
    assert {cell.status for cell in cells} == {200, 201, 403, 404, 409}  # every kind of answer is given somewhere (409: elm's own entry)
