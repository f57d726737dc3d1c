"""Stream names and the process descriptors everything else derives from."""

from __future__ import annotations

import pytest
from temporalio import workflow

from accord.worker import WORKFLOWS
from events.processes import ALLIANCE, DECISION, DISPUTE, PROCESSES, parse_stream, process_of
from events.rules import RefusalKind, Refused
from events.streams import StreamId


def test_a_stream_name_is_its_kind_a_dash_the_alliance_a_dot_and_the_process_id_which_may_hold_dashes() -> None:
    stream = parse_stream("dispute-rivers-2.spring-march-2")
    assert (stream.kind, stream.id, stream.scope, stream.process_id) == ("dispute", "rivers-2.spring-march-2", "rivers-2", "spring-march-2")
    assert str(stream) == "dispute-rivers-2.spring-march-2" == DISPUTE.stream_name("spring-march-2", "rivers-2")
    assert process_of(stream) is DISPUTE is process_of("dispute-rivers-2.spring-march-2")


def test_an_alliance_stream_and_a_stream_recorded_before_ids_were_scoped_have_no_scope() -> None:
    assert ALLIANCE.stream_name("rivers-2") == "alliance-rivers-2"
    legacy = parse_stream("decision-spring-march")
    assert (legacy.scope, legacy.process_id) == (None, "spring-march")
    with pytest.raises(ValueError, match="within its alliance"):
        DECISION.stream("spring")


@pytest.mark.parametrize("name", ["decision", "decision-", "-spring", "budget-2026", "", "decision-.spring", "dispute-rivers."])
def test_a_name_of_no_known_kind_is_refused_with_the_names_accord_knows(name: str) -> None:
    with pytest.raises(Refused) as refused:
        process_of(name)
    assert refused.value.kind == RefusalKind.NOT_FOUND
    assert "'alliance-<id>', 'decision-<alliance>.<id>', 'dispute-<alliance>.<id>', 'ledger-<alliance>.<id>'" in refused.value.message


def test_a_stream_id_cannot_be_built_ambiguous() -> None:
    with pytest.raises(ValueError, match="not a stream id"):
        StreamId("dec-ision", "spring")
    with pytest.raises(ValueError, match="not a stream id"):
        DECISION.stream("", "rivers")


def test_the_worker_runs_exactly_the_workflow_of_each_descriptor_under_its_kind() -> None:
    assert [p.workflow for p in PROCESSES.values()] == WORKFLOWS
    for kind, process in PROCESSES.items():
        definition = workflow._Definition.must_from_class(process.workflow)
        assert definition.name.lower() == kind
        assert definition.name == process.workflow_type  # the name the application layer starts and queries it by
        assert definition.queries["current"].ret_type == process.state_type | None
