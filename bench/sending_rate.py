"""The shared sending rate on the real send path: a broadcast plus a stream of receipts through DeliveryService, with
several simulated Lambda containers, an SQS-like queue with delays, a fake clock that advances as work is done and a
fake SES that throttles above the account's rate (tests/fakes/delivery.py, held to the adapters by tests/contract).

Simulation: each container takes one visible queue message at a time; a step that sends costs SEND_SECONDS of
simulated time, a step sent back to the queue (no slot) PACED_SECONDS. The clock is set to each container's time
before it works, so windows, delays and the fake SES's per-second count all follow simulated time.
"""

from __future__ import annotations

import heapq
import random
import statistics
import tracemalloc
from collections import Counter
from datetime import UTC, datetime
from typing import Any, cast

from bench.prices import PRICES

RATE = 14.0  # the SES account's MaxSendRate in the run (a new production account's default)
CONTAINERS = 4
SEND_SECONDS = 0.040  # an executed send step in Lambda: reads, guards, SES call, record (assumed)
PACED_SECONDS = 0.005  # a step sent back to the queue
RECEIPTS_PER_SECOND = 4.0  # transactional arrivals while the broadcast goes out
LAMBDA_GB = 256 / 1024
NOW = datetime(2026, 3, 4, 1, 0, tzinfo=UTC)  # 10:00 in Tokyo: no quiet hours for the run


def _scenario(sid: str, marketing: bool) -> Any:
    from chalicelib.scenarios import definitions as sc

    return sc.Scenario.model_validate(
        {
            "id": sid,
            "name": sid,
            "when": {"type": "event", "event": "Product Added"},
            "steps": [{"type": "send", "id": "s0", "channel": "email", "template": "cart_reminder"}],
            "marketing": marketing,
            "topic": "promotions" if marketing else None,
            "holdout_percent": 0,
        }
    )


class SimQueue:
    """The StepQueue port: messages become visible at clock time + DelaySeconds."""

    def __init__(self, clock: Any) -> None:
        self.clock = clock
        self.heap: list[tuple[float, int, dict[str, Any]]] = []
        self.seq = 0
        self.sends = 0  # SendMessage requests (each paced step is one)

    def push(self, at: float, message: dict[str, Any]) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (at, self.seq, message))

    def enqueue(self, messages: list[dict[str, Any]], delay_seconds: int = 0) -> None:
        self.sends += 1
        for message in messages:
            self.push(self.clock.now().timestamp() + delay_seconds, dict(message))


