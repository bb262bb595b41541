"""In-memory fakes of the delivery ports (message store, runs, due store, queue, providers) for service tests.

`FakeMessageStore` keeps the adapter's semantics (tests/contract/test_message_store.py runs one suite against both).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from chalicelib.delivery.ports import MessageRecord, OutgoingEmail, ProviderRejected, SendLogEntry
from chalicelib.engagement.messages_table import message_sk
from chalicelib.profiles import codec
from chalicelib.profiles.model import Profile
from chalicelib.profiles.ports import StoredProfile
from chalicelib.scenarios.engine import ScenarioRun
from chalicelib.shared.clock import Clock
from chalicelib.tracking.events import TrackedEvent, iso

REOPENABLE = ("deferred", "retry")
ATTENTION = ("sending", "unknown")
SMALL = ("reason", "detail", "until", "provider_id")
TTL_DAYS = 400


def _expires(now: datetime) -> int:
    return int((now + timedelta(days=TTL_DAYS)).timestamp())


class FakeMessageStore:
    """Message records, the send log and suppression, as dicts keyed like the table (profile, sk)."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.suppressed: dict[str, dict[str, str]] = {}

    @staticmethod
    def _public(item: dict[str, Any]) -> MessageRecord:
        out = {k: v for k, v in item.items() if k not in ("attention", "attention_at")}
        out["history"] = [dict(h) for h in item.get("history", [])]
        return out  # type: ignore[return-value]

    def get(self, profile_id: str, trigger_id: str, step_index: int) -> MessageRecord | None:
        return self.get_by_key(profile_id, message_sk(trigger_id, step_index))

    def get_by_key(self, profile_id: str, sk: str) -> MessageRecord | None:
        item = self.items.get((profile_id, sk))
        return self._public(item) if item is not None and sk.startswith("msg#") else None

    def claim(self, record: MessageRecord, now: datetime) -> bool:
        key = (record["profile_id"], message_sk(record["trigger_id"], record["step_index"]))
        current = self.items.get(key)
        if current is not None and current.get("status") not in REOPENABLE:
            return False
        item = dict(current or {"sk": key[1], "created_at": iso(now), "history": []})
        status = record["status"]
        item["history"] = [*item["history"], {"at": iso(now), "status": status, **_small(record)}]
        for name in ("reason", "detail", "until"):
            item.pop(name, None)
        item.update({k: v for k, v in record.items() if v is not None and k != "created_at"})
        item["updated_at"], item["expires_at"] = iso(now), _expires(now)
        self._attention(item, status, now)
        self.items[key] = item
        return True

    def finish(
        self,
        profile_id: str,
        trigger_id: str,
        step_index: int,
        status: str,
        now: datetime,
        *,
        expect: str = "sending",
        log: dict[str, Any] | None = None,
        **fields: Any,
    ) -> bool:
        key = (profile_id, message_sk(trigger_id, step_index))
        item = self.items.get(key)
        if item is None or item.get("status") != expect:
            return False
        item["history"] = [*item["history"], {"at": iso(now), "status": status, **_small(fields)}]
        item.update(fields, status=status, updated_at=iso(now))
        self._attention(item, status, now)
        if log is not None:
            sk = f"log#{iso(now)}#{log['message_id']}"
            self.items[(profile_id, sk)] = {
                "pk": f"p#{profile_id}",
                "sk": sk,
                "channel": log["channel"],
                "cost": float(log.get("cost", 0.0)),
                "marketing": bool(log.get("marketing", True)),
                "scenario_id": log.get("scenario_id", ""),
                "expires_at": _expires(now),
            }
            if log.get("topic"):
                self.items[(profile_id, sk)]["topic"] = str(log["topic"])
        return True

    @staticmethod
    def _attention(item: dict[str, Any], status: str, now: datetime) -> None:
        if status in ATTENTION:
            item["attention"], item["attention_at"] = status, iso(now)
        else:
            item.pop("attention", None)
            item.pop("attention_at", None)

    def for_profile(self, profile_id: str) -> list[MessageRecord]:
        keys = sorted(sk for pid, sk in self.items if pid == profile_id and sk.startswith("msg#"))
        return [self._public(self.items[(profile_id, sk)]) for sk in keys]

    def attention(self, status: str, older_than: datetime, limit: int = 100) -> list[tuple[str, str]]:
        waiting = [
            (item["attention_at"], key)
            for key, item in self.items.items()
            if item.get("attention") == status and item["attention_at"] < iso(older_than)
        ]
        return [key for _, key in sorted(waiting)[:limit]]

    def sends_since(self, profile_id: str, since: datetime) -> list[SendLogEntry]:
        low = f"log#{iso(since)}"
        keys = sorted(sk for pid, sk in self.items if pid == profile_id and low <= sk <= "log#\uffff")
        return [dict(self.items[(profile_id, sk)]) for sk in keys]  # type: ignore[misc]

    def is_suppressed(self, channel: str, address: str) -> bool:
        return f"{channel}:{address.lower()}" in self.suppressed

    def suppress(self, channel: str, address: str, reason: str, now: datetime) -> None:
        self.suppressed[f"{channel}:{address.lower()}"] = {"reason": reason, "at": iso(now)}

    # -- engagement's view of the same partition (FakeEngagementStore.mark_message) --------------------------------
    def mark(self, profile_id: str, sk: str, name: str, at: datetime) -> None:
        item = self.items.get((profile_id, sk))
        if item is not None:
            item.setdefault(name, iso(at))


