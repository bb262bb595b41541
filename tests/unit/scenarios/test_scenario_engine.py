"""Scenario engine decisions: trigger matching, next action, exit, re-entry, runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.delivery import templating
from chalicelib.scenarios.conditions import compare, fact_value
from chalicelib.scenarios.definitions import Scenario
from chalicelib.scenarios.engine import (
    EndAction,
    ScenarioRun,
    ScheduleTick,
    SendAction,
    WaitAction,
    advance,
    as_transition,
    due_schedule_times,
    exit_run,
    match_triggers,
    plan_next,
    reentry_allowed,
    should_exit,
    start_run,
    trigger_context,
)
from chalicelib.scenarios.loader import load_scenarios, parse_scenario
from chalicelib.tracking.events import TrackedEvent

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
SHIPPED = load_scenarios(
    Path(__file__).resolve().parents[3] / "chalicelib" / "config" / "scenarios",
    set(),
    templating.known_templates(),
)
BY_ID = {s.id: s for s in SHIPPED}


def event(name: str, *, message_id: str = "m1", at: datetime = NOW, **properties: Any) -> TrackedEvent:
    return TrackedEvent(
        message_id=message_id,
        source_id="web",
        type="track",
        profile_id="p1",
        timestamp=at,
        received_at=at,
        event=name,
        properties=properties,
    )


def profile(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "profile_id": "p1",
        "email": "ann@example.com",
        "traits": {"firstName": "Ann"},
        "consent": {"email": {"status": "opted_in", "at": "2026-01-01T00:00:00.000Z"}},
        "computed": {"cart": [], "viewed_products": []},
        "stage": "active",
        "segments": [],
    }
    data.update(overrides)
    return data


def scenario(**overrides: Any) -> Scenario:
    data: dict[str, Any] = {
        "id": "s",
        "name": "S",
        "when": {"type": "event", "event": "E"},
        "steps": [{"type": "send", "channel": "email", "template": "t"}],
    }
    data.update(overrides)
    return parse_scenario(data)


def run_for(sc: Scenario, **overrides: Any) -> ScenarioRun:
    data: dict[str, Any] = {
        "scenario_id": sc.id,
        "profile_id": "p1",
        "trigger_id": f"{sc.id}:x",
        "due_at": NOW,
        "entered_at": NOW,
    }
    data.update(overrides)
    return ScenarioRun(**data)


# ---------------------------------------------------------------------------------------------------------------------
# match_triggers
# ---------------------------------------------------------------------------------------------------------------------


def test_signed_up_event_starts_welcome_series_only() -> None:
    matches = match_triggers(SHIPPED, event("Signed Up"), profile())
    assert [(m.scenario.id, m.trigger_id) for m in matches] == [("welcome_series", "welcome_series:evt:web#m1")]


def test_replayed_event_yields_the_same_trigger_id_so_duplicates_collapse() -> None:
    first = match_triggers(SHIPPED, event("Product Added", message_id="abc"), profile())
    replay = match_triggers(SHIPPED, event("Product Added", message_id="abc"), profile())
    other = match_triggers(SHIPPED, event("Product Added", message_id="def"), profile())
    assert first == replay
    assert first[0].trigger_id != other[0].trigger_id


def test_matches_unpack_as_scenario_and_trigger_id_pairs() -> None:
    for sc, trigger_id in match_triggers(SHIPPED, event("Order Completed"), profile()):
        assert trigger_id.startswith(sc.id + ":")


def test_disabled_scenario_never_matches() -> None:
    off = scenario(enabled=False)
    assert match_triggers([off], event("E"), profile()) == []


def test_bot_and_non_track_events_do_not_trigger() -> None:
    sc = scenario()
    bot = msgspec.structs.replace(event("E"), is_bot=True)
    page = msgspec.structs.replace(event("E"), type="page")
    assert match_triggers([sc], bot, profile()) == []
    assert match_triggers([sc], page, profile()) == []


def test_event_property_filter_must_hold() -> None:
    sc = scenario(
        when={
            "type": "event",
            "event": "E",
            "conditions": [{"field": "event.properties.total", "op": "gte", "value": 100}],
        }
    )
    assert match_triggers([sc], event("E", total=150), profile())
    assert not match_triggers([sc], event("E", total=99), profile())
    assert not match_triggers([sc], event("E"), profile())


def test_browse_abandonment_fires_on_third_view_of_a_product_not_in_cart() -> None:
    # GIVEN the folded profile already counts this (third) view of product 42
    viewed = [{"product_id": "42", "name": "Kettle", "views": 3}, {"product_id": "7", "name": "Cup", "views": 5}]
    p = profile(computed={"viewed_products": viewed, "cart": []})
    # WHEN product 42 is viewed THEN browse abandonment starts
    assert [m.scenario.id for m in match_triggers(SHIPPED, event("Product Viewed", product_id="42"), p)] == [
        "browse_abandonment"
    ]


@pytest.mark.parametrize(
    "computed",
    [
        {"viewed_products": [{"product_id": "42", "views": 2}], "cart": []},
        {"viewed_products": [{"product_id": "42", "views": 4}], "cart": [{"product_id": "42", "quantity": 1}]},
        {},
    ],
    ids=["only_two_views", "already_in_cart", "nothing_computed"],
)
def test_browse_abandonment_does_not_fire_otherwise(computed: dict[str, Any]) -> None:
    p = profile(computed=computed)
    assert match_triggers(SHIPPED, event("Product Viewed", product_id="42"), p) == []


def test_view_count_counts_repeated_entries_or_a_map() -> None:
    repeated = profile(computed={"viewed_products": ["42", "42", {"product_id": "42"}, "9"]})
    as_map = profile(computed={"viewed_products": {"42": 5}})
    assert fact_value("product_view_count", repeated, event("Product Viewed", product_id="42")) == 3
    assert fact_value("product_view_count", as_map, None, {"product_id": "42"}) == 5
    assert fact_value("product_view_count", as_map) is None  # no product to count


@pytest.mark.parametrize(
    ("transition", "expected"),
    [
        (
            {"kind": "stage_changed", "name": "stage", "from_": "active", "to": "dormant", "at": NOW},
            ["dormant_reengagement"],
        ),
        (
            {"kind": "stage_changed", "from": "active", "to": "loyal", "at": "2026-03-02T12:00:00.000Z"},
            ["loyal_thanks"],
        ),
        ({"kind": "stage_changed", "to": "at_risk", "at": NOW}, []),
        ({"kind": "score_crossed", "name": "mql", "from_": 40, "to": 55, "at": NOW}, ["mql_sales_alert"]),
        ({"kind": "score_crossed", "name": "mql", "to": "above", "at": NOW}, ["mql_sales_alert"]),
        ({"kind": "score_crossed", "name": "mql", "from_": 55, "to": 40, "at": NOW}, []),
        ({"kind": "score_dropped", "name": "mql", "from_": 55, "to": 40, "at": NOW}, []),
        ({"kind": "score_crossed", "name": "sql", "to": "above", "at": NOW}, []),
        ({"kind": "cart_changed", "at": NOW}, []),
    ],
)
def test_transitions_start_the_matching_scenarios(transition: dict[str, Any], expected: list[str]) -> None:
    assert [m.scenario.id for m in match_triggers(SHIPPED, transition, profile())] == expected


def test_transition_trigger_id_is_kind_name_to_and_time() -> None:
    t = {"kind": "stage_changed", "name": "stage", "from_": "active", "to": "dormant", "at": NOW}
    (match,) = match_triggers(SHIPPED, t, profile())
    assert match.trigger_id == "dormant_reengagement:stage_changed:stage:dormant:2026-03-02T12:00:00.000Z"
    # the same transition given as a string timestamp collapses onto the same id
    t2 = dict(t, at="2026-03-02T12:00:00Z")
    assert match_triggers(SHIPPED, t2, profile())[0].trigger_id == match.trigger_id


def test_segment_triggers_and_stage_from_filter() -> None:
    entered = scenario(when={"type": "segment_entered", "segment": "vip"})
    exited = scenario(id="s2", when={"type": "segment_exited", "segment": "vip"})
    from_new = scenario(id="s3", when={"type": "stage_changed", "to": "active", "from": "new"})
    t_in = {"kind": "segment_entered", "name": "vip", "at": NOW}
    t_out = {"kind": "segment_exited", "name": "vip", "at": NOW}
    assert [m.scenario.id for m in match_triggers([entered, exited], t_in, profile())] == ["s"]
    assert [m.scenario.id for m in match_triggers([entered, exited], t_out, profile())] == ["s2"]
    assert match_triggers([from_new], {"kind": "stage_changed", "from": "new", "to": "active", "at": NOW}, profile())
    assert not match_triggers(
        [from_new], {"kind": "stage_changed", "from": "loyal", "to": "active", "at": NOW}, profile()
    )


def test_segment_entries_found_by_a_backfill_start_a_journey_only_when_the_scenario_includes_existing() -> None:
    # GIVEN the same segment entry recorded by a person's fold and by a backfill over existing profiles
    new_only = scenario(when={"type": "segment_entered", "segment": "vip"})
    existing_too = scenario(id="s2", when={"type": "segment_entered", "segment": "vip", "include_existing": True})
    left_too = scenario(id="s3", when={"type": "segment_exited", "segment": "vip", "include_existing": True})
    by_person = {"kind": "segment_entered", "name": "vip", "at": NOW}
    by_backfill = {**by_person, "by": "backfill"}
    # THEN the person's entry starts both, the backfill's only the scenario that asked for existing members
    assert [m.scenario.id for m in match_triggers([new_only, existing_too, left_too], by_person, profile())] == [
        "s",
        "s2",
    ]
    assert [m.scenario.id for m in match_triggers([new_only, existing_too, left_too], by_backfill, profile())] == ["s2"]
    exit_by_backfill = {"kind": "segment_exited", "name": "vip", "at": NOW, "by": "backfill"}
    assert [m.scenario.id for m in match_triggers([new_only, left_too], exit_by_backfill, profile())] == ["s3"]
    # and a backfill never changes which trigger instance an entry is (no second run for one entry)
    assert match_triggers([existing_too], by_backfill, profile()) == match_triggers(
        [existing_too], by_person, profile()
    )


def test_audience_segment_must_contain_the_profile() -> None:
    sc = scenario(who={"segment": "vip"})
    assert not match_triggers([sc], event("E"), profile(segments=["other"]))
    assert match_triggers([sc], event("E"), profile(segments=["vip"]))


def test_inline_rule_audience_uses_the_rule_matcher_and_is_conservative_without_one() -> None:
    sc = scenario(who={"rule": {"field": "traits.country", "op": "eq", "value": "JP"}})
    assert match_triggers([sc], event("E"), profile()) == []  # nobody can tell: do not message
    yes = match_triggers([sc], event("E"), profile(), rule_matcher=lambda rule, p: rule["value"] == "JP")
    assert [m.scenario.id for m in yes] == ["s"]


def test_schedule_tick_fires_at_cron_minute_in_trigger_timezone() -> None:
    # GIVEN Mondays 10:00 Tokyo (= 01:00 UTC)
    sc = scenario(who={"segment": "vip"}, when={"type": "schedule", "cron": "0 10 * * 1", "timezone": "Asia/Tokyo"})
    member = profile(segments=["vip"])
    tick = ScheduleTick(at=datetime(2026, 3, 2, 1, 0, 30, tzinfo=UTC))
    (match,) = match_triggers([sc], tick, member)
    assert match.trigger_id == "s:schedule:2026-03-02T01:00:00.000Z"
    assert not match_triggers([sc], ScheduleTick(at=datetime(2026, 3, 2, 10, 0, tzinfo=UTC)), member)
    assert not match_triggers([sc], tick, profile())  # not in the audience


def test_due_schedule_times_lists_each_fire_time_once_in_the_window() -> None:
    sc = scenario(who={"segment": "vip"}, when={"type": "schedule", "cron": "0 */6 * * *"})
    times = due_schedule_times(sc, NOW, NOW + timedelta(hours=12))
    assert times == [datetime(2026, 3, 2, 18, 0, tzinfo=UTC), datetime(2026, 3, 3, 0, 0, tzinfo=UTC)]
    assert due_schedule_times(scenario(), NOW, NOW + timedelta(days=1)) == []


# ---------------------------------------------------------------------------------------------------------------------
# runs and plan_next
# ---------------------------------------------------------------------------------------------------------------------


def test_cart_abandonment_walks_wait_send_wait_send_end() -> None:
    # GIVEN a run that just started
    sc = BY_ID["cart_abandonment"]
    p = profile(profile_id="p-walk", computed={"cart": [{"product_id": "1", "price": 10, "quantity": 1}]})
    when, ctx = trigger_context(event("Product Added", product_id="1"))
    run = start_run(sc, p, "cart_abandonment:evt:web#m1", NOW, entered_at=when, context=ctx)
    assert run.step_index == 0 and run.status == "active" and run.context["product_id"] == "1"
    now = NOW
    kinds: list[str] = []
    # WHEN the service executes actions until the end
    for _ in range(10):
        action = plan_next(sc, run.step_index, p, now, context=run.context, variant=run.variant)
        kinds.append(action.kind)
        run = advance(run, action, now)
        if isinstance(action, WaitAction):
            assert action.until - now in (timedelta(hours=1), timedelta(hours=23))
            now = action.until
        if isinstance(action, EndAction):
            break
    # THEN the shape is the scenario's
    assert kinds == ["wait", "send", "wait", "send", "end"]
    assert run.status == "completed"


def test_send_action_uses_the_runs_sticky_variant_when_offered() -> None:
    sc = BY_ID["cart_abandonment"]
    for variant, template in (("a", "cart_reminder"), ("b", "cart_reminder_b")):
        action = plan_next(sc, 1, profile(), NOW, variant=variant)
        assert isinstance(action, SendAction)
        assert (action.variant_id, action.template_id) == (variant, template)


def test_start_run_assigns_the_variant_the_send_step_would_choose() -> None:
    sc = BY_ID["cart_abandonment"]
    for n in range(30):
        p = profile(profile_id=f"p{n}")
        run = start_run(sc, p, "t", NOW)
        action = plan_next(sc, 1, p, NOW)
        assert isinstance(action, SendAction)
        assert run.holdout or run.variant == action.variant_id


def test_split_yes_and_no_branches() -> None:
    sc = BY_ID["dormant_reengagement"]
    sms_ok = profile(consent={"sms": {"status": "opted_in"}}, phone="+81 90 1234 5678")
    yes = plan_next(sc, 2, sms_ok, NOW)
    no = plan_next(sc, 2, profile(), NOW)
    assert isinstance(yes, SendAction) and yes.step.channel == "sms" and yes.branches == ("has_sms:yes",)
    assert isinstance(no, EndAction) and no.branches == ("has_sms:no",)


def test_random_split_is_deterministic_and_roughly_even() -> None:
    sc = scenario(
        steps=[
            {
                "type": "random_split",
                "id": "ab",
                "branches": [{"percent": 50, "goto": "x"}, {"percent": 50, "goto": "y"}],
            },
            {"type": "send", "id": "x", "channel": "email", "template": "tx", "next": "done"},
            {"type": "send", "id": "y", "channel": "email", "template": "ty"},
            {"type": "end", "id": "done"},
        ]
    )
    templates = []
    for n in range(2000):
        p = profile(profile_id=f"p{n}")
        first = plan_next(sc, 0, p, NOW)
        assert first == plan_next(sc, 0, p, NOW)
        assert isinstance(first, SendAction)
        templates.append(first.template_id)
        # after branch x, `next` jumps over y to the end
        if first.template_id == "tx":
            assert isinstance(plan_next(sc, first.next_index, p, NOW), EndAction)
    share = templates.count("tx") / len(templates)
    assert 0.45 < share < 0.55


def test_plan_past_the_end_is_end() -> None:
    sc = scenario()
    assert isinstance(plan_next(sc, 5, profile(), NOW), EndAction)


def test_webhook_send_has_no_template() -> None:
    sc = scenario(steps=[{"type": "send", "channel": "webhook", "url": "https://crm.example/hook"}])
    action = plan_next(sc, 0, profile(), NOW)
    assert isinstance(action, SendAction) and action.template_id is None and action.variant_id is None


def test_run_json_round_trip_and_run_id() -> None:
    sc = BY_ID["welcome_series"]
    run = start_run(sc, profile(), "welcome_series:evt:web#m1", NOW)
    again = ScenarioRun.model_validate_json(run.model_dump_json())
    assert again == run
    assert run.run_id == "p1#welcome_series:evt:web#m1"
    assert exit_run(run, "event:Order Completed", NOW).status == "exited"


# ---------------------------------------------------------------------------------------------------------------------
# should_exit
# ---------------------------------------------------------------------------------------------------------------------


def test_order_completed_after_start_exits_cart_abandonment() -> None:
    sc = BY_ID["cart_abandonment"]
    p = profile(computed={"cart": [{"product_id": "1", "quantity": 1}]})
    bought = event("Order Completed", message_id="m2", at=NOW + timedelta(minutes=10))
    assert should_exit(sc, p, [bought], since=NOW) == "event:Order Completed"
    assert should_exit(sc, p, [event("Product Viewed", at=NOW + timedelta(minutes=5))], since=NOW) is None


def test_events_before_the_run_started_are_ignored() -> None:
    sc = BY_ID["cart_abandonment"]
    p = profile(computed={"cart": [{"product_id": "1", "quantity": 1}]})
    earlier = event("Order Completed", at=NOW - timedelta(days=1))
    assert should_exit(sc, p, [earlier], since=NOW) is None


def test_empty_cart_exits_cart_abandonment() -> None:
    sc = BY_ID["cart_abandonment"]
    assert should_exit(sc, profile(computed={"cart": []}), []) == "condition:exit[1]"
    assert should_exit(sc, profile(computed={"cart": [{"product_id": "1", "quantity": 0}]}), []) == "condition:exit[1]"


def test_browse_abandonment_exits_when_the_remembered_product_is_added_to_cart() -> None:
    sc = BY_ID["browse_abandonment"]
    p = profile(computed={"cart": [{"product_id": "42", "quantity": 1}]})
    assert should_exit(sc, p, [], context={"product_id": "42"}) == "condition:exit[1]"
    assert should_exit(sc, p, [], context={"product_id": "7"}) is None


def test_left_segment_and_left_audience_exit() -> None:
    sc = scenario(who={"segment": "vip"}, exit=[{"left_audience": True}])
    seg = scenario(exit=[{"left_segment": "trial"}])
    assert should_exit(sc, profile(segments=["vip"]), []) is None
    assert should_exit(sc, profile(segments=[]), []) == "left_audience"
    assert should_exit(seg, profile(segments=[]), []) == "left_segment:trial"
    inline = scenario(who={"rule": {}}, exit=[{"left_audience": True}])
    assert should_exit(inline, profile(), []) is None  # unknown membership: keep going
    assert should_exit(inline, profile(), [], audience_member=False) == "left_audience"


def test_exit_event_conditions_can_use_run_context() -> None:
    sc = scenario(
        exit=[
            {
                "event": "Product Added",
                "conditions": [{"field": "event.properties.product_id", "op": "eq", "value": "42"}],
            }
        ]
    )
    assert should_exit(sc, profile(), [event("Product Added", product_id="42")]) == "event:Product Added"
    assert should_exit(sc, profile(), [event("Product Added", product_id="1")]) is None


# ---------------------------------------------------------------------------------------------------------------------
# reentry
# ---------------------------------------------------------------------------------------------------------------------


def test_reentry_once_blocks_after_any_previous_run() -> None:
    sc = scenario(reentry="once")
    assert reentry_allowed(sc, [], NOW)
    done = run_for(sc, status="completed", entered_at=NOW - timedelta(days=400))
    assert not reentry_allowed(sc, [done], NOW)


def test_reentry_after_waits_from_the_previous_entry() -> None:
    sc = scenario(reentry={"after": "30d"})
    recent = run_for(sc, status="completed", entered_at=NOW - timedelta(days=29))
    old = run_for(sc, status="exited", entered_at=NOW - timedelta(days=30))
    assert not reentry_allowed(sc, [recent, old], NOW)
    assert reentry_allowed(sc, [old], NOW)


def test_no_parallel_runs_even_with_reentry_always() -> None:
    sc = scenario(reentry="always")
    assert reentry_allowed(sc, [run_for(sc, status="completed")], NOW)
    assert not reentry_allowed(sc, [run_for(sc, status="active")], NOW)


def test_runs_of_other_scenarios_do_not_count() -> None:
    sc = scenario(reentry="once")
    other = run_for(scenario(id="other"), status="completed")
    assert reentry_allowed(sc, [other], NOW)


# ---------------------------------------------------------------------------------------------------------------------
# operators
# ---------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "actual", "expected", "result"),
    [
        ("eq", 3, 3.0, True),
        ("eq", True, 1, False),  # booleans are not numbers
        ("eq", None, None, False),
        ("ne", None, "x", True),
        ("gte", 3, 3, True),
        ("gt", "2026-03-02", "2026-03-01", True),
        ("gt", "abc", 1, False),
        ("lt", None, 1, False),
        ("in", "JP", ["JP", "US"], True),
        ("not_in", None, ["JP"], True),
        ("contains", ["vip", "new"], "vip", True),
        ("contains", "hello world", "world", True),
        ("not_contains", None, "x", True),
        ("exists", 0, None, True),
        ("not_exists", None, None, True),
    ],
)
def test_operator_semantics(op: str, actual: Any, expected: Any, result: bool) -> None:
    assert compare(op, actual, expected) is result


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.none(), st.integers(), st.text(max_size=5), st.booleans(), st.lists(st.integers(), max_size=3)))
def test_operators_never_raise_on_odd_profile_values(actual: Any) -> None:
    for op in ("eq", "ne", "gt", "gte", "lt", "lte", "contains", "not_contains", "exists", "not_exists"):
        compare(op, actual, 3)
    compare("in", actual, [1, "a"])


def test_score_dropped_matches_a_downward_threshold_trigger() -> None:
    down = scenario(when={"type": "score_crossed", "threshold": "mql", "direction": "down"})
    dropped = {"kind": "score_dropped", "name": "mql", "from": 55.0, "to": 40.0, "at": "2026-03-02T12:00:00.000Z"}
    crossed = {"kind": "score_crossed", "name": "mql", "from": 40.0, "to": 55.0, "at": "2026-03-02T12:00:00.000Z"}
    assert match_triggers([down], dropped, profile())
    assert not match_triggers([down], crossed, profile())


def test_transition_objects_from_the_profile_module_are_accepted() -> None:
    # The fold emits the profile module's Transition structs (stored with the key "from").
    from chalicelib.profiles.model import Transition as FoldTransition

    t = FoldTransition(kind="stage_changed", name="loyal", from_="active", to="loyal", at="2026-03-02T12:00:00.000Z")
    assert [m.scenario.id for m in match_triggers(SHIPPED, t, profile())] == ["loyal_thanks"]


def test_transition_accepts_from_or_from_underscore() -> None:
    assert as_transition({"kind": "stage_changed", "from_": "new", "to": "active", "at": NOW}).from_ == "new"
    assert as_transition({"kind": "stage_changed", "from": "new", "to": "active", "at": NOW}).from_ == "new"
