"""The clock port: production uses the system clock; tests and the local stack inject a controllable one."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta


class Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock(Clock):
    """A clock that can be set, advanced, or sped up (the local stack's `POST /local/clock/advance`)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._offset = timedelta(0)
        self._fixed = start
        self._speed = 0.0  # with a fixed start: 0 = frozen; see set_speed
        self._anchor = 0.0

    def now(self) -> datetime:
        if self._fixed is None:
            base = datetime.now(UTC)
        elif self._speed:
            base = self._fixed + timedelta(seconds=(time.monotonic() - self._anchor) * self._speed)
        else:
            base = self._fixed
        return base + self._offset

    def set_speed(self, factor: float) -> None:
        """From now on run `factor` times as fast as real time (0 freezes it); the local stack's clock/speed."""
        current = self.now()
        self._fixed, self._offset, self._speed, self._anchor = current, timedelta(0), float(factor), time.monotonic()

    def advance(self, delta: timedelta) -> None:
        self._offset += delta

    def set(self, when: datetime) -> None:
        self._fixed = when
        self._offset = timedelta(0)
        self._speed = 0.0


_clock: Clock = Clock()


def get_clock() -> Clock:
    return _clock


def set_clock(clock: Clock) -> None:
    global _clock
    _clock = clock
