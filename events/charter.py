"""The alliance charter: core principles, decision rules and the dispute procedure.

A charter is written in TOML (see `accord/examples/charter.toml`) and pinned, as it stood, into the
opening event of every decision and dispute, so a later amendment never changes a running process.
"""

from __future__ import annotations

import tomllib
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from events.currency import Currency, digits
from events.rules import Duration, Model, Refused, Slug, Text, format_duration, invalid, model_summary

FallbackRule = Literal["supermajority", "lapse"]
"""What happens to a stalled decision: adopt points that reach a supermajority of agree over object
among the stances cast, or let the decision lapse."""


class Principle(Model):
    id: Slug
    text: Text


class DecisionRules(Model):
    quorum: float = Field(gt=0, le=1, description="share of the electorate that must take a stance on a point")
    response_window: Duration = Field(description="default time from opening to the deadline")
    min_response_window: Duration = timedelta(hours=1)
    max_response_window: Duration = timedelta(days=90)
    reminder_lead: Duration = Field(description="reminder sent this long before the deadline")
    escalation_window: Duration = Field(description="time coordinators have to act on a stalled decision")
    extension: Duration = Field(description="how far one extension moves the deadline")
    max_extensions: int = Field(ge=0, le=20)
    fallback: FallbackRule = "supermajority"
    supermajority: float = Field(default=2 / 3, gt=0.5, le=1)
    objection_tolerance: int = Field(
        default=0, ge=0, description="objections a point may carry and still be adopted"
    )

    @model_validator(mode="after")
    def _windows_fit(self) -> DecisionRules:
        if self.min_response_window > self.max_response_window:
            raise ValueError("min_response_window must not exceed max_response_window")
        if not self.min_response_window <= self.response_window <= self.max_response_window:
            raise ValueError("response_window must lie between min_response_window and max_response_window")
        if self.reminder_lead >= self.response_window:
            raise ValueError("reminder_lead must be shorter than response_window")
        return self


class CrisisWindows(Model):
    """The shorter windows a dispute of severity `crisis` runs on."""

    negotiation_window: Duration
    mediation_window: Duration
    panel_window: Duration
    appeal_window: Duration
    draw_window: Duration = Field(
        default=timedelta(hours=1), description="how long parties may contribute to a draw in a crisis (at most draw_window)"
    )


class DisputeProcedure(Model):
    negotiation_window: Duration
    mediation_window: Duration
    panel_window: Duration
    appeal_window: Duration
    panel_size: int = Field(default=3, ge=1, le=15)
    reminder_lead: Duration = timedelta(days=1)
    draws: Literal["open", "immediate"] = Field(
        default="open",
        description="open: a draw (mediator, panel, appeal panel) stays open for draw_window, or until every party "
        "has contributed, so that neither accord nor one party chooses who is drawn; immediate: accord draws at "
        "once, as fair as the operator",
    )
    draw_window: Duration = Field(default=timedelta(days=1), description="how long parties may contribute to a draw")
    existence_confidential: bool = Field(
        default=False, description="when true, outsiders do not even learn that a dispute exists"
    )
    crisis: CrisisWindows

    @model_validator(mode="after")
    def _crisis_is_faster(self) -> DisputeProcedure:
        if self.panel_size % 2 == 0:
            raise ValueError("panel_size must be odd so that a majority always exists")
        for step in ("negotiation_window", "mediation_window", "panel_window", "appeal_window"):
            if getattr(self.crisis, step) > getattr(self, step):
                raise ValueError(f"crisis.{step} must not be longer than {step}")
        return self


class Transparency(Model):
    witnesses: int = Field(
        default=0, ge=0, le=100,
        description="how many members' witnesses must cosign a checkpoint of the alliance's log before it counts: "
        "proofs are given to, and verification reports, the newest checkpoint that has them",
    )