def run(quick: bool = False) -> dict[str, Any]:
    from chalicelib.delivery.exceptions import RetryLater
    from chalicelib.delivery.guards import load_delivery_config
    from chalicelib.delivery.pacing import SendPacer
    from chalicelib.delivery.steps import DeliveryService, step_message
    from chalicelib.engagement import tokens as lt
    from chalicelib.engagement.links import LinkSettings
    from chalicelib.scenarios.engine import ScenarioRun
    from chalicelib.shared.clock import FakeClock
    from tests.fakes.delivery import (
        FakeDueStore,
        FakeEmail,
        FakeEvents,
        FakeMessageStore,
        FakeNotifier,
        FakeProfiles,
        FakeRunStore,
        FakeSendQuota,
        FakeSendRateCounter,
        FakeWebhook,
    )
    from tests.service.test_delivery_steps import render

    total = 2_000 if quick else 20_000
    receipts = total // 5
    broadcast = total - receipts
    config = load_delivery_config()
    clock = FakeClock(NOW)
    queue = SimQueue(clock)
    runs, messages, profiles = FakeRunStore(), FakeMessageStore(), FakeProfiles()
    email = FakeEmail(clock=clock, max_send_rate=RATE)
    counter, quota = FakeSendRateCounter(), FakeSendQuota(rate=RATE)
    pacer = SendPacer(counter, clock, lambda: config, quota)
    ring = lt.Keyring({"k1": b"k1-secret-0123456789abcdef-32byt"}, current="k1")
    service = DeliveryService(
        runs=runs,
        messages=messages,
        due=FakeDueStore(),
        queue=queue,
        profiles=cast(Any, profiles),
        events=cast(Any, FakeEvents()),
        email=email,
        notifier=FakeNotifier(),
        webhook=FakeWebhook(),
        related=None,
        clock=clock,
        links=LinkSettings("https://shop.example", "u@shop.example", keyring=lambda: ring, signing_key=lambda: "k"),
        scenarios=[_scenario("broadcast", True), _scenario("receipt", False)],
        config=config,
        renderer=render,
        pacer=pacer,
        rng=random.Random(11),
    )
    start = NOW.timestamp()
    kinds: dict[str, str] = {}
    arrived: dict[str, float] = {}
    for n in range(total):
        pid = f"p{n}"
        marketing = n < broadcast
        at = start if marketing else start + (n - broadcast) / RECEIPTS_PER_SECOND
        profiles.add(
            {
                "profile_id": pid,
                "email": f"{pid}@example.com",
                "consent": {"email": {"status": "opted_in", "at": "2026-01-01T00:00:00Z"}},
            }
        )
        due = datetime.fromtimestamp(at, UTC)
        run_ = ScenarioRun(
            scenario_id="broadcast" if marketing else "receipt",
            profile_id=pid,
            trigger_id="t",
            step_index=0,
            due_at=due,
            entered_at=due,
        )
        runs.create(run_)
        queue.push(at, step_message(pid, "t", 0))
        kinds[f"{pid}@example.com"] = "marketing" if marketing else "transactional"
        arrived[f"{pid}@example.com"] = at

    tracemalloc.start()
    containers = [(start, c) for c in range(CONTAINERS)]
    heapq.heapify(containers)
    executions = paced = queue_retries = 0
    sent_at: dict[str, float] = {}
    peaks: list[int] = []
    next_quarter = total // 4
    while queue.heap:
        at, container = heapq.heappop(containers)
        visible_at, _, message = queue.heap[0]
        if visible_at > at:  # nothing visible yet: this container polls again when the next message shows up
            heapq.heappush(containers, (visible_at, container))
            continue
        heapq.heappop(queue.heap)
        clock.set(datetime.fromtimestamp(at, UTC))
        before_sent, before_paced = len(email.sent), service.last_stats.paced
        executions += 1
        try:
            service.execute(message)
        except RetryLater:  # throttled by the provider: the queue would retry after its visibility timeout
            queue_retries += 1
            queue.push(at + 180, message)
        if len(email.sent) > before_sent:
            sent_at[email.sent[-1].to] = at
            cost = SEND_SECONDS
        else:
            cost = PACED_SECONDS
        paced += service.last_stats.paced - before_paced
        heapq.heappush(containers, (at + cost, container))
        if len(email.sent) >= next_quarter and len(peaks) < 4:
            peaks.append(tracemalloc.get_traced_memory()[1])
            next_quarter += total // 4
            counter.forget_before(int(at) - 60)  # DynamoDB's TTL removes closed windows
    tracemalloc.stop()

    per_second = email.per_second
    seconds = sorted(per_second)
    last_receipt = start + receipts / RECEIPTS_PER_SECOND
    both = [per_second[s] for s in range(int(start) + 1, int(last_receipt) - 1)]
    marketing_only = [per_second[s] for s in range(int(last_receipt) + 2, seconds[-1])]
    delivered = Counter(e.to for e in email.sent)
    waits = sorted(sent_at[a] - arrived[a] for a in sent_at if kinds[a] == "transactional")
    mwaits = sorted(sent_at[a] - arrived[a] for a in sent_at if kinds[a] == "marketing")

    sends = len(email.sent)
    lambda_seconds = sends * SEND_SECONDS + (executions - sends) * PACED_SECONDS
    per_1000 = 1000 / sends
    cost = {
        "limiter_dynamodb_writes": counter.writes * PRICES["dynamodb_per_million_wru"] / 1e6 * per_1000,
        "sqs_requests": (queue.sends + executions * 0.2) * PRICES["sqs_per_million_requests"] / 1e6 * per_1000,
        "lambda": (
            executions / 10 * PRICES["lambda_per_million_requests"] / 1e6
            + lambda_seconds * LAMBDA_GB * PRICES["lambda_per_gb_second"]
        )
        * per_1000,
    }
    cost["total"] = sum(cost.values())
    return {
        "status": "ok",
        "sends": sends,
        "broadcast": broadcast,
        "receipts": receipts,
        "rate": RATE,
        "marketing_limit": pacer.plan("email").marketing_limit,  # type: ignore[union-attr]
        "containers": CONTAINERS,
        "simulated_seconds": round(seconds[-1] - seconds[0] + 1),
        "rate_both_kinds": {"median": statistics.median(both), "min": min(both), "max": max(both)},
        "rate_marketing_only": {
            "median": statistics.median(marketing_only) if marketing_only else 0,
            "max": max(marketing_only, default=0),
        },
        "throttled": email.throttled,
        "queue_retries": queue_retries,
        "duplicates": sum(1 for n in delivered.values() if n > 1),
        "lost": total - len(delivered),
        "executions": executions,
        "paced": paced,
        "limiter_writes_per_send": counter.writes / sends,
        "transactional_wait_p50_p95": (statistics.median(waits), waits[int(0.95 * (len(waits) - 1))]),
        "marketing_wait_max": mwaits[-1],
        "tracemalloc_peak_mb_by_quarter": [round(p / 2**20, 1) for p in peaks],
        "limiter_state_entries": len(pacer._held) + len(pacer._full) + len(counter.counts),
        "cost_per_1000_emails": cost,
        "ses_per_1000_emails": PRICES["ses_per_1000_emails"],
        "assumptions": {
            "send_seconds": SEND_SECONDS,
            "paced_seconds": PACED_SECONDS,
            "receipts_per_second": RECEIPTS_PER_SECOND,
            "sqs": "1 SendMessage per paced step; receive and delete in batches of 10 (0.2 requests per execution)",
        },
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(quick=True), indent=2, default=str))