def _small(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if k in SMALL}


class FakeRunStore:
    """Scenario runs, stored as JSON like the adapter (so a test never shares a mutable run with the service)."""

    def __init__(self) -> None:
        self.runs: dict[tuple[str, str], str] = {}

    def create(self, run: ScenarioRun) -> bool:
        if (run.profile_id, run.trigger_id) in self.runs:
            return False
        self.runs[(run.profile_id, run.trigger_id)] = run.model_dump_json()
        return True

    def save(self, run: ScenarioRun, expected_step: int) -> bool:
        current = self.get(run.profile_id, run.trigger_id)
        if current is None or current.status != "active" or current.step_index != expected_step:
            return False
        self.runs[(run.profile_id, run.trigger_id)] = run.model_dump_json()
        return True

    def get(self, profile_id: str, trigger_id: str) -> ScenarioRun | None:
        raw = self.runs.get((profile_id, trigger_id))
        return ScenarioRun.model_validate_json(raw) if raw else None

    def for_profile(self, profile_id: str) -> list[ScenarioRun]:
        return [ScenarioRun.model_validate_json(v) for (pid, _), v in sorted(self.runs.items()) if pid == profile_id]


class FakeDueStore:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.at: datetime | None = None

    def put(self, due_at: datetime, ref: str, payload: dict[str, Any]) -> None:
        self.items[(iso(due_at), ref)] = json.loads(json.dumps(payload))

    def due(self, after: datetime, until: datetime) -> Iterable[dict[str, Any]]:
        for (at, _), payload in sorted(self.items.items()):
            if iso(after) < at <= iso(until):
                yield payload

    def cursor(self) -> datetime | None:
        return self.at

    def set_cursor(self, at: datetime) -> None:
        self.at = at


class FakeStepQueue:
    def __init__(self) -> None:
        self.sent: list[tuple[dict[str, Any], int]] = []

    def enqueue(self, messages: list[dict[str, Any]], delay_seconds: int = 0) -> None:
        self.sent += [(json.loads(json.dumps(m)), delay_seconds) for m in messages]

    def take(self) -> list[dict[str, Any]]:
        """The queued messages, emptying the queue."""
        messages, self.sent = [m for m, _ in self.sent], []
        return messages


