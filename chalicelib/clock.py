"""The clock port: production uses the system clock; tests and the local stack inject a controllable one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock(Clock):
    """A clock that can be set, advanced, or sped up (the local stack's `POST /local/clock/advance`)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._offset = timedelta(0)
        self._fixed = start

    def now(self) -> datetime:
        base = self._fixed if self._fixed is not None else datetime.now(UTC)
        return base + self._offset

    def advance(self, delta: timedelta) -> None:
        self._offset += delta

    def set(self, when: datetime) -> None:
        self._fixed = when
        self._offset = timedelta(0)


_clock: Clock = Clock()


def get_clock() -> Clock:
    return _clock


def set_clock(clock: Clock) -> None:
    global _clock
    _clock = clock
