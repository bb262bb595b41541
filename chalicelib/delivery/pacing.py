"""The sending rate across every Lambda container: a send takes a slot in its channel's current window or waits.

Why a shared per-window counter (one conditional `ADD` on a StateTable item per window) and not the alternatives:

- a token bucket item (tokens + last refill) needs a read and a conditional write per take, and concurrent
  containers conflict and retry on the same version; the window counter is one atomic write that either fits or
  fails, with no read and no conflict loop;
- pacing the queue alone (DelaySeconds spread by whoever enqueues) cannot bound the sum: scenario triggers, the due
  reader, retries and broadcasts all enqueue independently, and Lambda runs as many containers as the backlog asks.

A fixed window lets one burst of `limit` at the very end of a window meet the next window's at its start; SES
accepts short bursts above the rate ("you can exceed this maximum sending rate for brief bursts"), what it throttles
is sustained excess, which windows never allow. A send that finds no slot is not attempted: it goes back to the
queue with a delay (the caller) before its message record is written, so it is neither lost nor sent twice.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from datetime import datetime

from chalicelib.delivery import guards as g
from chalicelib.delivery.exceptions import RetryLater
from chalicelib.delivery.ports import SendQuota, SendRateCounter
from chalicelib.delivery.rate import WindowPlan, plan_window, retry_delay
from chalicelib.shared.clock import Clock

log = logging.getLogger("one2one")

# Where the SES account's rate cannot be read (a missing ses:GetAccount permission, an outage): the sandbox rate,
# the one rate every SES account is sure to have.
FALLBACK_EMAIL_RATE = 1.0


class SendRateExceeded(RetryLater):
    """No slot in this channel's current window: send this step again after `delay_seconds`."""

    def __init__(self, channel: str, marketing: bool, seconds_left: float) -> None:
        self.channel = channel
        self.marketing = marketing
        self.seconds_left = seconds_left
        super().__init__(f"{channel} sending rate reached ({'marketing' if marketing else 'transactional'})")

    def delay_seconds(self, attempt: int, cap: int, rng: random.Random | None = None) -> int:
        return retry_delay(self.seconds_left, attempt, cap, rng)


class SendPacer:
    """Takes sending slots from the shared counter; one per container (bootstrap), its small state per window.

    `take_ahead` slots are taken per counter write and spent by the next sends of this container in the same window
    (fewer writes; slots left when the window closes are simply unused, never over the limit).
    """

    def __init__(
        self,
        counter: SendRateCounter,
        clock: Clock,
        config: Callable[[], g.DeliveryConfig],
        quota: SendQuota | None = None,
        *,
        take_ahead: int = 1,
    ) -> None:
        self.counter = counter
        self.clock = clock
        self._config = config
        self.quota = quota
        self.take_ahead = max(1, take_ahead)
        self._account_rate: tuple[datetime, float | None] | None = None
        self._held: dict[tuple[str, bool], tuple[int, int]] = {}  # (channel, marketing) -> (window, slots held)
        self._full: dict[tuple[str, bool], int] = {}  # (channel, marketing) -> the window found full
        self.writes = 0  # counter writes made (the bench's cost model)

    # -- the rate -----------------------------------------------------------------------------------------------------
    def account_rate(self) -> float | None:
        """The SES account's MaxSendRate, read at most once per `account_rate_cache_seconds` per container."""
        if self.quota is None:
            return None
        now = self.clock.now()
        ttl = self._config().account_rate_cache_seconds
        if self._account_rate is None or (now - self._account_rate[0]).total_seconds() >= ttl:
            try:
                rate = self.quota.max_send_rate()
            except Exception:  # noqa: BLE001 - never block sending on the quota read; the fallback is the safe rate
                log.exception("delivery: the SES account's send rate could not be read")
                rate = None
            self._account_rate = (now, rate)
        return self._account_rate[1]

    def rate(self, channel: str) -> float | None:
        """Sends a second allowed on `channel` (None: not limited)."""
        setting = self._config().sending_rate.get(channel)  # type: ignore[call-overload]
        if channel == "email":
            configured = setting.max_send_rate if setting is not None else None
            account = self.account_rate()
            if account is None:
                return configured or FALLBACK_EMAIL_RATE
            return min(account, configured) if configured else account
        return setting.max_send_rate if setting is not None else None

    def plan(self, channel: str) -> WindowPlan | None:
        rate = self.rate(channel)
        if rate is None:
            return None
        setting = self._config().sending_rate.get(channel)  # type: ignore[call-overload]
        return plan_window(rate, setting.marketing_share if setting is not None else 1.0)

    # -- slots --------------------------------------------------------------------------------------------------------
    def acquire(self, channel: str, marketing: bool) -> None:
        """Take one slot for a send on `channel` now, or raise SendRateExceeded."""
        plan = self.plan(channel)
        if plan is None:
            return
        epoch = self.clock.now().timestamp()
        window = plan.start(epoch)
        key = (channel, marketing)
        held_window, held = self._held.get(key, (window, 0))
        if held_window == window and held > 0:
            self._held[key] = (window, held - 1)
            return
        if self._full.get(key) == window:
            raise SendRateExceeded(channel, marketing, plan.seconds_left(epoch))
        self.writes += 1
        taken = self.counter.take(channel, window, self.take_ahead, plan.limit_for(marketing))
        if taken == 0:
            self._full = {k: w for k, w in self._full.items() if w == window}  # forget closed windows
            self._full[key] = window
            raise SendRateExceeded(channel, marketing, plan.seconds_left(epoch))
        self._held[key] = (window, taken - 1)

    def known_full(self, channel: str, marketing: bool) -> float | None:
        """Seconds until the next window when this container already found the current one full (no write needed:
        a paced step coming back early goes straight back), else None."""
        plan = self.plan(channel)
        if plan is None:
            return None
        epoch = self.clock.now().timestamp()
        if self._full.get((channel, marketing)) != plan.start(epoch):
            return None
        return plan.seconds_left(epoch)
