"""Last-touch revenue attribution: which message (if any) gets the credit for an order.

Rule: the last human click within `window_click` before the order wins; if there is none, the last human open
within `window_open` wins; otherwise nobody gets the credit. Defaults: 7 days for a click, 1 day for an open, the
common ESP defaults (a click is deliberate intent; an open, even a human one, is weak evidence, so its window is
shorter). Windows are inclusive: an order exactly 7 days after the click still counts. Touches after the order never
count. Machine opens and clicks (see `engagement`) must not be passed in: they are not touches.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

TouchKind = Literal["click", "human_open"]
DEFAULT_CLICK_WINDOW = timedelta(days=7)
DEFAULT_OPEN_WINDOW = timedelta(days=1)


@dataclass(frozen=True)
class Touch:
    """One human engagement with a message (the report dimensions come along so the credit lands on the right row)."""

    message_id: str
    scenario_id: str
    step: str
    variant: str | None
    kind: TouchKind
    at: datetime


@dataclass(frozen=True)
class Attribution:
    """The credited touch and the order it gets credit for."""

    touch: Touch
    revenue: float
    order_at: datetime

    @property
    def lag(self) -> timedelta:
        """Time from the touch to the order."""
        return self.order_at - self.touch.at


def _last_within(touches: Iterable[Touch], kind: str, order_at: datetime, window: timedelta) -> Touch | None:
    eligible = [t for t in touches if t.kind == kind and timedelta(0) <= order_at - t.at <= window]
    # Ties on the same instant: the message id decides, so the answer never depends on the order of the input.
    return max(eligible, key=lambda t: (t.at, t.message_id), default=None)


def attribute(
    order_at: datetime,
    revenue: float,
    touches: Iterable[Touch],
    window_click: timedelta = DEFAULT_CLICK_WINDOW,
    window_open: timedelta = DEFAULT_OPEN_WINDOW,
) -> Attribution | None:
    """The message credited with an order, or None.

    Example:
        >>> from datetime import UTC, datetime, timedelta
        >>> t0 = datetime(2026, 5, 1, tzinfo=UTC)
        >>> click = Touch("m1", "cart", "r1", "a", "click", t0)
        >>> attribute(t0 + timedelta(days=2), 50.0, [click]).touch.message_id
        'm1'
    """
    if window_click < timedelta(0) or window_open < timedelta(0):
        raise ValueError("attribution windows must not be negative")
    touches = list(touches)
    touch = _last_within(touches, "click", order_at, window_click) or _last_within(
        touches, "human_open", order_at, window_open
    )
    return Attribution(touch, revenue, order_at) if touch else None
