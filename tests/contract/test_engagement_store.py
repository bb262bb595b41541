"""The EngagementStore contract: one suite against the in-memory fake and (subclassed) the DynamoDB adapter on moto."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.fakes.delivery import FakeMessageStore
from tests.fakes.engagement import FakeEngagementStore

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
MESSAGE: Any = {"profile_id": "p_1", "trigger_id": "t", "step_index": 0, "message_id": "m0", "status": "sending"}


@dataclass
class Stores:
    engagement: Any
    messages: Any
    runs: Any = None


def scenario_run(profile_id: str, *, holdout: bool = False, scenario_id: str = "cart", trigger: str = "t1") -> Any:
    from chalicelib.scenarios.engine import ScenarioRun

    return ScenarioRun(
        scenario_id=scenario_id,
        profile_id=profile_id,
        trigger_id=f"{scenario_id}:{trigger}",
        due_at=NOW,
        entered_at=NOW,
        holdout=holdout,
    )


class EngagementStoreContract:
    @pytest.fixture
    def stores(self) -> Iterator[Stores]:
        raise NotImplementedError

    def test_a_fact_is_counted_once_and_listed(self, stores: Stores) -> None:
        store = stores.engagement
        assert store.count("open#m0", "cart", "r1#none#email", {"human_opens": 1}, NOW)
        assert not store.count("open#m0", "cart", "r1#none#email", {"human_opens": 1}, NOW)  # a replay
        assert store.count("conv#o1", "cart", "r1#none#email", {"conversions": 1, "revenue": 12.5}, NOW)
        assert store.count("dropped#1", "$feedback", "dropped#none#-", {"rejected": 1}, NOW, listed=False)
        assert store.rows("cart") == {"r1#none#email": {"human_opens": 1, "conversions": 1, "revenue": 12.5}}
        assert store.scenario_ids(10, None) == (["cart"], None)

    def test_scenario_ids_page_in_order(self, stores: Stores) -> None:
        for n, scenario in enumerate(("c", "a", "b")):
            stores.engagement.count(f"f{n}", scenario, "r#none#email", {"sent": 1}, NOW)
        first, after = stores.engagement.scenario_ids(2, None)
        assert first == ["a", "b"] and after == "b"
        assert stores.engagement.scenario_ids(2, after)[0] == ["c"]

    def test_preferences_are_per_channel_and_topic_and_the_latest_wins(self, stores: Stores) -> None:
        store = stores.engagement
        store.set_preference("p_1", "email", None, "opted_out", NOW, "one_click")
        store.set_preference("p_1", "email", "offers", "opted_out", NOW, "preferences")
        store.set_preference("p_1", "email", None, "opted_in", NOW + timedelta(minutes=1), "preferences")
        assert store.preferences("p_1") == {
            "email": {"status": "opted_in", "at": "2026-03-02T01:01:00.000Z", "source": "preferences"},
            "email#offers": {"status": "opted_out", "at": "2026-03-02T01:00:00.000Z", "source": "preferences"},
        }
        assert store.preferences("p_2") == {}

    def test_touches_are_read_from_a_time_on(self, stores: Stores) -> None:
        store = stores.engagement
        touch = {"message_id": "m0", "scenario_id": "cart", "step": "r1", "variant": None, "kind": "click"}
        store.add_touch("p_1", touch, NOW)
        store.add_touch("p_1", {**touch, "kind": "human_open"}, NOW + timedelta(hours=1))
        assert [t["kind"] for t in store.touches("p_1", NOW)] == ["click", "human_open"]
        assert store.touches("p_1", NOW + timedelta(minutes=1)) == [
            {**touch, "kind": "human_open", "at": "2026-03-02T02:00:00.000Z"}
        ]

    def test_a_newer_subscription_request_replaces_the_pending_one(self, stores: Stores) -> None:
        store, pending_at = stores.engagement, "2026-03-02T01:00:00.000Z"
        assert store.pending("p_1") is None
        store.put_pending("p_1", {"request_id": "s1", "email": "a@example.com", "source": "footer"}, NOW)
        store.put_pending("p_1", {"request_id": "s2", "email": "a@example.com", "source": "footer"}, NOW)
        pending = store.pending("p_1")
        assert pending == {"request_id": "s2", "email": "a@example.com", "source": "footer", "requested_at": pending_at}

    def test_sms_code_attempts_are_counted_up_to_the_limit_and_stop_at_expiry(self, stores: Stores) -> None:
        store, request = stores.engagement, {"request_id": "v1", "profile_id": "p_1", "digest": "d"}
        assert store.sms_code_attempt("tag", 5, NOW) is None  # none pending
        store.put_sms_code("tag", request, NOW + timedelta(minutes=10))
        assert [store.sms_code_attempt("tag", 2, NOW) for _ in range(3)] == [
            {**request, "attempts": 1},
            {**request, "attempts": 2},
            None,  # the limit: the request is void
        ]
        store.put_sms_code("tag", {**request, "request_id": "v2"}, NOW + timedelta(minutes=10))  # a new request
        assert store.sms_code_attempt("tag", 2, NOW) == {**request, "request_id": "v2", "attempts": 1}
        assert store.sms_code_attempt("tag", 5, NOW + timedelta(minutes=10)) is None  # expired

    def test_an_sms_code_is_dropped_once_and_only_for_its_request(self, stores: Stores) -> None:
        store = stores.engagement
        store.put_sms_code("tag", {"request_id": "v2", "profile_id": "p_1"}, NOW + timedelta(minutes=10))
        assert not store.drop_sms_code("tag", "v1")  # an older request cannot drop the newer one
        assert store.drop_sms_code("tag", "v2")
        assert not store.drop_sms_code("tag", "v2")
        assert store.sms_code_attempt("tag", 5, NOW) is None

    def test_mark_message_keeps_the_first_time_and_touches_only_existing_records(self, stores: Stores) -> None:
        stores.messages.claim(MESSAGE, NOW)
        sk = "msg#t#0"
        stores.engagement.mark_message("p_1", sk, "delivered_at", NOW)
        stores.engagement.mark_message("p_1", sk, "delivered_at", NOW + timedelta(hours=1))  # a redelivery
        stores.engagement.mark_message("p_9", sk, "delivered_at", NOW)  # erased meanwhile: nothing
        assert stores.messages.get("p_1", "t", 0)["delivered_at"] == "2026-03-02T01:00:00.000Z"
        assert stores.messages.get("p_9", "t", 0) is None

    # -- assignments: the run records are the uplift report's assignments ----------------------------------------------
    def test_each_run_is_one_assignment_of_its_arm_whatever_replays_and_saves(self, stores: Stores) -> None:
        # GIVEN three treated and two held-out runs of `cart`, one run of another scenario
        for n in range(3):
            assert stores.runs.create(scenario_run(f"p_{n}"))
        for n in range(3, 5):
            assert stores.runs.create(scenario_run(f"p_{n}", holdout=True))
        assert stores.runs.create(scenario_run("p_0", scenario_id="welcome"))
        # WHEN a replayed record creates one again, and a run moves on (save rewrites it)
        assert not stores.runs.create(scenario_run("p_0"))
        assert stores.runs.save(scenario_run("p_1").model_copy(update={"step_index": 1}), 0)
        # THEN each run counts once, in its arm, in its scenario only
        assert stores.engagement.assignments("cart") == {"treated": 3, "holdout": 2}
        assert stores.engagement.rows("cart") == {"*#treated#*": {"assigned": 3}, "*#holdout#*": {"assigned": 2}}
        assert stores.engagement.assignments("welcome") == {"treated": 1, "holdout": 0}
        assert stores.engagement.rows("welcome") == {"*#treated#*": {"assigned": 1}}  # no empty holdout row
        assert stores.engagement.rows("nothing") == {}

    def test_the_legacy_assigned_counter_and_the_runs_add_up(self, stores: Stores) -> None:
        # GIVEN runs counted before the index existed (the report row's counter) and conversions of both arms
        store = stores.engagement
        store.count("assigned#old1", "cart", "*#treated#*", {"assigned": 1}, NOW)
        store.count("assigned#old2", "cart", "*#holdout#*", {"assigned": 1}, NOW)
        store.count("runconv#o1#t", "cart", "*#holdout#*", {"run_conversions": 1, "revenue": 40}, NOW)
        # WHEN new runs start
        stores.runs.create(scenario_run("p_1"))
        stores.runs.create(scenario_run("p_2", holdout=True))
        stores.runs.create(scenario_run("p_3", holdout=True))
        # THEN each arm's `assigned` is the counter plus its runs; other counters untouched
        assert store.rows("cart") == {
            "*#treated#*": {"assigned": 2},
            "*#holdout#*": {"assigned": 3, "run_conversions": 1, "revenue": 40},
        }
        assert store.rows("cart", assignments=False) == {  # the step-row readers skip the index
            "*#treated#*": {"assigned": 1},
            "*#holdout#*": {"assigned": 1, "run_conversions": 1, "revenue": 40},
        }

    # -- run conversions: recorded on the run record, summed at report time --------------------------------------------
    def test_an_order_counts_once_on_its_run_and_two_orders_sum_their_revenue(self, stores: Stores) -> None:
        # GIVEN a held-out and a treated run of `cart`
        store = stores.engagement
        held, treated = scenario_run("p_1", holdout=True), scenario_run("p_2")
        stores.runs.create(held)
        stores.runs.create(treated)

        def convert(run: Any, order: str, revenue: float) -> str:
            return store.run_conversion(  # type: ignore[no-any-return]
                run.profile_id, run.trigger_id, run.scenario_id, run.holdout, order, revenue
            )

        # WHEN the held-out person orders twice (the first replayed) and the treated one once
        assert convert(held, "web#o1", 40) == "counted"
        assert convert(held, "web#o1", 40) == "counted_before"
        assert convert(held, "web#o2", 2.5) == "counted"
        assert convert(treated, "web#o3", 70) == "counted"
        # THEN each arm has its conversions, once; revenue is reported for the holdout arm (as the counters had it)
        assert store.conversions("cart") == {
            "treated": {"run_conversions": 1, "revenue": 70},
            "holdout": {"run_conversions": 2, "revenue": 42.5},
        }
        assert store.rows("cart") == {
            "*#treated#*": {"assigned": 1, "run_conversions": 1},
            "*#holdout#*": {"assigned": 1, "run_conversions": 2, "revenue": 42.5},
        }
        assert store.rows("cart", assignments=False) == {}

    def test_a_run_that_is_gone_is_not_recreated_by_an_order(self, stores: Stores) -> None:
        assert stores.engagement.run_conversion("p_1", "cart:t1", "cart", True, "web#o1", 40) == "gone"
        assert stores.runs.get("p_1", "cart:t1") is None
        assert stores.engagement.rows("cart") == {}

    def test_a_run_holds_its_maximum_of_orders_and_says_when_it_is_full(self, stores: Stores) -> None:
        from chalicelib.engagement.messages_table import MAX_RUN_ORDERS

        run = scenario_run("p_1", holdout=True)
        stores.runs.create(run)
        for n in range(MAX_RUN_ORDERS):
            assert stores.engagement.run_conversion("p_1", run.trigger_id, "cart", True, f"o{n}", 1) == "counted"
        assert stores.engagement.run_conversion("p_1", run.trigger_id, "cart", True, "o-more", 1) == "full"
        assert stores.engagement.run_conversion("p_1", run.trigger_id, "cart", True, "o0", 1) == "counted_before"
        assert stores.engagement.conversions("cart")["holdout"] == {
            "run_conversions": MAX_RUN_ORDERS,
            "revenue": MAX_RUN_ORDERS,
        }

    def test_a_listed_scenario_lists_once(self, stores: Stores) -> None:
        stores.engagement.list_scenario("welcome", NOW)
        stores.engagement.list_scenario("welcome", NOW + timedelta(minutes=1))
        stores.engagement.count("f1", "cart", "r#none#email", {"sent": 1}, NOW)
        assert stores.engagement.scenario_ids(10, None) == (["cart", "welcome"], None)


class TestFakeEngagementStore(EngagementStoreContract):
    @pytest.fixture
    def stores(self) -> Iterator[Stores]:
        from tests.fakes.delivery import FakeRunStore

        messages, runs = FakeMessageStore(), FakeRunStore()
        yield Stores(FakeEngagementStore(messages=messages, runs=runs), messages, runs)


class TestDynamoEngagementStore(EngagementStoreContract):
    @pytest.fixture
    def stores(self, aws: dict[str, Any]) -> Iterator[Stores]:
        from chalicelib.delivery.adapters.dynamodb_messages import DynamoMessageStore, DynamoRunStore
        from chalicelib.engagement.adapters.dynamodb_engagement import DynamoEngagementStore
        from chalicelib.shared.settings import get_settings

        s = get_settings()
        yield Stores(
            DynamoEngagementStore(s.state_table, s.messages_table),
            DynamoMessageStore(s.messages_table),
            DynamoRunStore(s.messages_table),
        )

    def test_the_count_pages_through_a_shard_and_reads_every_shard_of_both_arms(
        self, stores: Stores, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from chalicelib.engagement.messages_table import ASSIGNMENT_SHARDS, run_assignment
        from chalicelib.shared.aws import client

        # GIVEN five treated runs in one shard (pages of two: three pages) and two held out
        shard_of = {n: run_assignment("cart", False, f"p_{n}", "cart:t1") for n in range(200)}
        crowded = [n for n, key in shard_of.items() if key == shard_of[0]][:5]
        assert len(crowded) == 5
        for n in crowded:
            stores.runs.create(scenario_run(f"p_{n}"))
        stores.runs.create(scenario_run("h_1", holdout=True))
        stores.runs.create(scenario_run("h_2", holdout=True))
        monkeypatch.setattr(stores.engagement, "count_page_limit", 2)
        queries: list[dict[str, Any]] = []
        events = client("dynamodb").meta.events

        def remember(params: dict[str, Any], **_: Any) -> None:
            queries.append(params)

        events.register("before-parameter-build.dynamodb.Query", remember)
        try:
            # WHEN the report counts them
            counted = stores.engagement.assignments("cart")
        finally:
            events.unregister("before-parameter-build.dynamodb.Query", remember)
        # THEN every run counts, the crowded shard over several pages, every shard of both arms asked
        assert counted == {"treated": 5, "holdout": 2}
        crowded_pages = [q for q in queries if q["ExpressionAttributeValues"][":a"]["S"] == shard_of[0]]
        assert len(crowded_pages) == 3 and sum("ExclusiveStartKey" in q for q in crowded_pages) == 2
        assert {q["ExpressionAttributeValues"][":a"]["S"] for q in queries} == {
            f"cart#{arm}#{shard}" for arm in ("treated", "holdout") for shard in range(ASSIGNMENT_SHARDS)
        }

    def test_a_run_started_before_the_assignment_index_converts_on_the_conversion_index(self, stores: Stores) -> None:
        from chalicelib.shared.aws import client
        from chalicelib.shared.settings import get_settings

        # GIVEN a run whose assignment is in the legacy counter (its record has no `assigned`)
        run = scenario_run("p_1", holdout=True)
        stores.runs.create(run)
        key = {"pk": {"S": "p#p_1"}, "sk": {"S": f"run#{run.trigger_id}"}}
        table = get_settings().messages_table
        client("dynamodb").update_item(TableName=table, Key=key, UpdateExpression="REMOVE assigned, assigned_at")
        stores.engagement.count("assigned#old", "cart", "*#holdout#*", {"assigned": 1}, NOW)
        # WHEN the person orders, and a step moves the run on
        assert stores.engagement.run_conversion("p_1", run.trigger_id, "cart", True, "web#o1", 30) == "counted"
        assert stores.runs.save(run.model_copy(update={"step_index": 1}), 0)
        # THEN the conversion counts (the step kept it), the assignment still once
        assert stores.engagement.rows("cart") == {"*#holdout#*": {"assigned": 1, "run_conversions": 1, "revenue": 30}}
        item = client("dynamodb").get_item(TableName=table, Key=key)["Item"]
        assert "assigned" not in item and item["conv_orders"] == {"SS": ["web#o1"]}

    def test_the_conversion_sum_pages_through_a_shard(self, stores: Stores, monkeypatch: pytest.MonkeyPatch) -> None:
        from chalicelib.engagement.messages_table import run_assignment

        shard_of = {n: run_assignment("cart", True, f"p_{n}", "cart:t1") for n in range(200)}
        crowded = [n for n, key in shard_of.items() if key == shard_of[0]][:5]
        for n in crowded:
            stores.runs.create(scenario_run(f"p_{n}", holdout=True))
            stores.engagement.run_conversion(f"p_{n}", "cart:t1", "cart", True, "web#o1", 2)
        monkeypatch.setattr(stores.engagement, "count_page_limit", 2)
        assert stores.engagement.conversions("cart")["holdout"] == {"run_conversions": 5, "revenue": 10}

    def test_erasing_the_person_removes_their_assignment(self, stores: Stores) -> None:
        from types import SimpleNamespace

        from chalicelib.engagement.adapters.dynamodb_engagement import erase_person_messages
        from chalicelib.shared.settings import get_settings

        stores.runs.create(scenario_run("p_1", holdout=True))
        stores.runs.create(scenario_run("p_2", holdout=True))
        s = get_settings()
        erase_person_messages(s.messages_table, s.due_table, SimpleNamespace(profile_ids=["p_1"], identity_keys=[]))
        assert stores.engagement.assignments("cart") == {"treated": 0, "holdout": 1}


def test_a_warm_store_writes_the_report_listing_once_per_scenario(aws: dict[str, Any]) -> None:
    """The listing is only added to: a container names a scenario once; a new container (cold start) names it again."""
    from chalicelib.engagement.adapters.dynamodb_engagement import DynamoEngagementStore
    from chalicelib.shared.aws import client
    from chalicelib.shared.settings import get_settings

    s = get_settings()
    listing = {"pk": {"S": "reports"}, "sk": {"S": "cart"}}

    def listed() -> bool:
        return "Item" in client("dynamodb").get_item(TableName=s.state_table, Key=listing)

    warm = DynamoEngagementStore(s.state_table, s.messages_table)
    assert warm.count("conv#o1", "cart", "r#none#email", {"conversions": 1}, NOW) and listed()
    # WHEN the item is gone (only so the test can see whether the next counts write it again)
    client("dynamodb").delete_item(TableName=s.state_table, Key=listing)
    assert warm.count("conv#o2", "cart", "r#none#email", {"conversions": 1}, NOW)
    warm.list_scenario("cart", NOW)
    # THEN the warm store counted without rewriting it...
    assert not listed()
    assert warm.rows("cart") == {"r#none#email": {"conversions": 2}}
    # ...and a fresh one (a cold container) names the scenario again on its first count
    cold = DynamoEngagementStore(s.state_table, s.messages_table)
    assert cold.count("conv#o3", "cart", "r#none#email", {"conversions": 1}, NOW) and listed()
