"""Scenario definition models, loader and reference checks."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.delivery import templating
from chalicelib.scenarios.definitions import ReentryAfter, SendStep
from chalicelib.scenarios.loader import ScenarioConfigError, load_scenarios, parse_scenario
from chalicelib.scenarios.schedule import cron_matches, parse_cron, parse_duration

SHIPPED = Path(__file__).resolve().parents[3] / "chalicelib" / "config" / "scenarios"
TEMPLATES = {"cart_reminder", "cart_reminder_b", "cart_reminder_final"}


def cart_scenario(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "cart_abandonment",
        "name": "Cart",
        "when": {"type": "event", "event": "Product Added"},
        "steps": [
            {"type": "wait", "duration": "1h"},
            {
                "type": "send",
                "channel": "email",
                "variants": [{"id": "a", "template": "cart_reminder"}, {"id": "b", "template": "cart_reminder_b"}],
            },
        ],
        "exit": [{"event": "Order Completed"}],
    }
    data.update(overrides)
    return data


def write(directory: Path, name: str, data: Any) -> None:
    (directory / name).write_text(json.dumps(data), encoding="utf-8")


# ---------------------------------------------------------------------------------------------------------------------
# durations and cron
# ---------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("1h", timedelta(hours=1)),
        ("3d", timedelta(days=3)),
        ("1d12h", timedelta(hours=36)),
    ],
)
def test_duration_text_parses_to_timedelta(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "1", "h", "1y", "-1h", "1.5h", "3 days"])
def test_invalid_duration_is_rejected(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@given(st.integers(min_value=0, max_value=10_000), st.sampled_from("wdhms"))
def test_any_count_and_unit_round_trips(count: int, unit: str) -> None:
    seconds = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}[unit]
    assert parse_duration(f"{count}{unit}").total_seconds() == count * seconds


def test_cron_matches_monday_ten_am_only() -> None:
    # GIVEN every Monday at 10:00
    expr = "0 10 * * 1"
    # THEN Monday 2026-03-02 10:00 matches, Tuesday and 10:01 do not
    assert cron_matches(expr, datetime(2026, 3, 2, 10, 0))
    assert not cron_matches(expr, datetime(2026, 3, 3, 10, 0))
    assert not cron_matches(expr, datetime(2026, 3, 2, 10, 1))


def test_cron_steps_ranges_and_sunday_as_seven() -> None:
    minute, hour, _, _, dow = parse_cron("*/15 9-17 * * 7")
    assert minute == {0, 15, 30, 45}
    assert hour == set(range(9, 18))
    assert dow == {0}


@pytest.mark.parametrize("expr", ["* * * *", "60 * * * *", "* 24 * * *", "a * * * *", "*/0 * * * *"])
def test_invalid_cron_is_rejected(expr: str) -> None:
    with pytest.raises(ValueError):
        parse_cron(expr)


# ---------------------------------------------------------------------------------------------------------------------
# models
# ---------------------------------------------------------------------------------------------------------------------


def test_valid_scenario_parses_with_defaults() -> None:
    scenario = parse_scenario(cart_scenario())
    assert scenario.enabled is True
    assert scenario.marketing is True
    assert scenario.reentry == "once"
    assert scenario.holdout_percent == 0
    assert [s.type for s in scenario.steps] == ["wait", "send"]


def test_single_template_is_one_default_variant() -> None:
    scenario = parse_scenario(cart_scenario(steps=[{"type": "send", "channel": "email", "template": "cart_reminder"}]))
    step = scenario.steps[0]
    assert isinstance(step, SendStep)
    assert [(v.id, v.template) for v in step.effective_variants] == [("default", "cart_reminder")]


@pytest.mark.parametrize(
    ("reentry", "expected_after"),
    [("once", None), ("always", None), ({"after": "30d"}, timedelta(days=30))],
)
def test_reentry_accepts_once_always_and_after(reentry: Any, expected_after: timedelta | None) -> None:
    scenario = parse_scenario(cart_scenario(reentry=reentry))
    assert scenario.reentry_after == expected_after
    assert isinstance(scenario.reentry, ReentryAfter) == (expected_after is not None)


def test_schema_hint_key_is_accepted_and_ignored() -> None:
    scenario = parse_scenario(cart_scenario(**{"$schema": "../schemas/scenario.schema.json"}))
    assert "$schema" not in scenario.model_dump(by_alias=True)


@pytest.mark.parametrize(
    ("mutate", "path", "message"),
    [
        (lambda d: d["steps"][1].update(channel="fax"), "steps[1].send.channel", "Input should be"),
        (lambda d: d["steps"][0].update(duration="soon"), "steps[0].wait.duration", "pattern"),
        (lambda d: d.update(holdout_percent=100), "holdout_percent", "less than 100"),
        (lambda d: d.update(colour="red"), "colour", "Extra inputs"),
        (lambda d: d["when"].update(type="telepathy"), "when", "tag"),
        (lambda d: d["steps"][1].pop("variants"), "steps[1].send", "needs 'template' or 'variants'"),
        (
            lambda d: d["steps"][1]["variants"].append({"id": "a", "template": "cart_reminder"}),
            "steps[1].send",
            "unique",
        ),
        (lambda d: d["steps"][1]["variants"][0].update(weight=0), "steps[1].send.variants[0].weight", "greater"),
        (lambda d: d["exit"].append({"event": "X", "left_segment": "y"}), "exit[1]", "exactly one"),
        (lambda d: d.update(who={"segment": "a", "rule": {}}), "who", "exactly one"),
    ],
)
def test_invalid_scenario_error_names_field_path(mutate: Any, path: str, message: str) -> None:
    # GIVEN a scenario with one mistake
    data = copy.deepcopy(cart_scenario())
    mutate(data)
    # WHEN it is parsed THEN the error names the file and the field path
    with pytest.raises(ScenarioConfigError) as info:
        parse_scenario(data, source="cart_abandonment.json")
    assert info.value.source == "cart_abandonment.json"
    assert info.value.path == path
    assert message in info.value.detail
    assert str(info.value).startswith(f"cart_abandonment.json: {path}: ")


def test_sales_alert_needs_topic_and_webhook_needs_https_url() -> None:
    with pytest.raises(ScenarioConfigError, match="needs 'topic'"):
        parse_scenario(cart_scenario(steps=[{"type": "send", "channel": "sales_alert", "template": "t"}]))
    with pytest.raises(ScenarioConfigError, match="https"):
        parse_scenario(cart_scenario(steps=[{"type": "send", "channel": "webhook", "url": "http://x"}]))
    hook = parse_scenario(cart_scenario(steps=[{"type": "send", "channel": "webhook", "url": "https://crm/x"}]))
    assert hook.steps[0].effective_variants == []  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("field", "ok"),
    [
        ("event.properties.product_id", True),
        ("profile.scores.engagement", True),
        ("context.product_id", True),
        ("fact.product_view_count", True),
        ("fact.favourite_colour", False),
        ("properties.product_id", False),
        ("profile.", False),
    ],
)
def test_condition_field_must_be_rooted_and_facts_known(field: str, ok: bool) -> None:
    data = cart_scenario(when={"type": "event", "event": "E", "conditions": [{"field": field, "op": "exists"}]})
    if ok:
        parse_scenario(data)
    else:
        with pytest.raises(ScenarioConfigError) as info:
            parse_scenario(data)
        assert info.value.path == "when.event.conditions[0].field"


def test_split_to_unknown_step_is_rejected() -> None:
    steps = [{"type": "split", "conditions": [{"field": "profile.stage", "op": "exists"}], "yes": "nowhere"}]
    with pytest.raises(ScenarioConfigError, match="unknown step id 'nowhere'"):
        parse_scenario(cart_scenario(steps=steps))


def test_goto_cycle_is_rejected_so_runs_always_finish() -> None:
    steps = [
        {"type": "wait", "id": "w", "duration": "1d"},
        {"type": "send", "channel": "email", "template": "t", "next": "w"},
    ]
    with pytest.raises(ScenarioConfigError, match="cycle"):
        parse_scenario(cart_scenario(steps=steps))


def test_random_split_percents_must_total_100() -> None:
    steps = [{"type": "random_split", "branches": [{"percent": 50}, {"percent": 40}]}]
    with pytest.raises(ScenarioConfigError, match="total 100"):
        parse_scenario(cart_scenario(steps=steps))


def test_schedule_trigger_needs_audience_and_valid_timezone() -> None:
    with pytest.raises(ScenarioConfigError, match="needs 'who'"):
        parse_scenario(cart_scenario(when={"type": "schedule", "cron": "0 10 * * 1"}))
    with pytest.raises(ScenarioConfigError, match="time zone"):
        parse_scenario(
            cart_scenario(
                who={"segment": "s"}, when={"type": "schedule", "cron": "0 10 * * 1", "timezone": "Mars/Olympus"}
            )
        )


def test_schedule_trigger_refuses_an_inline_rule_audience_it_could_not_enumerate() -> None:
    rule = {"field": "stage", "op": "eq", "value": "loyal"}
    with pytest.raises(ScenarioConfigError, match="who.segment"):
        parse_scenario(cart_scenario(who={"rule": rule}, when={"type": "schedule", "cron": "0 10 * * 1"}))


# ---------------------------------------------------------------------------------------------------------------------
# loading with references
# ---------------------------------------------------------------------------------------------------------------------


def test_unknown_variant_template_error_names_file_and_path(tmp_path: Path) -> None:
    # GIVEN a scenario whose second step references a template that does not exist
    data = cart_scenario()
    data["steps"][1]["variants"][0]["template"] = "cart_reminder_v9"
    write(tmp_path, "cart_abandonment.json", data)
    # WHEN loaded THEN the error reads like the brief's example
    with pytest.raises(ScenarioConfigError) as info:
        load_scenarios(tmp_path, set(), TEMPLATES)
    assert str(info.value) == (
        "cart_abandonment.json: steps[1].send.variants[0].template: unknown template 'cart_reminder_v9'"
    )


@pytest.mark.parametrize(
    ("overrides", "path"),
    [
        ({"who": {"segment": "ghosts"}}, "who.segment"),
        ({"when": {"type": "segment_entered", "segment": "ghosts"}}, "when.segment_entered.segment"),
        ({"exit": [{"left_segment": "ghosts"}]}, "exit[0].left_segment"),
        (
            {"exit": [{"profile": [{"field": "profile.segments", "op": "contains", "value": "ghosts"}]}]},
            "exit[0].profile[0].value",
        ),
    ],
)
def test_unknown_segment_reference_is_rejected(tmp_path: Path, overrides: dict[str, Any], path: str) -> None:
    write(tmp_path, "s.json", cart_scenario(**overrides))
    with pytest.raises(ScenarioConfigError) as info:
        load_scenarios(tmp_path, {"vip"}, TEMPLATES)
    assert info.value.path == path
    assert "unknown segment 'ghosts'" in str(info.value)


def test_template_without_body_for_channel_is_rejected(tmp_path: Path) -> None:
    data = cart_scenario(steps=[{"type": "send", "channel": "sms", "template": "cart_reminder"}])
    write(tmp_path, "s.json", data)
    with pytest.raises(ScenarioConfigError, match="has no sms body"):
        load_scenarios(tmp_path, set(), TEMPLATES, template_channels={"cart_reminder": {"email"}})


def test_duplicate_scenario_ids_across_files_are_rejected(tmp_path: Path) -> None:
    write(tmp_path, "a.json", cart_scenario())
    write(tmp_path, "b.json", cart_scenario())
    with pytest.raises(ScenarioConfigError, match="duplicate scenario id 'cart_abandonment' .also in a.json."):
        load_scenarios(tmp_path, set(), TEMPLATES)


def test_broken_json_error_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text('{\n  "id": "x",\n  oops\n}', encoding="utf-8")
    with pytest.raises(ScenarioConfigError, match=r"broken.json: line 3: invalid JSON"):
        load_scenarios(tmp_path, set(), TEMPLATES)


def test_yaml_scenarios_load_too_and_other_files_are_ignored(tmp_path: Path) -> None:
    import yaml

    (tmp_path / "cart.yaml").write_text(yaml.safe_dump(cart_scenario()), encoding="utf-8")
    (tmp_path / "README.md").write_text("notes", encoding="utf-8")
    assert [s.id for s in load_scenarios(tmp_path, set(), TEMPLATES)] == ["cart_abandonment"]


def test_shipped_scenarios_load_against_shipped_templates() -> None:
    # GIVEN the packaged scenarios and template catalogue
    scenarios = load_scenarios(
        SHIPPED, set(), templating.known_templates(), template_channels=templating.template_channels()
    )
    # THEN every example from the brief is there and enabled
    assert {s.id for s in scenarios} == {
        "back_in_stock",
        "low_stock_reminder",
        "welcome_series",
        "cart_abandonment",
        "browse_abandonment",
        "post_purchase",
        "dormant_reengagement",
        "loyal_thanks",
        "mql_sales_alert",
    }
    assert all(s.enabled for s in scenarios)
    by_id = {s.id: s for s in scenarios}
    assert by_id["mql_sales_alert"].marketing is False
    assert all(s.topic for s in scenarios if s.marketing), "marketing scenarios need a preference-centre topic"
