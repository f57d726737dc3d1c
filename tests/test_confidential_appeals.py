"""An appeal keeps the dispute's secrets: it is decided by a panel drawn from the neutral members, who
read the case; the rest of the alliance sees of the appeal what it may see of the dispute, on every read.

On the time-skipping server: a dispute climbs to a panel that imposes terms, a party appeals. Two members
are left outside everything the dispute drew; one of them asks every read route the
HTTP API has for the appeal, and none may name the dispute's subject, its terms or its description.
(With three more members than the roles need, six are neutral when the appeal panel of three is drawn,
so at least two who are not coordinators stay outside, whoever is drawn.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from api_support import bearer, client_for
from dispute_support import RAISER, RESPONDENT, alliance_for_disputes, in_stage, raise_between, recomputed, skip_to
from temporalio.testing import WorkflowEnvironment

from accord.app import Accord
from accord.config import Settings
from events.access import Caller
from events.alliance import AdmitMember
from events.decision import StanceKind, TakeStance
from events.dispute import DeclareImpasse, DisputeState, LodgeAppeal, RulingKind, SubmitRuling
from events.processes import DECISION, DISPUTE
from events.rules import Refused
from events.store import EventStore

MORE_MEMBERS = ["juniper", "kale", "lime"]
SUBJECT = "Use of the shared banner"
TERMS = "dune pays for a new banner"
SECRETS = (SUBJECT, TERMS, "rally we boycotted")


@dataclass
class Appealed:
    alliance_id: str
    dispute_id: str
    state: DisputeState
    """The dispute in its appeal."""

    @property
    def appeal_id(self) -> str:
        return f"appeal-{self.dispute_id}"

    @property
    def outsiders(self) -> list[str]:
        """The members the dispute drew into nothing: neither party, mediator, panelist nor appeal panelist."""
        state = self.state
        drawn = {*state.parties, state.mediator or "", *state.panel, *state.appeal_panel, *state.context.coordinators}
        return sorted(set(state.context.members) - drawn)

    @property
    def appeal_stream(self) -> str:
        return DECISION.stream_name(self.appeal_id, self.alliance_id)


async def appealed(app: Accord, env: WorkflowEnvironment, *, confidential: bool) -> Appealed:
    """A dispute whose panel imposed terms, appealed by the respondent."""
    alliance_id = await alliance_for_disputes(app, existence_confidential=confidential)
    for member in MORE_MEMBERS:
        await app.alliance_command(alliance_id, AdmitMember(actor="gw", member_id=member, name=member.title()))
    dispute_id = await raise_between(app, alliance_id)
    raised = await in_stage(app, dispute_id, "negotiation")
    assert raised.stage_deadline is not None
    await skip_to(env, raised.stage_deadline)
    mediation = await in_stage(app, dispute_id, "mediation")
    await app.dispute_command(dispute_id, DeclareImpasse(actor=mediation.mediator or ""))
    panel = await in_stage(app, dispute_id, "panel")
    for panelist in panel.panel[:2]:
        await app.dispute_command(dispute_id, SubmitRuling(actor=panelist, ruling=RulingKind.TERMS, terms=TERMS, reasons="fair"))
    await in_stage(app, dispute_id, "appeal_window")
    await app.dispute_command(dispute_id, LodgeAppeal(actor=RESPONDENT, reason="the panel ignored our vote"))
    return Appealed(alliance_id, dispute_id, await in_stage(app, dispute_id, "appeal"))


async def test_an_appeal_is_decided_by_a_panel_drawn_from_the_neutral_members_who_read_the_case(
    skipping_app: Accord, time_skipping_env: WorkflowEnvironment, store: EventStore
) -> None:
    app = skipping_app
    case = await appealed(app, time_skipping_env, confidential=True)
    state = case.state
    stream = DISPUTE.stream_name(case.dispute_id, case.alliance_id)
    [drawn] = [e for e in await store.read_stream(stream) if e.event_type == "AppealPanelDrawn"]
    neutral = sorted(set(state.context.members) - {RAISER, RESPONDENT, state.mediator or ""} - set(state.panel))
    assert drawn.data["draw"]["pool"] == neutral and len(neutral) == 6
    assert state.appeal_panel == drawn.data["panel"] == recomputed(drawn.data)

    # The appeal's electorate is its panel; its panelists read the dispute in full, as its parties do.
    appeal = await app.decision(case.appeal_id, Caller.named(state.appeal_panel[0]), alliance_id=case.alliance_id)
    assert appeal.state.context.electorate == state.appeal_panel and appeal.state.context.steering == []
    assert SUBJECT in appeal.state.title
    seen = await app.dispute(case.dispute_id, Caller.named(state.appeal_panel[0]), alliance_id=case.alliance_id)
    assert getattr(seen, "state", None) is not None and seen.state.description  # type: ignore[union-attr]

    # The appeal panel decides; the ruling is final.
    for member in state.appeal_panel:
        await app.decision_command(
            case.appeal_id, TakeStance(actor=member, point_id="p1", stance=StanceKind.AGREE), alliance_id=case.alliance_id
        )
    final = await in_stage(app, case.dispute_id, "final")
    assert final.outcome == "ruling upheld on appeal"


@pytest.fixture
async def api(skipping_app: Accord) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(skipping_app, Settings()) as client:
        yield client


async def every_read(api: httpx.AsyncClient, case: Appealed, token: str) -> dict[str, httpx.Response]:
    """Every read route an outsider could point at the appeal (and at the alliance's lists)."""
    headers = bearer(token)
    a, stream = case.alliance_id, case.appeal_stream
    paths = {
        "decision": f"/decisions/{case.appeal_id}",
        "decisions": f"/alliances/{a}/decisions",
        "notifications": f"/alliances/{a}/members/{case.outsiders[0]}/notifications",
        "replay": f"/audit/streams/{stream}/replay",
        "replay by id": f"/audit/streams/decision-{case.appeal_id}/replay",
        "check": f"/audit/streams/{stream}/check",
        "export": f"/audit/streams/{stream}/export",
        "receipt": f"/audit/receipts/{stream}/1/{'0' * 64}",
        "alliance export": f"/alliances/{a}/audit/export",
        "alliance verify": f"/alliances/{a}/audit/verify",
        "dispute": f"/disputes/{case.dispute_id}",
        "disputes": f"/alliances/{a}/disputes",
    }
    answers = {name: await api.get(path, headers=headers) for name, path in paths.items()}
    answers["whatif"] = await api.post(
        f"/audit/decisions/{case.appeal_id}/whatif", headers=headers, json=case.state.context.decision_rules.model_dump(mode="json")
    )
    answers["stance"] = await api.post(
        f"/decisions/{case.appeal_id}/stances", headers=headers, json={"point_id": "p1", "stance": "agree"}
    )
    return answers


def missing(answer: httpx.Response) -> bool:
    return answer.status_code == 404


async def test_where_the_charter_keeps_disputes_confidential_an_outsider_learns_nothing_of_the_appeal_on_any_route(
    skipping_app: Accord, time_skipping_env: WorkflowEnvironment, api: httpx.AsyncClient
) -> None:
    app = skipping_app
    case = await appealed(app, time_skipping_env, confidential=True)
    assert len(case.outsiders) >= 2
    token = (await app.issue_token(case.alliance_id, "gw", case.outsiders[0], "outsider")).token
    answers = await every_read(api, case, token)
    for name, answer in answers.items():
        assert answer.status_code < 500, (name, answer.text)
        assert not any(secret in answer.text for secret in SECRETS), (name, answer.text)
        assert case.appeal_id not in answer.text or missing(answer), (name, answer.text)
    assert {name for name, answer in answers.items() if answer.status_code == 200} == {
        "decisions", "notifications", "alliance export", "alliance verify", "disputes"
    }
    # Refused as what does not exist: the same words as for an id nobody uses.
    nobody = await api.get("/decisions/appeal-nobody", headers=bearer(token))
    assert answers["decision"].json()["detail"] == nobody.json()["detail"].replace("appeal-nobody", case.appeal_id)
    assert case.appeal_stream not in answers["alliance verify"].json()["streams"]

    # The appeal's panel, the parties and the coordinators read it.
    for reader in [*case.state.appeal_panel, RAISER, "gw"]:
        view = await app.decision(case.appeal_id, Caller(member_id=reader, alliance_id=case.alliance_id))
        assert SUBJECT in view.state.title


async def test_where_only_a_dispute_s_contents_are_confidential_an_outsider_sees_that_the_appeal_runs_and_no_more(
    skipping_app: Accord, time_skipping_env: WorkflowEnvironment, api: httpx.AsyncClient
) -> None:
    app = skipping_app
    case = await appealed(app, time_skipping_env, confidential=False)
    token = (await app.issue_token(case.alliance_id, "gw", case.outsiders[0], "outsider")).token
    answers = await every_read(api, case, token)
    for name, answer in answers.items():
        assert answer.status_code < 500, (name, answer.text)
        assert not any(secret in answer.text for secret in SECRETS), (name, answer.text)
    [row] = [r for r in answers["decisions"].json() if r["decision_id"] == case.appeal_id]
    assert row["title"] == f"Appeal in dispute {case.dispute_id}" and row["stage"] == "open"
    assert answers["decision"].status_code == 403 and "appeal" in answers["decision"].json()["detail"]
    assert answers["stance"].status_code == 403 and answers["stance"].json()["detail"] == answers["decision"].json()["detail"]
    assert answers["replay"].status_code == answers["export"].status_code == 403
    assert answers["dispute"].json() == {
        "dispute_id": case.dispute_id, "alliance_id": case.alliance_id, "stage": "appeal", "confidential": True
    }
    with pytest.raises(Refused) as refused:
        await app.decision(case.appeal_id, Caller.named(case.outsiders[1]), alliance_id=case.alliance_id)
    assert refused.value.kind == "forbidden"
