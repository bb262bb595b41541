"""Changed JSON paths between two definition bodies (audit trail, backfill hook)."""

from __future__ import annotations

from chalicelib.definitions.diff import changed_paths, touches


def test_equal_documents_have_no_changed_path() -> None:
    doc = {"name": "vip", "rule": {"all": [{"field": "stage", "op": "eq", "value": "loyal"}]}}
    assert changed_paths(doc, {**doc}) == []


def test_nested_values_are_named_by_their_path() -> None:
    old = {"rule": {"all": [{"field": "stage", "value": "loyal"}, {"field": "x", "value": 1}]}}
    new = {"rule": {"all": [{"field": "stage", "value": "active"}, {"field": "x", "value": 1}]}}
    assert changed_paths(old, new) == ["rule.all[0].value"]


def test_added_and_removed_keys_and_list_elements_are_whole_paths() -> None:
    old = {"a": 1, "steps": [{"t": 1}, {"t": 2}, {"t": 3}]}
    new = {"steps": [{"t": 1}], "b": 2}
    assert changed_paths(old, new) == ["a", "steps[1]", "steps[2]", "b"]


def test_a_type_change_is_a_change_even_when_python_says_equal() -> None:
    assert changed_paths({"v": 1}, {"v": True}) == ["v"]
    assert changed_paths({"v": 1}, {"v": 1.0}) == ["v"]
    assert changed_paths([1], {"0": 1}) == ["(root)"]


def test_touches_matches_the_root_and_what_lies_under_it() -> None:
    assert touches(["rule.all[0].value"], "rule")
    assert touches(["who"], "who") and touches(["who.segment"], "who")
    assert not touches(["ruler", "description"], "rule")
