"""RunStore contract: one suite, run against the in-memory fake and (subclassed) the DynamoDB adapter on moto."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.scenarios.engine import ScenarioRun, exit_run
from chalicelib.scenarios.ports import RunStore
from tests.fakes.scenarios import InMemoryRunStore
from tests.integration.conftest import moto_env  # noqa: F401 - the moto fixture, for the adapter's subclass

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def run(profile_id: str = "p1", trigger_id: str = "cart:evt:web#m1", **fields: Any) -> ScenarioRun:
    data: dict[str, Any] = {
        "scenario_id": "cart",
        "profile_id": profile_id,
        "trigger_id": trigger_id,
        "due_at": NOW,
        "entered_at": NOW,
        "updated_at": NOW,
        "context": {"product_id": "42"},
        **fields,
    }
    return ScenarioRun(**data)


class RunStoreContract:
    """What the scenario and delivery use cases rely on, whatever the backend."""

    @pytest.fixture
    def runs(self) -> Iterator[RunStore]:
        raise NotImplementedError

    def test_a_run_is_created_once_per_trigger_instance(self, runs: RunStore) -> None:
        assert runs.create(run()) is True
        assert runs.create(run(variant="b")) is False  # a duplicated stream record starts nothing
        assert runs.get("p1", "cart:evt:web#m1") == run()

    def test_a_missing_run_is_none(self, runs: RunStore) -> None:
        assert runs.get("p1", "nope") is None
        assert runs.for_profile("nobody") == []

    def test_save_moves_a_run_only_from_the_expected_step(self, runs: RunStore) -> None:
        runs.create(run())
        later = run(step_index=1, due_at=NOW + timedelta(hours=1))
        assert runs.save(later, expected_step=0) is True
        assert runs.save(run(step_index=2), expected_step=0) is False  # a duplicate step execution
        assert runs.get("p1", "cart:evt:web#m1") == later

    def test_an_ended_run_is_not_moved_again(self, runs: RunStore) -> None:
        runs.create(run())
        assert runs.save(exit_run(run(), "event:Order Completed", NOW), expected_step=0) is True
        assert runs.save(run(step_index=1), expected_step=0) is False
        stored = runs.get("p1", "cart:evt:web#m1")
        assert stored is not None and (stored.status, stored.exit_reason) == ("exited", "event:Order Completed")

    def test_for_profile_lists_every_run_of_that_profile_only(self, runs: RunStore) -> None:
        runs.create(run(trigger_id="cart:evt:web#m1"))
        runs.create(run(trigger_id="welcome:stage_changed:new:new:2026-03-02T12:00:00.000Z", scenario_id="welcome"))
        runs.create(run(profile_id="p2"))
        assert sorted(r.scenario_id for r in runs.for_profile("p1")) == ["cart", "welcome"]
        assert [r.profile_id for r in runs.for_profile("p2")] == ["p2"]


class TestInMemoryRunStore(RunStoreContract):
    @pytest.fixture
    def runs(self) -> Iterator[RunStore]:
        yield InMemoryRunStore()


@pytest.mark.usefixtures("moto_env")
class TestDynamoRunStore(RunStoreContract):
    @pytest.fixture
    def runs(self) -> Iterator[RunStore]:
        from chalicelib.bootstrap import get_run_store

        yield get_run_store()

    def test_the_run_is_its_assignment_and_saving_it_never_moves_or_adds_the_index_entry(self, runs: RunStore) -> None:
        from chalicelib.engagement.messages_table import run_assignment
        from chalicelib.shared.aws import client
        from chalicelib.shared.settings import get_settings

        ddb, table = client("dynamodb"), get_settings().messages_table

        def stored(profile_id: str) -> dict[str, Any]:
            key = {"pk": {"S": f"p#{profile_id}"}, "sk": {"S": "run#cart:evt:web#m1"}}
            return dict(ddb.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"])

        # GIVEN a new run, and one stored before runs carried their assignment (counted in the legacy counter)
        runs.create(run(holdout=True, entered_at=NOW - timedelta(minutes=5)))
        legacy = {k: v for k, v in stored("p1").items() if k not in ("assigned", "assigned_at")}
        ddb.put_item(
            TableName=table, Item={**legacy, "pk": {"S": "p#p2"}, "body": {"S": run(profile_id="p2").model_dump_json()}}
        )
        assert stored("p1")["assigned"] == {"S": run_assignment("cart", True, "p1", "cart:evt:web#m1")}
        assert stored("p1")["assigned_at"] == {"S": "2026-03-02T11:55:00.000Z"}
        # WHEN both move on, then end
        for profile_id in ("p1", "p2"):
            moved = run(
                profile_id=profile_id, step_index=1, holdout=profile_id == "p1", updated_at=NOW + timedelta(hours=1)
            )
            assert runs.save(moved, expected_step=0)
            assert runs.save(exit_run(moved, "completed", NOW + timedelta(hours=2)), expected_step=1)
        # THEN the new run keeps its index keys unchanged, the legacy run never gains any (it is counted once)
        assert (stored("p1")["assigned"], stored("p1")["assigned_at"]) == (
            {"S": run_assignment("cart", True, "p1", "cart:evt:web#m1")},
            {"S": "2026-03-02T11:55:00.000Z"},
        )
        assert "assigned" not in stored("p2") and "assigned_at" not in stored("p2")
        assert runs.get("p2", "cart:evt:web#m1").status == "exited"  # type: ignore[union-attr]
