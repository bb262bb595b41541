"""Scoring and lifecycle configuration as data: the models of `scoring.json` and `lifecycle.json` (loaded, with the
segments file, by `profiles.config`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from chalicelib.rules import FieldCondition

_STRICT = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)


# --- scoring ------------------------------------------------------------------------------------------------------


class EventPoints(BaseModel):
    """Engagement points for one event name, at most `daily_cap` awards per UTC day (reload loops cannot farm)."""

    model_config = _STRICT
    points: float
    daily_cap: int = Field(default=10, ge=1)


class EngagementConfig(BaseModel):
    """Behavioural score: points per event name, decaying with a half-life."""

    model_config = _STRICT
    half_life_days: float = Field(default=30.0, gt=0)
    events: dict[str, EventPoints] = Field(default_factory=dict, description="Event name -> points; pages: Page Viewed")


class FitRule(FieldCondition):
    """Fit points awarded while the condition holds (e.g. job title, company size, country, has email)."""

    points: float


class GradeConfig(BaseModel):
    """Grade A1..C3: letter from fit (A if fit >= fit_cuts[0], B if >= fit_cuts[1], else C), digit from engagement
    (1 if >= engagement_cuts[0], 2 if >= engagement_cuts[1], else 3)."""

    model_config = _STRICT
    fit_cuts: list[float] = Field(default=[40.0, 20.0], min_length=2, max_length=2)
    engagement_cuts: list[float] = Field(default=[50.0, 20.0], min_length=2, max_length=2)

    @field_validator("fit_cuts", "engagement_cuts")
    @classmethod
    def _descending(cls, cuts: list[float]) -> list[float]:
        if cuts[0] < cuts[1]:
            raise ValueError("cuts are [best band minimum, middle band minimum] and must be descending")
        return cuts


class Threshold(BaseModel):
    """A named score level; crossing it upwards records `score_crossed`, falling below records `score_dropped`."""

    model_config = _STRICT
    name: str = Field(min_length=1)
    min_total: float = Field(description="Crossed when engagement + fit >= min_total")


class InterestConfig(BaseModel):
    """Interest in a product category: weight per event, decayed by a half-life (top category = needs group)."""

    model_config = _STRICT
    half_life_days: float = Field(default=30.0, gt=0)
    weights: dict[str, float] = Field(
        default_factory=lambda: {"Product Viewed": 1.0, "Product Added": 3.0, "Order Completed": 5.0}
    )
    top_n: int = Field(default=5, ge=1, le=20)


class ScoringConfig(BaseModel):
    """`scoring.json`."""

    model_config = _STRICT
    schema_: str | None = Field(default=None, alias="$schema")
    engagement: EngagementConfig = Field(default_factory=EngagementConfig)
    fit: list[FitRule] = Field(default_factory=list)
    grade: GradeConfig = Field(default_factory=GradeConfig)
    thresholds: list[Threshold] = Field(default_factory=list)
    interests: InterestConfig = Field(default_factory=InterestConfig)

    @field_validator("thresholds")
    @classmethod
    def _unique_thresholds(cls, thresholds: list[Threshold]) -> list[Threshold]:
        names = [t.name for t in thresholds]
        if len(names) != len(set(names)):
            raise ValueError("threshold names must be unique")
        return thresholds


# --- lifecycle ----------------------------------------------------------------------------------------------------


class LoyalRule(BaseModel):
    """Who counts as a top customer; any one condition is enough, null disables a condition."""

    model_config = _STRICT
    min_revenue: float | None = Field(default=1000.0, ge=0)
    rfm_groups: list[str] = Field(default_factory=lambda: ["Champions"])
    min_rfm_monetary: int | None = Field(default=None, ge=1, le=5)
    min_group_value_percentile: float | None = Field(default=90.0, ge=0, le=100)


class LifecycleConfig(BaseModel):
    """`lifecycle.json`. Stages are decided in this order: churned, prospect, dormant, at_risk, new, loyal, active."""

    model_config = _STRICT
    schema_: str | None = Field(default=None, alias="$schema")
    new_days: int = Field(default=30, ge=1, description="A customer is 'new' this many days after the first order")
    at_risk_days: int = Field(default=90, ge=1, description="No order for this many days: at_risk")
    dormant_days: int = Field(default=180, ge=1, description="A customer silent (no activity) this long: dormant")
    churned_days: int = Field(default=365, ge=1, description="Anyone silent this long: churned")
    loyal: LoyalRule = Field(default_factory=LoyalRule)

    @model_validator(mode="after")
    def _ordered(self) -> LifecycleConfig:
        if self.dormant_days >= self.churned_days:
            raise ValueError("dormant_days must be smaller than churned_days")
        return self
