"""The rule language as data: all/any/not over field conditions and event-window conditions, validated by pydantic."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

# The operators a segment or fit rule may use (a scenario condition also has the negated forms, see `operators`).
Op = Literal["eq", "ne", "in", "gt", "gte", "lt", "lte", "exists", "contains"]

# Roots a field path may start with: the readable parts of a profile. Internal bookkeeping (`activity`, `applied`)
# is deliberately not addressable so that rules never depend on its compact, changeable layout.
FIELD_ROOTS = frozenset(
    {
        "traits",
        "demographics",
        "computed",
        "scores",
        "stage",
        "stage_since",
        "rfm",
        "consent",
        "segments",
        "needs_group",
        "group_value_percentile",
        "predictions",  # CLV, churn risk, purchase and response propensity, uplift (see predictions/)
        "email",
        "user_id",
        "phone",
        "anonymous_ids",
        "bot_events",
    }
)
MAX_WINDOW_DAYS = 90  # the profile keeps per-event daily counts this long (see profiles.fold.DAILY_RETENTION_DAYS)
_STRICT = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)


class FieldCondition(BaseModel):
    """Compare the value at a dotted path of the profile (e.g. `demographics.state`) with `value`.

    Operators mean the same in segments, fit rules and scenario conditions. Strings compare without case for
    eq/ne/in/contains (marketers type "ca", data says "CA"). gt/gte/lt/lte compare numbers numerically (a numeric
    string is read as a number when the other side is a number) and two strings by their case-folded text, which also
    orders ISO dates and 5-digit postal codes. A true/false value equals only true/false. A missing value makes every
    op False except `ne` (True) and `exists: false` (True); an empty text, list or map does not `exist`.
    """

    model_config = _STRICT

    field: str = Field(
        description="Dotted path into the profile, e.g. traits.plan, computed.orders, consent.email.status"
    )
    op: Op
    value: Any = Field(default=None, description="Operand; a list for `in`; for `exists` true (default) or false")

    @field_validator("field")
    @classmethod
    def _known_root(cls, path: str) -> str:
        parts = path.split(".")
        if any(not p for p in parts):
            raise ValueError(f"empty segment in field path {path!r}")
        if parts[0] not in FIELD_ROOTS:
            raise ValueError(f"unknown field root {parts[0]!r}; expected one of {', '.join(sorted(FIELD_ROOTS))}")
        return path

    @model_validator(mode="after")
    def _operand_fits_op(self) -> FieldCondition:
        if self.op == "in" and not isinstance(self.value, list):
            raise ValueError("op 'in' needs a list value")
        if self.op == "exists" and self.value is not None and not isinstance(self.value, bool):
            raise ValueError("op 'exists' takes true/false (or no value)")
        if self.op in ("gt", "gte", "lt", "lte") and (isinstance(self.value, bool) or not _scalar(self.value)):
            raise ValueError(f"op {self.op!r} needs a number or a string value")
        if self.op in ("eq", "ne", "contains") and self.value is None:
            raise ValueError(f"op {self.op!r} needs a value (use 'exists' to test for presence)")
        return self


class EventCondition(BaseModel):
    """ "Did event X at least `min_count` (and at most `max_count`) times in the last `within_days` days".

    Days are UTC calendar days including today: `within_days: 1` means today, 7 means today and the 6 days before.
    Counts come from the profile's per-event daily counts, which bots never feed.
    """

    model_config = _STRICT

    event: str = Field(min_length=1, description="Event name, e.g. 'Product Added'; page calls are 'Page Viewed'")
    min_count: int = Field(default=1, ge=0)
    max_count: int | None = Field(default=None, ge=0)
    within_days: int = Field(ge=1, le=MAX_WINDOW_DAYS)

    @model_validator(mode="after")
    def _bounds(self) -> EventCondition:
        if self.max_count is not None and self.max_count < self.min_count:
            raise ValueError("max_count must be >= min_count")
        return self


class AllRule(BaseModel):
    """True when every sub-rule is true."""

    model_config = _STRICT
    all: list[Rule] = Field(min_length=1)


class AnyRule(BaseModel):
    """True when at least one sub-rule is true."""

    model_config = _STRICT
    any: list[Rule] = Field(min_length=1)


class NotRule(BaseModel):
    """True when the sub-rule is false."""

    model_config = _STRICT
    not_: Rule = Field(alias="not")


def _rule_tag(value: Any) -> str | None:
    # Tags are wrapped in <> so that error paths can drop them (see profiles.config._format_loc).
    if isinstance(value, dict):
        for key in ("all", "any", "not", "event", "field"):
            if key in value:
                return f"<{key}>"
        return None
    return _TAG_BY_CLASS.get(type(value))


Rule = Annotated[
    Annotated[AllRule, Tag("<all>")]
    | Annotated[AnyRule, Tag("<any>")]
    | Annotated[NotRule, Tag("<not>")]
    | Annotated[EventCondition, Tag("<event>")]
    | Annotated[FieldCondition, Tag("<field>")],
    Discriminator(
        _rule_tag,
        custom_error_type="invalid_rule",
        custom_error_message="a rule is an object with one of the keys all, any, not, event, field",
    ),
]
_TAG_BY_CLASS: dict[type, str] = {
    AllRule: "<all>",
    AnyRule: "<any>",
    NotRule: "<not>",
    EventCondition: "<event>",
    FieldCondition: "<field>",
}
AllRule.model_rebuild()
AnyRule.model_rebuild()
NotRule.model_rebuild()


def _scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float))
