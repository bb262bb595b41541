"""The A/B winner of a broadcast: significant when one arm beats every other with enough data, else the best seen."""

from __future__ import annotations

from typing import Any

from chalicelib.broadcasts.model import Broadcast, broadcast_scenario
from chalicelib.broadcasts.service import BroadcastService
from chalicelib.shared.clock import FakeClock

AB = Broadcast.model_validate(
    {
        "name": "Sale",
        "audience": {"segment": "vip"},
        "channel": "email",
        "variants": [{"id": "a", "template": "t1"}, {"id": "b", "template": "t2"}],
        "ab": {"test_share": 0.2, "decide_after": "4h", "metric": "opens"},
    }
)


def _service(rows: dict[str, dict[str, float]]) -> BroadcastService:
    unused: Any = None
    return BroadcastService(
        definitions=unused,
        status=unused,
        audience_queue=unused,
        identities=unused,
        clock=FakeClock(),
        known_segments=lambda: {"vip"},
        template_channels=lambda: {},
        report_rows=lambda scenario_id: rows,
    )


def test_a_clearly_better_arm_wins_as_significant_on_human_opens_only() -> None:
    rows = {
        "send#a#email": {"sent": 8000, "delivered": 8000, "human_opens": 1200, "machine_opens": 3000},
        "send#b#email": {"sent": 8000, "delivered": 8000, "human_opens": 2000},
        "*#treated#*": {"assigned": 16000},
    }
    assert _service(rows).winner("x", AB) == ("b", "significant")


def test_without_enough_data_the_best_observed_arm_wins_and_ties_go_to_the_first_variant() -> None:
    few = {"send#a#email": {"sent": 20, "human_opens": 2}, "send#b#email": {"sent": 20, "human_opens": 5}}
    assert _service(few).winner("x", AB) == ("b", "best_observed")
    assert _service({}).winner("x", AB) == ("a", "best_observed")


def test_the_derived_scenario_carries_variants_holdout_and_topic() -> None:
    broadcast = AB.model_copy(update={"holdout_share": 0.1, "topic": "offers"})
    scenario = broadcast_scenario("b1", broadcast)
    assert scenario.id == "bc-b1" and scenario.holdout_percent == 10 and scenario.topic == "offers"
    assert [v.id for v in scenario.steps[0].effective_variants] == ["a", "b"]  # type: ignore[union-attr]


def test_a_broadcast_with_send_time_optimisation_carries_it_to_its_send_step() -> None:
    broadcast = Broadcast.model_validate(
        {
            "name": "Spring sale",
            "audience": {"segment": "s"},
            "channel": "email",
            "template": "t",
            "send_time": {"within": "24h", "fallback_hour": 9, "control_share": 0.2},
        }
    )
    step = broadcast_scenario("b1", broadcast).steps[0]
    assert step.send_time is not None  # type: ignore[union-attr]
    assert (step.send_time.fallback_hour, step.send_time.control_share) == (9, 0.2)  # type: ignore[union-attr]
    assert broadcast_scenario("b1", broadcast.model_copy(update={"send_time": None})).steps[0].send_time is None  # type: ignore[union-attr]


def test_a_broadcast_send_time_out_of_range_is_refused() -> None:
    import pytest
    from pydantic import ValidationError

    body = {"name": "n", "audience": {"segment": "s"}, "channel": "email", "template": "t"}
    with pytest.raises(ValidationError, match="within"):
        Broadcast.model_validate({**body, "send_time": {"within": "30d"}})
