"""In-memory fake of the engagement store (report counters, touches, preferences, pending opt-ins)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chalicelib.tracking.events import iso
from tests.fakes.delivery import FakeMessageStore


@dataclass
class FakeEngagementStore:
    """Counts once per fact id, like the adapter's marker + ADD transaction; marks message records in `messages`."""

    messages: FakeMessageStore | None = None
    rows_by_scenario: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    facts: set[str] = field(default_factory=set)
    listed: set[str] = field(default_factory=set)
    prefs: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)
    touch_items: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    pending_requests: dict[str, dict[str, Any]] = field(default_factory=dict)
    rate_buckets: dict[str, int] = field(default_factory=dict)
    sms_codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    daily_rows: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)
    # A fake run store (`.runs`: key -> run JSON): its runs are the assignments, like the adapter's `by_assignment`.
    runs: Any = None
    # (profile, trigger) -> the conversions recorded on that run ({"orders", "revenue"}), like the run record's
    # `conv_orders` / `run_revenue`; they count only while the run is in `runs` (gone with it, like the record).
    run_orders: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def count(
        self,
        fact_id: str,
        scenario_id: str,
        row: str,
        increments: dict[str, float],
        now: datetime,
        *,
        listed: bool = True,
        daily: str | None = None,
    ) -> bool:
        if fact_id in self.facts:
            return False
        self.facts.add(fact_id)
        counters = self.rows_by_scenario.setdefault(scenario_id, {}).setdefault(row, {})
        for name, value in increments.items():
            counters[name] = counters.get(name, 0) + value
        if listed:
            self.listed.add(scenario_id)
        if daily is not None:  # the adapter's daily email row rides in the same transaction
            from chalicelib.engagement.daily import EMAIL_FIELDS

            for name, value in increments.items():
                if name in EMAIL_FIELDS:
                    day_row = self.daily_rows.setdefault((daily, "email"), {})
                    day_row[name] = day_row.get(name, 0) + value
        return True

    def list_scenario(self, scenario_id: str, now: datetime) -> None:
        self.listed.add(scenario_id)

    def assignments(self, scenario_id: str) -> dict[str, int]:
        from chalicelib.scenarios.engine import ScenarioRun

        out = {"treated": 0, "holdout": 0}
        for body in (self.runs.runs if self.runs is not None else {}).values():
            run = ScenarioRun.model_validate_json(body)
            if run.scenario_id == scenario_id:
                out["holdout" if run.holdout else "treated"] += 1
        return out

    def run_conversion(
        self, profile_id: str, trigger_id: str, scenario_id: str, holdout: bool, order_key: str, revenue: float
    ) -> str:
        from chalicelib.engagement.messages_table import MAX_RUN_ORDERS

        if self.runs is None or (profile_id, trigger_id) not in self.runs.runs:
            return "gone"
        recorded = self.run_orders.setdefault((profile_id, trigger_id), {"orders": [], "revenue": 0.0})
        if order_key in recorded["orders"]:
            return "counted_before"
        if len(recorded["orders"]) >= MAX_RUN_ORDERS:
            return "full"
        recorded["orders"].append(order_key)
        recorded["revenue"] += revenue
        return "counted"

    def conversions(self, scenario_id: str) -> dict[str, dict[str, float]]:
        from chalicelib.scenarios.engine import ScenarioRun

        out = {arm: {"run_conversions": 0.0, "revenue": 0.0} for arm in ("treated", "holdout")}
        for key, recorded in self.run_orders.items():
            body = self.runs.runs.get(key) if self.runs is not None else None
            if body is None or not recorded["orders"]:
                continue
            run = ScenarioRun.model_validate_json(body)
            if run.scenario_id == scenario_id:
                arm = out["holdout" if run.holdout else "treated"]
                arm["run_conversions"] += len(recorded["orders"])
                arm["revenue"] += recorded["revenue"]
        return out

    def rows(self, scenario_id: str, *, assignments: bool = True) -> dict[str, dict[str, float]]:
        from chalicelib.engagement.reports import add_run_counts

        out = {row: dict(values) for row, values in self.rows_by_scenario.get(scenario_id, {}).items()}
        if assignments:
            add_run_counts(out, self.assignments(scenario_id), self.conversions(scenario_id))
        return out

    def scenario_ids(self, limit: int, after: str | None) -> tuple[list[str], str | None]:
        ids = sorted(s for s in self.listed if after is None or s > after)
        page = ids[:limit]
        return page, (page[-1] if len(ids) > limit else None)

    def mark_message(self, profile_id: str, sk: str, field: str, at: datetime) -> None:
        if self.messages is not None:
            self.messages.mark(profile_id, sk, field, at)

    def set_preference(
        self, profile_id: str, channel: str, topic: str | None, status: str, now: datetime, source: str
    ) -> None:
        key = channel + (f"#{topic}" if topic else "")
        self.prefs.setdefault(profile_id, {})[key] = {"status": status, "at": iso(now), "source": source}

    def preferences(self, profile_id: str) -> dict[str, dict[str, str]]:
        return {k: dict(v) for k, v in self.prefs.get(profile_id, {}).items()}

    def put_pending(self, profile_id: str, request: dict[str, Any], now: datetime) -> None:
        self.pending_requests[profile_id] = json.loads(json.dumps({**request, "requested_at": iso(now)}))

    def pending(self, profile_id: str) -> dict[str, Any] | None:
        return self.pending_requests.get(profile_id)

    def take(self, bucket: str, limit: int, expires: datetime) -> bool:
        used = self.rate_buckets.get(bucket, 0)
        if used >= limit:
            return False
        self.rate_buckets[bucket] = used + 1
        return True

    def put_sms_code(self, tag: str, request: dict[str, Any], expires: datetime) -> None:
        self.sms_codes[tag] = {"request": json.loads(json.dumps(request)), "attempts": 0, "valid_until": expires}

    def sms_code_attempt(self, tag: str, max_attempts: int, now: datetime) -> dict[str, Any] | None:
        item = self.sms_codes.get(tag)
        if item is None or item["attempts"] >= max_attempts or item["valid_until"] <= now:
            return None
        item["attempts"] += 1
        return {**item["request"], "attempts": item["attempts"]}

    def drop_sms_code(self, tag: str, request_id: str) -> bool:
        item = self.sms_codes.get(tag)
        if item is None or item["request"].get("request_id") != request_id:
            return False
        del self.sms_codes[tag]
        return True

    def add_touch(self, profile_id: str, touch: dict[str, Any], at: datetime) -> None:
        sk = f"touch#{iso(at)}#{touch['message_id']}#{touch['kind']}"
        self.touch_items.setdefault(profile_id, {})[sk] = json.loads(json.dumps({**touch, "at": iso(at)}))

    def touches(self, profile_id: str, since: datetime) -> list[dict[str, Any]]:
        items = self.touch_items.get(profile_id, {})
        return [items[sk] for sk in sorted(items) if sk >= f"touch#{iso(since)}"]


@dataclass
class FakeDailyStore:
    """The daily series store: one marker per batch's first sequence holding its last one, like the adapter."""

    markers: dict[str, str] = field(default_factory=dict)
    counters: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)

    def add_batch(self, batch: Any, now: datetime) -> str | None:
        if batch.empty or batch.first_sequence is None:
            return None
        if batch.first_sequence in self.markers:
            return self.markers[batch.first_sequence]
        self.markers[batch.first_sequence] = str(batch.last_sequence)
        for key, increments in batch.rows.items():
            row = self.counters.setdefault(key, {})
            for name, n in increments.items():
                row[name] = row.get(name, 0) + n
        return None

    def rows(self, days: list[str]) -> dict[tuple[str, str], dict[str, float]]:
        return {key: dict(row) for key, row in self.counters.items() if key[0] in days}
