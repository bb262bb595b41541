"""Property test: compiled segment rules decide exactly what a plain reading of the rule language decides.

`rules.compile_rule` turns each rule into closures once (the fold evaluates every segment and fit rule on every
batch). The reference below is the straightforward interpreter those closures replaced; hypothesis throws random
rules and random profiles (odd types included) at both.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.profiles.model import Profile
from chalicelib.profiles.segmentation import SegmentDef
from chalicelib.rules import AllRule, AnyRule, FieldCondition, NotRule, compile_rule, evaluate, resolve
from chalicelib.rules import equal as _eq
from chalicelib.rules import order as _compare
from chalicelib.rules import path as _path
from chalicelib.rules import present as _present

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def reference_condition(cond: FieldCondition, profile: Any) -> bool:
    value = resolve(profile, _path(cond.field))
    op = cond.op
    if op == "exists":
        return _present(value) == (True if cond.value is None else cond.value)
    if op == "ne":
        return not (value is not None and _eq(value, cond.value))
    if value is None:
        return False
    if op == "eq":
        return _eq(value, cond.value)
    if op == "in":
        if isinstance(value, list):
            return any(_eq(item, option) for item in value for option in cond.value)
        return any(_eq(value, option) for option in cond.value)
    if op == "contains":
        if isinstance(value, str):
            return isinstance(cond.value, str) and cond.value.casefold() in value.casefold()
        if isinstance(value, list):
            return any(_eq(item, cond.value) for item in value)
        if isinstance(value, dict):
            return cond.value in value
        return False
    order = _compare(value, cond.value)
    if order is None:
        return False
    return {"gt": order > 0, "gte": order >= 0, "lt": order < 0, "lte": order <= 0}[op]


def reference(rule: Any, profile: Profile, now: datetime) -> bool:
    if isinstance(rule, SegmentDef):
        rule = rule.rule
    if isinstance(rule, FieldCondition):
        return reference_condition(rule, profile)
    if isinstance(rule, AllRule):
        return all(reference(sub, profile, now) for sub in rule.all)
    if isinstance(rule, AnyRule):
        return any(reference(sub, profile, now) for sub in rule.any)
    if isinstance(rule, NotRule):
        return not reference(rule.not_, profile, now)
    days = profile.activity.daily.get(rule.event) or {}
    first, today = (now.date() - timedelta(days=rule.within_days - 1)).isoformat(), now.date().isoformat()
    count = sum(n for day, n in days.items() if first <= day <= today)
    return count >= rule.min_count and (rule.max_count is None or count <= rule.max_count)


SCALARS = st.one_of(
    st.sampled_from(["CA", "ca", "Los Angeles", "los angeles", "90210", "93600", "loyal", "female", "", "5", "5.0"]),
    st.integers(-3, 100),
    st.floats(-10, 100, allow_nan=False),
    st.booleans(),
)
VALUES = st.one_of(
    st.none(), SCALARS, st.lists(SCALARS, max_size=4), st.dictionaries(st.sampled_from(["a", "CA"]), SCALARS)
)
FIELDS = st.sampled_from(["traits.x", "traits.y.z", "demographics.state", "segments", "stage", "computed.orders"])


@st.composite
def field_conditions(draw: st.DrawFn) -> dict[str, Any]:
    op = draw(st.sampled_from(["eq", "ne", "in", "gt", "gte", "lt", "lte", "exists", "contains"]))
    if op == "in":
        value: Any = draw(st.lists(SCALARS, min_size=1, max_size=4))
    elif op == "exists":
        value = draw(st.one_of(st.none(), st.booleans()))
    elif op in ("gt", "gte", "lt", "lte"):
        value = draw(SCALARS.filter(lambda v: not isinstance(v, bool)))
    else:
        value = draw(SCALARS)
    return {"field": draw(FIELDS), "op": op, "value": value}


EVENTS = st.builds(
    lambda event, low, days: {"event": event, "min_count": low, "within_days": days},
    st.sampled_from(["Product Added", "Order Completed"]),
    st.integers(0, 3),
    st.integers(1, 10),
)
RULES = st.recursive(
    st.one_of(field_conditions(), EVENTS),
    lambda inner: st.one_of(
        st.builds(lambda subs: {"all": subs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda subs: {"any": subs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda sub: {"not": sub}, inner),
    ),
    max_leaves=6,
)


@st.composite
def profiles(draw: st.DrawFn) -> Profile:
    profile = Profile(profile_id="p", stage=draw(st.sampled_from(["prospect", "loyal", "active"])))
    profile.traits = {"x": draw(VALUES), "y": draw(st.one_of(st.none(), st.dictionaries(st.just("z"), VALUES)))}
    profile.demographics.state = draw(st.one_of(st.none(), st.sampled_from(["CA", "ca", "NY"])))
    profile.segments = draw(st.lists(st.sampled_from(["ca", "vip", "CA"]), max_size=3))
    profile.computed.orders = draw(st.integers(0, 10))
    day = st.integers(-12, 2).map(lambda d: (NOW.date() + timedelta(days=d)).isoformat())
    profile.activity.daily = {
        "Product Added": draw(st.dictionaries(day, st.integers(1, 3), max_size=4)),
        "Order Completed": draw(st.dictionaries(day, st.integers(1, 2), max_size=2)),
    }
    return profile


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rule=RULES, profile=profiles())
def test_compiled_rules_decide_like_the_reference_interpreter(rule: dict[str, Any], profile: Profile) -> None:
    segment = SegmentDef.model_validate({"name": "s", "rule": rule})
    expected = reference(segment, profile, NOW)
    assert evaluate(segment, profile, NOW) is expected
    assert compile_rule(segment.rule)(profile, NOW) is expected  # the same predicate whichever node is passed in
