"""The definitions admin use case on fakes: validation, the backfill hook, enabling a packaged definition."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.definitions import DefinitionInvalid
from chalicelib.definitions.service import DefinitionsService, KindSpec, scenario_backfill, segment_backfill
from chalicelib.profiles.segment_definitions import validate_segment
from chalicelib.shared.clock import FakeClock
from tests.fakes.definitions import InMemoryDefinitionStore, RecordingBackfill

FILE_SEGMENT = {"name": "loyal", "rule": {"field": "stage", "op": "eq", "value": "loyal"}}
VIP = {"name": "vip", "rule": {"field": "traits.plan", "op": "eq", "value": "gold"}}


@pytest.fixture
def world() -> tuple[DefinitionsService, InMemoryDefinitionStore, RecordingBackfill]:
    store, backfill = InMemoryDefinitionStore(), RecordingBackfill()
    kinds = {
        "segment": KindSpec(lambda: {"loyal": FILE_SEGMENT}, validate_segment, "name", segment_backfill),
        "scenario": KindSpec(lambda: {}, lambda _id, _body: None, "id", scenario_backfill),
    }
    clock = FakeClock(datetime(2026, 3, 2, tzinfo=UTC))
    return DefinitionsService(store, clock, kinds, backfill), store, backfill


def test_a_new_segment_and_a_changed_rule_start_a_backfill_of_that_segment(world: Any) -> None:
    service, _, backfill = world
    service.put("segment", "vip", dict(VIP), by="alice")
    service.put("segment", "vip", {**VIP, "rule": {"field": "traits.plan", "op": "in", "value": ["gold"]}}, by="a")
    assert [ids for ids, _ in backfill.calls] == [["vip"], ["vip"]]
    assert backfill.calls[1][1] == "segment vip v2"


def test_no_backfill_for_a_no_op_save_nor_for_a_description_change(world: Any) -> None:
    service, store, backfill = world
    service.put("segment", "vip", dict(VIP), by="alice")
    again = service.put("segment", "vip", dict(VIP), by="bob")
    service.put("segment", "vip", {**VIP, "description": "gold customers"}, by="bob")
    service.put("segment", "loyal", dict(FILE_SEGMENT), by="bob")  # the packaged segment, stored unchanged
    assert again.definition.version == 1 and again.changed == ()
    assert [ids for ids, _ in backfill.calls] == [["vip"]]
    assert store.head("segment", "loyal").version == 1


def test_a_scenario_whose_who_changes_backfills_its_audience_segment(world: Any) -> None:
    service, _, backfill = world
    body = {"id": "s1", "who": {"segment": "vip"}, "steps": []}
    service.put("scenario", "s1", dict(body), by="a")
    service.put("scenario", "s1", {**body, "name": "renamed"}, by="a")  # who untouched
    service.put("scenario", "s1", {**body, "who": {"segment": "loyal"}}, by="a")
    assert [ids for ids, _ in backfill.calls] == [["vip"], ["loyal"]]


def test_an_invalid_body_names_its_path_and_stores_nothing(world: Any) -> None:
    service, store, backfill = world
    with pytest.raises(DefinitionInvalid) as caught:
        service.put("segment", "vip", {**VIP, "rule": {"field": "x", "op": "nope", "value": 1}}, by="a")
    assert caught.value.path.startswith("rule")
    assert store.head("segment", "vip") is None and backfill.calls == []


def test_disabling_a_packaged_definition_stores_it_disabled(world: Any) -> None:
    service, store, _ = world
    saved = service.set_enabled("segment", "loyal", False, by="carol")
    assert saved.definition.enabled is False and saved.definition.body == FILE_SEGMENT
    assert [d.summary()["origin"] for d in service.effective("segment")] == ["stored"]
    assert store.audit("segment", "loyal")[0].by == "carol"


def test_a_failing_backfill_does_not_undo_the_save(world: Any) -> None:
    service, store, backfill = world

    def broken(segment_ids: Any, reason: str) -> str:
        raise RuntimeError("backfill engine down")

    backfill.start = broken
    saved = service.put("segment", "vip", dict(VIP), by="a")
    assert saved.backfill_job is None and store.head("segment", "vip") is not None