class FakeProfiles:
    """The ProfileStore port over profile documents (the JSON form delivery reads), with a version and the
    merged/erased state a stored profile carries."""

    def __init__(self, *profiles: dict[str, Any]) -> None:
        self.items: dict[str, StoredProfile] = {}
        for profile in profiles:
            self.add(profile)

    def add(
        self,
        profile: dict[str, Any],
        version: int = 1,
        *,
        merged_into: str | None = None,
        erased_at: str | None = None,
    ) -> None:
        body = json.dumps(profile)
        self.items[profile["profile_id"]] = StoredProfile(
            profile["profile_id"],
            version,
            load=lambda: codec.from_json(body),
            read=lambda: json.loads(body),
            merged_into=merged_into,
            erased_at=erased_at,
        )

    def get(self, profile_id: str) -> StoredProfile | None:
        return self.items.get(profile_id)

    def get_many(self, profile_ids: Iterable[str]) -> dict[str, StoredProfile]:
        return {pid: self.items[pid] for pid in profile_ids if pid in self.items}

    def put(self, profile: Profile, expected_version: int | None) -> bool:
        raise NotImplementedError("delivery never writes profiles")


class FakeEvents:
    """The part of the event store delivery and engagement use (put_new, history)."""

    def __init__(self) -> None:
        self.events: dict[str, TrackedEvent] = {}

    def put_new(self, event: TrackedEvent) -> bool:
        if event.key in self.events:
            return False
        self.events[event.key] = event
        return True

    def put_many(self, events: list[TrackedEvent]) -> None:
        self.events.update((e.key, e) for e in events)

    def history(
        self, profile_id: str, limit: int = 50, newest_first: bool = True, merged_from: Sequence[str] = ()
    ) -> list[TrackedEvent]:
        owners = {profile_id, *merged_from}
        mine = sorted((e for e in self.events.values() if e.profile_id in owners), key=lambda e: e.timestamp)
        return (mine[::-1] if newest_first else mine)[:limit]

    def named(self, name: str) -> list[TrackedEvent]:
        return [e for e in self.events.values() if e.event == name]


@dataclass
class FakeEmail:
    """Records every email; `failures` are raised, one per call, before anything is recorded.

    With `clock` and `max_send_rate`, it throttles like SES: a call that would make more than `max_send_rate` sends in
    one second of the clock raises the retryable `Throttling` error SES answers (`Maximum sending rate exceeded.`)
    and sends nothing; `throttled` counts them."""

    sent: list[OutgoingEmail] = field(default_factory=list)
    failures: list[BaseException] = field(default_factory=list)
    clock: Clock | None = None
    max_send_rate: float | None = None
    throttled: int = 0
    per_second: Counter[int] = field(default_factory=Counter)

    def send(self, email: OutgoingEmail) -> str:
        if self.failures:
            raise self.failures.pop(0)
        if self.clock is not None:
            second = int(self.clock.now().timestamp())
            if self.max_send_rate is not None and self.per_second[second] + 1 > self.max_send_rate:
                self.throttled += 1
                raise ProviderRejected("Throttling", "Maximum sending rate exceeded.", retryable=True)
            self.per_second[second] += 1
        self.sent.append(email)
        return f"ses-{len(self.sent)}"


