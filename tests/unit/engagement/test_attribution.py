"""Last-touch attribution: clicks beat opens, windows are inclusive, later touches never count."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.engagement.attribution import Touch, attribute

ORDER = datetime(2026, 5, 10, 12, 0, tzinfo=UTC)


def click(message_id: str, before: timedelta) -> Touch:
    return Touch(message_id, "cart", "r1", "a", "click", ORDER - before)


def opened(message_id: str, before: timedelta) -> Touch:
    return Touch(message_id, "welcome", "w1", None, "human_open", ORDER - before)


def test_last_click_in_window_wins_over_a_later_open() -> None:
    # GIVEN a click 3 days ago and a human open 1 hour ago  THEN the click gets the credit
    touches = [click("m_click", timedelta(days=3)), opened("m_open", timedelta(hours=1))]
    result = attribute(ORDER, 80.0, touches)
    assert result is not None and result.touch.message_id == "m_click"
    assert result.revenue == 80.0 and result.lag == timedelta(days=3)


def test_latest_of_several_clicks_wins() -> None:
    touches = [click("m_old", timedelta(days=5)), click("m_new", timedelta(days=1)), click("m_mid", timedelta(days=2))]
    assert attribute(ORDER, 1.0, touches).touch.message_id == "m_new"  # type: ignore[union-attr]


def test_open_counts_only_when_no_click_is_eligible() -> None:
    touches = [click("m_click", timedelta(days=8)), opened("m_open", timedelta(hours=20))]
    assert attribute(ORDER, 1.0, touches).touch.message_id == "m_open"  # type: ignore[union-attr]


def test_open_outside_its_shorter_window_gets_nothing() -> None:
    assert attribute(ORDER, 1.0, [opened("m_open", timedelta(days=2))]) is None


def test_windows_are_inclusive_and_configurable() -> None:
    assert attribute(ORDER, 1.0, [click("m", timedelta(days=7))]) is not None
    assert attribute(ORDER, 1.0, [click("m", timedelta(days=7, seconds=1))]) is None
    assert attribute(ORDER, 1.0, [click("m", timedelta(days=10))], window_click=timedelta(days=14)) is not None
    assert attribute(ORDER, 1.0, [opened("m", timedelta(hours=30))], window_open=timedelta(days=2)) is not None


def test_touches_after_the_order_never_count() -> None:
    assert attribute(ORDER, 1.0, [click("m", -timedelta(minutes=1))]) is None


def test_negative_window_is_refused() -> None:
    with pytest.raises(ValueError):
        attribute(ORDER, 1.0, [], window_click=-timedelta(days=1))


@given(st.lists(st.tuples(st.sampled_from(["click", "human_open"]), st.integers(-86400, 86400 * 10)), max_size=8))
def test_attribution_is_independent_of_input_order(raw) -> None:
    touches = [
        Touch(f"m{i}", "s", "r", None, kind, ORDER - timedelta(seconds=seconds))
        for i, (kind, seconds) in enumerate(raw)
    ]
    forward, backward = attribute(ORDER, 1.0, touches), attribute(ORDER, 1.0, list(reversed(touches)))
    assert forward == backward
    if forward is not None:
        assert forward.touch.at <= ORDER
