"""Custom search attributes, so `temporal workflow list --query` and the Web UI find accord's processes.

Example: every stalled decision of an alliance:
    temporal workflow list --query "AccordAlliance='rivers' AND AccordKind='decision' AND AccordStage='stalled'"
"""

from temporalio.common import SearchAttributeKey

KIND = SearchAttributeKey.for_keyword("AccordKind")
ALLIANCE = SearchAttributeKey.for_keyword("AccordAlliance")
STAGE = SearchAttributeKey.for_keyword("AccordStage")
DEADLINE = SearchAttributeKey.for_datetime("AccordDeadline")
SEVERITY = SearchAttributeKey.for_keyword("AccordSeverity")

ALL = (KIND, ALLIANCE, STAGE, DEADLINE, SEVERITY)
"""Every attribute accord sets; a Temporal namespace must have them registered (`accord dev` does)."""
