"""Property: segments, scenario conditions and fit rules are one language — for any value and operator they agree.

A segment field condition (`traits.x`), a fit rule on the same field, and a scenario condition reading the same value
through each of its roots (`profile.traits.x` on the profile JSON, `event.properties.x`, `context.x`) must all decide
the same. Values are random and oddly typed (case variants, numeric strings, booleans, lists, maps, missing).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.profiles import codec
from chalicelib.profiles.model import Profile
from chalicelib.profiles.segmentation import SegmentDef
from chalicelib.rules import compile_rule
from chalicelib.scenarios.conditions import evaluate
from chalicelib.scenarios.definitions import Condition
from chalicelib.scoring.config import ScoringConfig
from chalicelib.scoring.lead_score import update_scores
from chalicelib.tracking.events import TrackedEvent

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
STRINGS = ["CA", "ca", "Ca", "Los Angeles", "los angeles", "angeles", "", "5", "5.0", "10", "9", "2026-03-01", "true"]
SCALARS = st.one_of(
    st.sampled_from(STRINGS),
    st.text(max_size=4),
    st.integers(-3, 12),
    st.floats(-10, 12, allow_nan=False),
    st.booleans(),
)
VALUES = st.one_of(
    st.none(),
    SCALARS,
    st.lists(st.one_of(st.none(), SCALARS), max_size=4),
    st.dictionaries(st.sampled_from(["a", "CA", "ca", "5"]), SCALARS, max_size=3),
)
ORDERED = SCALARS.filter(lambda v: not isinstance(v, bool))


@st.composite
def conditions(draw: st.DrawFn) -> dict[str, Any]:
    """An operator and operand every user accepts (the segment model is the strictest)."""
    op = draw(st.sampled_from(["eq", "ne", "in", "gt", "gte", "lt", "lte", "exists", "contains"]))
    if op == "in":
        return {"op": op, "value": draw(st.lists(SCALARS, min_size=1, max_size=4))}
    if op == "exists":
        return {"op": op, "value": draw(st.one_of(st.none(), st.booleans()))}
    if op in ("gt", "gte", "lt", "lte"):
        return {"op": op, "value": draw(ORDERED)}
    return {"op": op, "value": draw(SCALARS)}


def json_value(value: Any) -> Any:
    return json.loads(json.dumps(value))


def in_segment(condition: dict[str, Any], value: Any) -> bool:
    profile = Profile(profile_id="p")
    profile.traits = {} if value is None else {"x": value}
    segment = SegmentDef.model_validate({"name": "s", "rule": {"field": "traits.x", **condition}})
    return compile_rule(segment)(profile, NOW)


def fit_points(condition: dict[str, Any], value: Any) -> float:
    profile = Profile(profile_id="p")
    profile.traits = {} if value is None else {"x": value}
    config = ScoringConfig.model_validate({"fit": [{"field": "traits.x", **condition, "points": 10}]})
    update_scores(profile, config, NOW)
    return profile.scores.fit


def scenario_decisions(condition: dict[str, Any], value: Any) -> dict[str, bool]:
    """The scenario condition through each root that can hold the value."""
    profile = Profile(profile_id="p")
    profile.traits = {} if value is None else {"x": value}
    profile_json = json.loads(codec.to_json(profile))  # what the scenario engine reads: the stored body as JSON
    properties = {} if value is None else {"x": json_value(value)}
    event = TrackedEvent(
        message_id="m", source_id="web", type="track", profile_id="p", timestamp=NOW, received_at=NOW,
        event="Tested", properties=properties,
    )  # fmt: skip
    decide = {
        root: evaluate(Condition.model_validate({"field": field, **condition}), profile=profile_json, event=event,
                       context=properties)
        for root, field in (("profile", "profile.traits.x"), ("event", "event.properties.x"), ("context", "context.x"))
    }  # fmt: skip
    return decide


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=VALUES, condition=conditions())
def test_segment_scenario_and_fit_rule_decide_alike(value: Any, condition: dict[str, Any]) -> None:
    # GIVEN one value and one condition, WHEN each user of the rule language decides, THEN they agree.
    expected = in_segment(condition, value)
    assert fit_points(condition, value) == (10.0 if expected else 0.0)
    assert scenario_decisions(condition, value) == {"profile": expected, "event": expected, "context": expected}


@pytest.mark.parametrize(
    ("op", "operand", "value", "decided"),
    [
        ("eq", "ca", "CA", True),  # the example: `state eq "ca"` matched a segment and not a scenario
        ("ne", "ca", "CA", False),
        ("in", ["ny", "ca"], "CA", True),
        ("contains", "ANGELES", "Los Angeles", True),
        ("gte", "ca", "CA", True),
        ("eq", 5, "5", True),
        ("eq", 1, True, False),
        ("exists", None, "", False),
        ("gt", "9", "10", False),  # two strings: lexicographic
        ("gt", 9, "10", True),  # a number on one side: numeric
    ],
)
def test_the_decided_semantics_hold_for_every_user(op: str, operand: Any, value: Any, decided: bool) -> None:
    condition = {"op": op, "value": operand}
    assert in_segment(condition, value) is decided
    assert fit_points(condition, value) == (10.0 if decided else 0.0)
    assert set(scenario_decisions(condition, value).values()) == {decided}


def test_state_eq_ca_matches_california_in_a_segment_and_a_scenario() -> None:
    profile = Profile(profile_id="p")
    profile.demographics.state = "CA"
    segment = SegmentDef.model_validate(
        {"name": "ca", "rule": {"field": "demographics.state", "op": "eq", "value": "ca"}}
    )
    condition = Condition.model_validate({"field": "profile.demographics.state", "op": "eq", "value": "ca"})
    assert compile_rule(segment)(profile, NOW)
    assert evaluate(condition, profile=json.loads(codec.to_json(profile)))