class FakeSendRateCounter:
    """The shared per-window send counter (DynamoSendRateCounter's semantics: never past the limit, partial takes)."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, int], int] = {}
        self.writes = 0  # UpdateItem calls the adapter would make, refused ones included (they cost a write too)

    def take(self, channel: str, window: int, want: int, limit: int) -> int:
        used = self.counts.get((channel, window), 0)
        self.writes += 1
        granted = max(0, min(want, limit - used))
        if 0 < granted < want:
            self.writes += 1  # the adapter's first, refused write for the whole `want`
        if granted:
            self.counts[(channel, window)] = used + granted
        return granted

    def forget_before(self, window: int) -> None:
        """Drop closed windows (the table's TTL does it there)."""
        self.counts = {k: v for k, v in self.counts.items() if k[1] >= window}


@dataclass
class FakeSendQuota:
    """The SES account's MaxSendRate; `reads` counts GetAccount calls."""

    rate: float | None = 14.0
    reads: int = 0

    def max_send_rate(self) -> float | None:
        self.reads += 1
        return self.rate


@dataclass
class FakeNotifier:
    texts: list[tuple[str, str, str]] = field(default_factory=list)
    alerts: list[tuple[str, str, str, dict[str, str]]] = field(default_factory=list)
    transactional: list[bool] = field(default_factory=list)  # per text: the SMS type asked of SNS

    def send_sms(self, phone: str, text: str, message_id: str, *, transactional: bool = False) -> str:
        self.texts.append((phone, text, message_id))
        self.transactional.append(transactional)
        return f"sns-{len(self.texts)}"

    def publish(self, topic: str, subject: str, text: str, attributes: dict[str, str]) -> str:
        self.alerts.append((topic, subject, text, attributes))
        return f"sns-alert-{len(self.alerts)}"


@dataclass
class FakeWebhook:
    calls: list[tuple[str, dict[str, Any], str]] = field(default_factory=list)

    def post(self, url: str, payload: dict[str, Any], idempotency_key: str) -> str:
        self.calls.append((url, payload, idempotency_key))
        return "http-200"


@dataclass
class FakePushSender:
    """Records each publish as (token, platform, push, message id). `disabled`: tokens whose endpoint SNS disabled;
    `failures`: exceptions raised by the next sends, in order (None: that send succeeds)."""

    sent: list[tuple[str, str, Any, str]] = field(default_factory=list)
    disabled: set[str] = field(default_factory=set)
    failures: list[BaseException | None] = field(default_factory=list)
    forgotten: list[str] = field(default_factory=list)

    endpoint_failures: list[BaseException] = field(default_factory=list)

    def endpoint(self, device: dict[str, Any]) -> str:
        if self.endpoint_failures:
            raise self.endpoint_failures.pop(0)
        return f"arn:aws:sns:us-east-1:123456789012:endpoint/{device['platform']}/app/{device['token'][:8]}"

    def send(self, device: dict[str, Any], push: Any, message_id: str) -> str:
        if self.failures:
            failure = self.failures.pop(0)
            if failure is not None:
                raise failure
        if device["token"] in self.disabled:
            raise ProviderRejected("EndpointDisabled", "Endpoint is disabled", retryable=False)
        self.sent.append((device["token"], device["platform"], push, message_id))
        return f"sns-push-{len(self.sent)}"

    def forget(self, token: str) -> None:
        self.forgotten.append(token)


@dataclass
class FakePushTokens:
    """DynamoPushTokens' semantics in memory (tests/contract/test_push_tokens.py holds both to them)."""

    endpoints: dict[str, str] = field(default_factory=dict)
    retirements: dict[str, tuple[str, datetime]] = field(default_factory=dict)

    def endpoint(self, token: str) -> str | None:
        return None if token in self.retirements else self.endpoints.get(token)

    def remember_endpoint(self, token: str, arn: str) -> None:
        if token not in self.retirements:
            self.endpoints[token] = arn

    def retired(self, tokens: Any) -> set[str]:
        return {t for t in tokens if t in self.retirements}

    def retire(self, token: str, reason: str, now: datetime) -> None:
        self.endpoints.pop(token, None)
        self.retirements[token] = (reason, now)

    def reinstate(self, token: str) -> bool:
        self.endpoints.pop(token, None)
        return self.retirements.pop(token, None) is not None

    def export(self, tokens: Any) -> list[dict[str, str]]:
        out: list[dict[str, str]] = []
        for token in dict.fromkeys(tokens):
            row = {"token": token}
            if token in self.endpoints:
                row["endpoint_arn"] = self.endpoints[token]
            if token in self.retirements:
                reason, at = self.retirements[token]
                row.update(reason=reason, retired_at=at.isoformat().replace("+00:00", "Z"))
            if len(row) > 1:
                out.append(row)
        return out

    def erase(self, tokens: Any) -> int:
        wanted = list(dict.fromkeys(tokens))
        found = [t for t in wanted if t in self.endpoints or t in self.retirements]
        for token in wanted:
            self.endpoints.pop(token, None)
            self.retirements.pop(token, None)
        return len(found)
