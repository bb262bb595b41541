"""Sending-rate arithmetic (pure): per-window limits for marketing and transactional sends, grants and retry delays.

The shared limiter counts sends per channel in fixed windows of whole seconds (delivery/pacing.py keeps the count in
one StateTable item per window). Transactional messages may fill a window; marketing only its `marketing_share`, so a
confirmation or a receipt always finds room even while a broadcast is going out. A rate below one marketing message
a second gets a longer window (rate 1/s, share 0.8: 2 sends per 2 s, of which 1 marketing) instead of a limit of 0.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

_EPSILON = 1e-9  # 14 * 0.8 is 11.200000000000001 in floats; 10 * 0.7 is 6.999999999999999


@dataclass(frozen=True)
class WindowPlan:
    """Windows of `seconds` whole seconds, each allowing `limit` sends of which at most `marketing_limit` marketing."""

    seconds: int
    limit: int
    marketing_limit: int

    def limit_for(self, marketing: bool) -> int:
        return self.marketing_limit if marketing else self.limit

    def start(self, epoch_seconds: float) -> int:
        """The window holding this instant, named by its first second (epoch)."""
        return int(epoch_seconds // self.seconds) * self.seconds

    def seconds_left(self, epoch_seconds: float) -> float:
        """Until the next window opens."""
        return self.start(epoch_seconds) + self.seconds - epoch_seconds


def plan_window(rate: float, marketing_share: float) -> WindowPlan:
    """The window for `rate` sends a second with `marketing_share` of it for marketing.

    Example: `plan_window(14, 0.8)` -> 1 s windows, 14 sends, 11 of them marketing.
    """
    if rate <= 0 or not 0 < marketing_share <= 1:
        raise ValueError(f"rate must be > 0 and marketing_share in (0, 1], got {rate}, {marketing_share}")
    marketing_rate = rate * marketing_share
    seconds = 1 if marketing_rate >= 1 - _EPSILON else math.ceil(1 / marketing_rate - _EPSILON)
    limit = max(1, math.floor(rate * seconds + _EPSILON))
    marketing_limit = max(1, min(limit, math.floor(marketing_rate * seconds + _EPSILON)))
    return WindowPlan(seconds, limit, marketing_limit)


def grant(used: int, want: int, limit: int) -> int:
    """How many of `want` sends fit in a window that has `used` of its `limit` (0 when full)."""
    return max(0, min(want, limit - used))


def retry_delay(seconds_left: float, attempt: int, cap: int, rng: random.Random | None = None) -> int:
    """SQS DelaySeconds for a send that found its window full: at least until the next window, then exponential
    backoff with full jitter (attempt 0: up to 2 s, 1: 4 s, ... at most `cap`), so the waiting sends spread over the
    coming windows instead of all coming back for the same one."""
    rng = rng or random.Random()  # noqa: S311 - spreading retries, not a secret
    floor = max(1, math.ceil(seconds_left))
    spread = min(cap, 2 ** min(attempt + 1, 20))
    return min(cap, max(floor, rng.randint(1, max(1, spread))))
