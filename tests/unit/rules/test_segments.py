"""The segment rule language: field conditions, event windows, combinators, shipped examples and memberships."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import TypeAdapter, ValidationError

from chalicelib.profiles.fold import fold
from chalicelib.profiles.model import Profile
from chalicelib.profiles.segmentation import SegmentDef, update_memberships
from chalicelib.rules import Rule, evaluate
from tests.unit.profiles.support import NOW, PROFILE_ID, at, bare_config, config, identify, make_event, product

RULE = TypeAdapter(Rule)


def rule(data) -> object:
    return RULE.validate_python(data)


def person(**demographics) -> Profile:
    p = Profile(profile_id="p")
    for key, value in demographics.items():
        setattr(p.demographics, key, value)
    return p


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"field": "demographics.state", "op": "eq", "value": "ca"}, True),  # case-insensitive strings
        ({"field": "demographics.state", "op": "ne", "value": "NY"}, True),
        ({"field": "demographics.city", "op": "in", "value": ["irvine", "Oxnard"]}, True),
        ({"field": "demographics.age", "op": "gt", "value": 40}, True),
        ({"field": "demographics.age", "op": "lte", "value": 40}, False),
        ({"field": "demographics.postal_code", "op": "gte", "value": "90000"}, True),
        ({"field": "demographics.postal_code", "op": "lt", "value": 93600}, True),  # numeric string vs number
        ({"field": "demographics.name", "op": "contains", "value": "LOVE"}, True),
        ({"field": "demographics.gender", "op": "exists"}, False),
        ({"field": "demographics.gender", "op": "exists", "value": False}, True),
        ({"field": "demographics.gender", "op": "eq", "value": "female"}, False),  # missing: only ne/exists:false
        ({"field": "demographics.gender", "op": "ne", "value": "female"}, True),
        ({"field": "demographics.gender", "op": "gt", "value": 1}, False),
    ],
)
def test_field_conditions(condition, expected):
    p = person(state="CA", city="Irvine", age=41, postal_code="92618", name="Ada Lovelace")
    assert evaluate(rule(condition), p, NOW) is expected


def test_in_and_contains_work_on_list_fields():
    p = Profile(profile_id="p", segments=["vip", "newsletter"])
    assert evaluate(rule({"field": "segments", "op": "contains", "value": "vip"}), p, NOW)
    assert evaluate(rule({"field": "segments", "op": "in", "value": ["x", "newsletter"]}), p, NOW)
    assert not evaluate(rule({"field": "segments", "op": "contains", "value": "x"}), p, NOW)


def test_combinators():
    p = person(state="CA")
    yes, no = {"field": "demographics.state", "op": "eq", "value": "CA"}, {"field": "stage", "op": "eq", "value": "x"}
    assert evaluate(rule({"all": [yes, {"not": no}]}), p, NOW)
    assert not evaluate(rule({"all": [yes, no]}), p, NOW)
    assert evaluate(rule({"any": [no, yes]}), p, NOW)
    assert not evaluate(rule({"any": [no]}), p, NOW)


def test_event_condition_counts_utc_days_including_today():
    events = [make_event(event="Product Added", when=at(d), properties=product("a")) for d in (0, 3, 6, 7, 20)]
    p = fold(None, PROFILE_ID, events, bare_config(), NOW).profile
    assert evaluate(rule({"event": "Product Added", "min_count": 3, "within_days": 7}), p, NOW)
    assert not evaluate(rule({"event": "Product Added", "min_count": 4, "within_days": 7}), p, NOW)
    assert evaluate(rule({"event": "Product Added", "min_count": 1, "within_days": 1}), p, NOW)
    assert not evaluate(rule({"event": "Product Added", "max_count": 2, "within_days": 30}), p, NOW)
    assert not evaluate(rule({"event": "Product Added", "within_days": 1}), p, NOW + timedelta(days=1))


@pytest.mark.parametrize(
    "bad",
    [
        {"field": "activity.daily", "op": "exists"},  # internal bookkeeping is not addressable
        {"field": "stage", "op": "like", "value": "x"},
        {"field": "stage", "op": "in", "value": "loyal"},
        {"field": "stage", "op": "eq"},
        {"event": "X", "within_days": 91},
        {"event": "X", "within_days": 7, "min_count": 3, "max_count": 1},
        {"all": []},
        {"nothing": 1},
        {"field": "stage", "op": "eq", "value": "x", "extra": 1},
    ],
)
def test_invalid_rules_are_rejected(bad):
    with pytest.raises(ValidationError):
        rule(bad)


def test_segment_names_are_slugs():
    with pytest.raises(ValidationError):
        SegmentDef.model_validate({"name": "Bad Name", "rule": {"field": "stage", "op": "exists"}})


# --- shipped examples ---------------------------------------------------------------------------------------------


def shipped(name: str) -> SegmentDef:
    return next(s for s in config().segments.segments if s.name == name)


def identified(traits) -> Profile:
    return fold(None, PROFILE_ID, [identify(traits)], bare_config(), NOW).profile


@pytest.mark.parametrize(
    ("traits", "expected"),
    [
        ({"gender": "female", "address": {"state": "CA", "city": "San Diego"}}, True),
        ({"gender": "Female", "address": {"state": "California", "postalCode": "92101"}}, True),
        ({"gender": "female", "address": {"state": "CA", "city": "San Francisco", "postalCode": "94103"}}, False),
        ({"gender": "male", "address": {"state": "CA", "city": "San Diego"}}, False),
        ({"gender": "female", "address": {"state": "OR", "city": "Irvine"}}, False),
    ],
)
def test_women_in_southern_california(traits, expected):
    assert evaluate(shipped("women_southern_california"), identified(traits), NOW) is expected


def test_cart_abandoners_have_a_recent_add_and_no_order_today():
    add = make_event(event="Product Added", when=at(2), properties=product("a"))
    abandoner = fold(None, PROFILE_ID, [add], bare_config(), NOW).profile
    assert evaluate(shipped("cart_abandoners"), abandoner, NOW)
    assert not evaluate(shipped("cart_abandoners"), abandoner, NOW + timedelta(days=7))  # add is out of the window
    other = make_event(event="Product Added", when=at(0, 30), properties=product("b"))
    bought = make_event(event="Order Completed", when=at(0, 10), properties={"revenue": 5, "products": [product("b")]})
    buyer = fold(abandoner, PROFILE_ID, [other, bought], bare_config(), NOW).profile
    assert buyer.computed.cart_quantity == 1  # "a" is still in the cart ...
    assert not evaluate(shipped("cart_abandoners"), buyer, NOW)  # ... but they ordered today


def test_loyal_top_of_group():
    p = Profile(profile_id="p")
    assert not evaluate(shipped("loyal_top_of_group"), p, NOW)
    p.group_value_percentile = 90
    assert evaluate(shipped("loyal_top_of_group"), p, NOW)
    p.group_value_percentile, p.stage = 10, "loyal"
    assert evaluate(shipped("loyal_top_of_group"), p, NOW)


# --- memberships --------------------------------------------------------------------------------------------------


def segment(name, data) -> SegmentDef:
    return SegmentDef.model_validate({"name": name, "rule": data})


def test_memberships_report_entries_and_exits():
    ca = segment("ca", {"field": "demographics.state", "op": "eq", "value": "CA"})
    p = person(state="CA")
    entered = update_memberships(p, [ca], NOW)
    assert [(t.kind, t.name) for t in entered] == [("segment_entered", "ca")]
    assert p.segments == ["ca"]
    assert update_memberships(p, [ca], NOW) == []
    p.demographics.state = "NY"
    assert [(t.kind, t.name) for t in update_memberships(p, [ca], NOW)] == [("segment_exited", "ca")]


def test_a_segment_can_build_on_an_earlier_one_and_removed_segments_are_exited():
    ca = segment("ca", {"field": "demographics.state", "op": "eq", "value": "CA"})
    ca_adult = segment("ca-adult", {"all": [{"field": "segments", "op": "contains", "value": "ca"}]})
    p = person(state="CA")
    p.segments = ["retired"]
    transitions = update_memberships(p, [ca, ca_adult], NOW)
    assert p.segments == ["ca", "ca-adult"]
    assert {(t.kind, t.name) for t in transitions} == {
        ("segment_exited", "retired"),
        ("segment_entered", "ca"),
        ("segment_entered", "ca-adult"),
    }


def test_disabled_segments_are_not_entered():
    off = SegmentDef.model_validate({"name": "off", "enabled": False, "rule": {"field": "stage", "op": "exists"}})
    p = Profile(profile_id="p")
    assert update_memberships(p, [off], NOW) == [] and p.segments == []
