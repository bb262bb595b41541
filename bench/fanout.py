"""`python -m bench.fanout [N ...]`: a broadcast fan-out of N recipients on faked AWS (audience pages -> run starts ->
first steps queued), its rate, its request counts and its memory (tracemalloc peak), for N = 5,000 and 20,000.

The fakes keep only the audience queue's pending messages; the run store and the step queue count and forget, as
DynamoDB and SQS would take the items away. So the peak measures the fan-out's own working set: it
should not grow with N (a page at a time, a start chunk at a time).
"""

from __future__ import annotations

import json
import sys
import time
import tracemalloc
from collections import Counter, deque
from datetime import UTC, datetime
from typing import Any

from chalicelib.broadcasts.model import Broadcast, broadcast_scenario, scenario_id_for, trigger_id_for
from chalicelib.scenarios.engine import ScenarioRun
from chalicelib.scenarios.fanout import AudienceFanout, MemberPlan, page_message
from chalicelib.shared.clock import FakeClock

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


class CountingRuns:
    """Counts the conditional put and the Query each member costs in DynamoDB, and keeps nothing (the exactly-once
    of run creation is tested on moto; here every put is a first one)."""

    def __init__(self, requests: Counter[str]) -> None:
        self.requests = requests

    def create(self, run: ScenarioRun) -> bool:
        self.requests["run_put"] += 1
        return True

    def save(self, run: ScenarioRun, expected_step: int) -> bool:
        return True

    def get(self, profile_id: str, trigger_id: str) -> ScenarioRun | None:
        return None

    def for_profile(self, profile_id: str) -> list[ScenarioRun]:
        self.requests["run_query"] += 1
        return []


class Members:
    """A segment of `n` profiles, paged like the SegmentMembersTable Query (ids generated, not stored)."""

    def __init__(self, n: int, requests: Counter[str]) -> None:
        self.n = n
        self.requests = requests

    def members(
        self, segment_id: str, limit: int = 100, cursor: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        self.requests["members_query"] += 1
        start = int(cursor or 0)
        stop = min(self.n, start + limit)
        rows = [{"profile_id": f"p_{i:08d}"} for i in range(start, stop)]
        return rows, (str(stop) if stop < self.n else None)


class AudienceQueue:
    def __init__(self, requests: Counter[str]) -> None:
        self.pending: deque[str] = deque()
        self.requests = requests

    def enqueue(self, messages: list[dict[str, Any]], delay_seconds: int = 0) -> None:
        self.requests["audience_send_batch"] += (len(messages) + 9) // 10
        self.pending.extend(json.dumps(m) for m in messages)


class StepQueue:
    def __init__(self, requests: Counter[str]) -> None:
        self.sent = 0
        self.requests = requests

    def enqueue(self, messages: list[dict[str, Any]], delay_seconds: int = 0) -> None:
        self.requests["step_send_batch"] += (len(messages) + 9) // 10
        self.sent += len(messages)


class State:
    def cursor(self) -> datetime | None:
        return None

    def set_cursor(self, at: datetime) -> None: ...

    def claim(self, scenario_id: str, fire_at: datetime, now: datetime) -> bool:
        return True

    def queued(self, scenario_id: str, fire_at: datetime, now: datetime) -> None: ...


class Hooks:
    """Broadcast hooks without storage: every message goes, first steps now, default variants."""

    def verdict(self, message: Any) -> str:
        return "go"

    def park(self, message: Any) -> None: ...

    def member(self, message: Any, profile_id: str, now: datetime) -> MemberPlan | None:
        return MemberPlan()

    def started(self, message: Any, started: int, duplicates: int) -> None: ...

    def paged(self, message: Any, count: int, last: bool) -> None: ...


def run(n: int) -> dict[str, Any]:
    broadcast = Broadcast.model_validate(
        {"name": "bench", "audience": {"segment": "all"}, "channel": "email", "template": "welcome"}
    )
    scenario = broadcast_scenario("bench", broadcast)
    requests: Counter[str] = Counter()
    runs, audience, steps = CountingRuns(requests), AudienceQueue(requests), StepQueue(requests)
    fanout = AudienceFanout(
        runs=runs,
        state=State(),
        members=Members(n, requests),
        audience_queue=audience,
        step_queue=steps,
        clock=FakeClock(NOW),
        scenarios=[],
        lookup=lambda scenario_id: scenario if scenario_id == scenario.id else None,
        hooks=Hooks(),  # type: ignore[arg-type]
    )
    audience.enqueue([page_message(scenario_id_for("bench"), trigger_id_for("bench"), "all", None, b="bench")])
    tracemalloc.start()
    started = time.perf_counter()
    while audience.pending:
        fanout.handle_body(audience.pending.popleft())
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "recipients": n,
        "runs_started": fanout.last_stats.started,
        "steps_queued": steps.sent,
        "seconds": round(elapsed, 3),
        "recipients_per_second": round(n / elapsed),
        "requests": dict(requests),
        "peak_traced_mb": round(peak / 1e6, 2),
    }


def main(argv: list[str]) -> None:
    sizes = [int(a) for a in argv] or [5_000, 20_000]
    for n in sizes:
        print(json.dumps(run(n)))


if __name__ == "__main__":
    main(sys.argv[1:])