class Costs(Model):
    """How the alliance shares the costs of coordination, and how the ledger values what members carry."""

    currency: Currency = Field(default="EUR", description="the reporting currency (ISO 4217)")
    shares: Literal["equal", "fixed", "weighted"] = Field(
        default="equal",
        description="equal: every active member the same; fixed: `share` per member, fractions summing to 1; "
        "weighted: `weight` per member (say, capacity), shares proportional to them",
    )
    share: dict[Slug, Decimal] = {}
    weight: dict[Slug, Decimal] = {}
    tolerance: Decimal = Field(
        default=Decimal("0.05"), ge=0, le=1,
        description="how far a member's actual share may drift from its agreed share (in share points: 0.05 is 5%) before it is flagged",
    )
    hour_value: Decimal = Field(default=Decimal(0), ge=0, description="the value of an hour of staff time, in `currency`")
    hour_values: dict[Slug, Decimal] = Field(default={}, description="a member's own hour value, where it differs")

    @model_validator(mode="after")
    def _shares_agreed(self) -> Costs:
        if self.shares == "fixed":
            if not self.share:
                raise ValueError("shares = 'fixed' needs a share per member: [costs.share] member = 0.25, ...")
            if any(part <= 0 for part in self.share.values()):
                raise ValueError("every share must be more than 0")
            if sum(self.share.values()) != 1:
                raise ValueError(f"the shares must sum to exactly 1; they sum to {sum(self.share.values())}")
        elif self.share:
            raise ValueError(f"`share` is for shares = 'fixed', not {self.shares!r}")
        if self.shares == "weighted":
            if not self.weight:
                raise ValueError("shares = 'weighted' needs a weight per member: [costs.weight] member = 3, ...")
            if any(w <= 0 for w in self.weight.values()):
                raise ValueError("every weight must be more than 0")
        elif self.weight:
            raise ValueError(f"`weight` is for shares = 'weighted', not {self.shares!r}")
        for value in [self.hour_value, *self.hour_values.values()]:
            if value < 0 or value != value.quantize(Decimal(1).scaleb(-digits(self.currency))):
                places = digits(self.currency)
                raise ValueError(f"an hour value must be an amount of {self.currency} of at most {places} decimal(s), not {value}")
        return self


class Charter(Model):
    name: Text
    principles: list[Principle] = Field(min_length=1)
    decisions: DecisionRules
    disputes: DisputeProcedure
    transparency: Transparency = Transparency()
    costs: Costs = Costs()

    @model_validator(mode="after")
    def _unique_principles(self) -> Charter:
        ids = [p.id for p in self.principles]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"principle ids must be unique; repeated: {', '.join(duplicates)}")
        return self

    def principle(self, principle_id: str) -> Principle | None:
        return next((p for p in self.principles if p.id == principle_id), None)


MAX_WINDOW = timedelta(days=3650)
"""The longest window a charter may set (ten years): far beyond any governance process, and short
enough that a deadline reached through every extension and escalation stays a date."""


def windows_within_limits(charter: Charter) -> None:
    """Refuse a new charter whose windows exceed MAX_WINDOW, naming the first such field. Checked where
    a charter enters (founding, amending), not in the type: charters already recorded keep loading."""
    sections: list[tuple[str, Model]] = [
        ("decisions", charter.decisions), ("disputes", charter.disputes), ("disputes.crisis", charter.disputes.crisis),
    ]
    for prefix, section in sections:
        for name, value in section:
            if isinstance(value, timedelta) and value > MAX_WINDOW:
                raise invalid(
                    f"charter: {prefix}.{name} is {format_duration(value)}; a window may be at most "
                    f"{format_duration(MAX_WINDOW)} (ten years)",
                    field=f"charter.{prefix}.{name}",
                )


def parse_charter(raw: dict[str, object], source: str = "charter") -> Charter:
    """Validate a charter mapping; a wrong value is refused naming the field and what is accepted."""
    try:
        return Charter.model_validate(raw)
    except ValidationError as error:
        message, field = model_summary(error)
        raise invalid(f"{source}: {message}", field=f"charter.{field}" if field else "charter") from None


def _read_toml(path: Path, what: str) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise invalid(f"{what} file {path} does not exist", field=what) from None
    except tomllib.TOMLDecodeError as error:
        raise invalid(f"{path} is not valid TOML: {error}", field=what) from None


def load_charter(path: Path) -> Charter:
    """Read a TOML charter file."""
    return parse_charter(_read_toml(path, "charter"), source=str(path))


def load_rules(path: Path) -> DecisionRules:
    """Decision rules from a TOML file's [decisions] table (a whole charter file will do)."""
    raw = _read_toml(path, "rules")
    if not isinstance(raw.get("decisions"), dict):
        raise invalid(f"{path} has no [decisions] table", field="rules")
    try:
        return DecisionRules.model_validate(raw["decisions"])
    except ValidationError as error:
        message, field = model_summary(error)
        raise invalid(f"{path}: decisions.{message}", field=f"rules.{field}") from None


__all__ = ["Charter", "DecisionRules", "DisputeProcedure", "Principle", "Refused", "load_charter", "parse_charter"]
