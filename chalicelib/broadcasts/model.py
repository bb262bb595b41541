"""A broadcast's body (what an admin POSTs) and the scenario it runs as."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from chalicelib.scenarios.definitions import Duration, Scenario, SendTime, Variant
from chalicelib.scenarios.schedule import duration_field, parse_duration

Status = Literal["draft", "scheduled", "sending", "sent", "empty", "paused", "cancelled"]
EDITABLE: frozenset[str] = frozenset({"draft", "scheduled"})  # a broadcast that started sending is not edited


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BroadcastAudience(_Model):
    """Exactly one of: a segment id, an inline segment rule, or an uploaded list of emails / user ids."""

    segment: str | None = None
    rule: dict[str, Any] | None = None
    list_: list[str] | None = Field(default=None, alias="list", min_length=1, max_length=10_000)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _exactly_one(self) -> BroadcastAudience:
        if sum(x is not None for x in (self.segment, self.rule, self.list_)) != 1:
            raise ValueError("give exactly one of 'segment', 'rule' or 'list'")
        return self


class AbTest(_Model):
    """Send the variants to `test_share` of the audience; after `decide_after`, the rest gets the winner by `metric`
    (human opens, clicks or conversions per recipient)."""

    test_share: float = Field(gt=0, lt=1)
    decide_after: Duration
    metric: Literal["opens", "clicks", "conversions"] = "clicks"

    @field_validator("decide_after")
    @classmethod
    def _duration(cls, value: str) -> str:
        value = duration_field(value)
        if parse_duration(value).total_seconds() < 60:
            raise ValueError("decide_after must be at least a minute")
        return value


class Broadcast(_Model):
    """A broadcast draft: who (audience), what (template or weighted variants), how (channel), consent (topic)."""

    name: str = Field(min_length=1, max_length=200)
    audience: BroadcastAudience
    channel: Literal["email", "sms", "push"]
    template: str | None = None
    variants: list[Variant] = Field(default_factory=list)
    topic: str | None = None
    marketing: Literal[True] = True  # a broadcast is marketing: consent, unsubscribe headers, caps
    holdout_share: float = Field(default=0, ge=0, lt=1)
    ab: AbTest | None = None
    # Send-time optimisation, as on a scenario's send step: each recipient's message waits for their best local hour
    # within `within` of the launch (fallback hour for thin histories; a control share sent at once).
    send_time: SendTime | None = None

    @model_validator(mode="after")
    def _what(self) -> Broadcast:
        if self.ab is not None and len(self.variants) < 2:
            raise ValueError("an 'ab' test needs at least two 'variants'")
        if (self.template is None) == (not self.variants):
            raise ValueError("give 'template' or 'variants', not both")
        ids = [v.id for v in self.variants]
        if len(set(ids)) != len(ids):
            raise ValueError("variant ids must be unique")
        return self

    def templates(self) -> list[tuple[str, str]]:
        """(field path, template id) of every template the broadcast names."""
        if self.template is not None:
            return [("template", self.template)]
        return [(f"variants[{n}].template", v.template) for n, v in enumerate(self.variants)]


def scenario_id_for(broadcast_id: str) -> str:
    return f"bc-{broadcast_id}"


def trigger_id_for(broadcast_id: str) -> str:
    """The broadcast's one trigger instance: every recipient's run is keyed (profile, this), so it starts once."""
    return f"{scenario_id_for(broadcast_id)}:broadcast"


def broadcast_scenario(broadcast_id: str, broadcast: Broadcast) -> Scenario:
    """The scenario a broadcast runs as: one send step; segment audiences keep `who` so the run knows its audience."""
    step: dict[str, Any] = {"type": "send", "id": "send", "channel": broadcast.channel}
    if broadcast.template is not None:
        step["template"] = broadcast.template
    else:
        step["variants"] = [v.model_dump() for v in broadcast.variants]
    if broadcast.send_time is not None:
        step["send_time"] = broadcast.send_time.model_dump()
    return Scenario.model_validate(
        {
            "id": scenario_id_for(broadcast_id),
            "name": broadcast.name,
            "when": {"type": "event", "event": "$broadcast"},  # never fired by an event: runs come from the fan-out
            "steps": [step],
            "reentry": "always",
            "holdout_percent": broadcast.holdout_share * 100,
            "marketing": True,
            "topic": broadcast.topic,
        }
    )
