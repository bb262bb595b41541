"""The broadcast use case: drafts (versioned in the definitions store), scheduling, pause / resume / cancel, the
launch that hands the audience to the fan-out, and progress.

Why a broadcast runs as scenario runs: a derived scenario (`model.broadcast_scenario`) with the single trigger
instance `bc-<id>:broadcast` gets, for free, the conditional run creation (each recipient starts once however often a
fan-out message is redelivered), every guard at send time (consent, topic opt-out, suppression, caps, quiet hours,
budget, holdout), the exactly-once message record, and the per step/variant report counters (`report#bc-<id>`).

Statuses: draft -> scheduled -> sending -> sent (or `empty`: the audience resolved to nobody), paused (from scheduled
or sending, back with resume) and cancelled (never sends the rest). The launch happens on the minute schedule (also
for `{"at": "now"}`), so there is one path from "scheduled" to "sending".
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pydantic import ValidationError

from chalicelib.broadcasts.model import (
    EDITABLE,
    Broadcast,
    broadcast_scenario,
    scenario_id_for,
    trigger_id_for,
)
from chalicelib.broadcasts.ports import AudienceSegments, BroadcastStatusStore, IdentityLookup
from chalicelib.definitions.ports import DefinitionStore
from chalicelib.engagement import reports
from chalicelib.scenarios.assignment import bucket
from chalicelib.scenarios.definitions import Scenario
from chalicelib.scenarios.fanout import MemberPlan, Verdict, page_message, start_messages
from chalicelib.scenarios.ports import StepQueue
from chalicelib.scenarios.schedule import parse_duration
from chalicelib.shared.clock import Clock
from chalicelib.tracking.events import iso

log = logging.getLogger("one2one")

KIND = "broadcast"
_LOCAL_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
# The zones furthest ahead of and behind UTC: a local hour happens somewhere between these two instants.
EARLIEST_OFFSET, LATEST_OFFSET = timedelta(hours=14), timedelta(hours=-12)
# The report counter each A/B metric counts (human opens only: machine opens say nothing about the subject line).
METRIC_COUNTER = {"opens": "human_opens", "clicks": "clicks", "conversions": "conversions"}
AB_MDE = 0.02  # the effect the winner test is sized for, as for scenario A/B reports


class BroadcastError(Exception):
    """Refused input or state: `status` 400 (bad field), 404 (unknown), 409 (wrong state)."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


def _parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("a time needs its offset (e.g. Z)")
    return parsed


class BroadcastService:
    def __init__(
        self,
        *,
        definitions: DefinitionStore,
        status: BroadcastStatusStore,
        audience_queue: StepQueue,
        identities: IdentityLookup,
        clock: Clock,
        known_segments: Callable[[], Collection[str]],
        template_channels: Callable[[], Mapping[str, Collection[str]]],
        timezone_of: Callable[[str], str | None] = lambda profile_id: None,
        default_timezone: str = "UTC",
        report_rows: Callable[[str], dict[str, dict[str, float]]] = lambda scenario_id: {},
        audience_segments: AudienceSegments | None = None,
    ) -> None:
        self.definitions = definitions
        self.status = status
        self.audience_queue = audience_queue
        self.identities = identities
        self.clock = clock
        self.known_segments = known_segments
        self.template_channels = template_channels
        self.timezone_of = timezone_of
        self.default_timezone = default_timezone
        self.report_rows = report_rows
        self.audience_segments = audience_segments
        # A broadcast that is sending can no longer be edited, so its body is cached for the container's life.
        self._sending: dict[str, Broadcast] = {}

    # -- drafts -------------------------------------------------------------------------------------------------------
    def validate(self, body: Any) -> Broadcast:
        """The broadcast, or BroadcastError(400) naming the first bad field (unknown segment or template too)."""
        if not isinstance(body, dict):
            raise BroadcastError(400, "invalid_body", "the body must be a JSON object")
        try:
            broadcast = Broadcast.model_validate(body)
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            field = ".".join(str(p) for p in err["loc"]) or None
            raise BroadcastError(400, "invalid_field", err["msg"].removeprefix("Value error, "), field) from None
        audience = broadcast.audience
        if audience.rule is not None:
            # An inline rule needs every existing profile evaluated: it becomes a hidden segment, backfilled before
            # the launch (`schedule`, `launch_due`). Without that machinery it is refused, never sent to nobody.
            if self.audience_segments is None:
                raise BroadcastError(400, "not_supported", "inline rule audiences need the backfill", "audience.rule")
            if (problem := self.audience_segments.problem(audience.rule)) is not None:
                path, message = problem
                raise BroadcastError(400, "invalid_field", message, f"audience.rule.{path}".rstrip("."))
        if audience.segment is not None and audience.segment not in self.known_segments():
            raise BroadcastError(400, "unknown_segment", f"unknown segment {audience.segment!r}", "audience.segment")
        channels = self.template_channels()
        for path, template in broadcast.templates():
            if template not in channels:
                raise BroadcastError(400, "unknown_template", f"unknown template {template!r}", path)
            if broadcast.channel not in channels[template]:
                raise BroadcastError(
                    400, "invalid_field", f"template {template!r} has no {broadcast.channel} body", path
                )
        return broadcast

    def create(self, body: Any, by: str) -> dict[str, Any]:
        broadcast = self.validate(body)
        broadcast_id = f"b{uuid.uuid4().hex[:12]}"
        now = self.clock.now()
        self.definitions.save(KIND, broadcast_id, _stored(broadcast), by=by, now=now, expected_version=0)
        self.status.create(broadcast_id, now)
        return self.get(broadcast_id)

    def update(self, broadcast_id: str, body: Any, by: str) -> dict[str, Any]:
        current = self._status(broadcast_id)
        if current["status"] not in EDITABLE:
            raise BroadcastError(409, "not_editable", f"a {current['status']} broadcast cannot be edited")
        broadcast = self.validate(body)
        self.definitions.save(KIND, broadcast_id, _stored(broadcast), by=by, now=self.clock.now())
        return self.get(broadcast_id)

    # -- reading ------------------------------------------------------------------------------------------------------
    def broadcast(self, broadcast_id: str) -> Broadcast | None:
        head = self.definitions.head(KIND, broadcast_id)
        return Broadcast.model_validate(head.body) if head is not None else None

    def scenario(self, scenario_id: str) -> Scenario | None:
        """The derived scenario of `bc-<id>` (the fan-out's and delivery's lookup); None for anything else."""
        if not scenario_id.startswith("bc-"):
            return None
        broadcast_id = scenario_id[3:]
        broadcast = self.broadcast(broadcast_id)
        return broadcast_scenario(broadcast_id, broadcast) if broadcast is not None else None

    def _status(self, broadcast_id: str) -> dict[str, Any]:
        found = self.status.get(broadcast_id)
        if found is None:
            raise BroadcastError(404, "not_found", f"no broadcast {broadcast_id!r}")
        return found

    def get(self, broadcast_id: str) -> dict[str, Any]:
        state = self._status(broadcast_id)
        broadcast = self.broadcast(broadcast_id)
        status = state["status"]
        progress = {k: int(state.get(k, 0)) for k in ("targeted", "started", "skipped_unknown")}
        walked = state.get("rest_walked") if broadcast is not None and broadcast.ab else state.get("walked")
        if status == "sending" and walked and progress["started"] >= progress["targeted"] - progress["skipped_unknown"]:
            status = "sent"  # every recipient has a run; each run's send is reported on the scenario rows
        return {
            "id": broadcast_id,
            "status": status,
            "at": state.get("at"),
            "scenario_id": scenario_id_for(broadcast_id),
            "broadcast": broadcast.model_dump(by_alias=True, exclude_none=True) if broadcast else None,
            "progress": progress,
            "summary": self.results(broadcast_id),  # the API adds the full report as `results`
            "local_time": state.get("local_time"),
            "ab": {k: state.get(k) for k in ("decide_at", "winner", "winner_reason")}
            if state.get("decide_at")
            else None,
        }

    def results(self, broadcast_id: str) -> dict[str, Any]:
        """What happened to the recipients' messages, summed over the broadcast's report rows (variants, test share
        and the rest): sent, delivered, human opens, clicks, conversions, unsubscribes, complaints, bounces, and the
        messages a guard skipped, by reason (consent, suppression, caps, budget, ...)."""
        totals = dict.fromkeys(RESULT_COUNTERS, 0)
        skipped: dict[str, int] = {}
        for row, values in self.report_rows(scenario_id_for(broadcast_id)).items():
            if row.startswith(("*#", "sto#")):
                continue  # holdout arms and send-time arms repeat what the step rows count
            for name in RESULT_COUNTERS:
                totals[name] += int(values.get(name, 0))
            for reason, count in reports.skipped_reasons(values).items():
                skipped[reason] = skipped.get(reason, 0) + count
        return {**totals, "skipped": skipped}

    def all(self) -> list[dict[str, Any]]:
        return [self.get(d.id) for d in self.definitions.heads(KIND) if self.status.get(d.id) is not None]

    # -- state changes ------------------------------------------------------------------------------------------------
    def schedule(self, broadcast_id: str, body: Any) -> dict[str, Any]:
        now = self.clock.now()
        if isinstance(body, dict) and "local_time" in body:
            return self._schedule_local(broadcast_id, body, now)
        if not isinstance(body, dict) or "at" not in body:
            raise BroadcastError(
                400, "invalid_field", "give 'at' ('now' or an ISO time) or 'local_time' and 'date'", "at"
            )
        if body["at"] == "now":
            at = now
        else:
            try:
                at = _parse_time(str(body["at"]))
            except ValueError as exc:
                raise BroadcastError(400, "invalid_field", f"'at' is not an ISO time: {exc}", "at") from None
            if at < now:
                raise BroadcastError(400, "in_the_past", "'at' is in the past", "at")
        self._status(broadcast_id)
        self._prepare_audience(broadcast_id)
        self.status.put_due(broadcast_id, at)
        if not self.status.move(broadcast_id, ("draft", "scheduled"), "scheduled", now, at=iso(at)):
            self.status.drop_due(broadcast_id, at)
            raise BroadcastError(409, "not_schedulable", "only a draft or scheduled broadcast can be scheduled")
        return self.get(broadcast_id)

    def _schedule_local(self, broadcast_id: str, body: dict[str, Any], now: datetime) -> dict[str, Any]:
        """`{"local_time": "10:00", "date": "YYYY-MM-DD"}`: each recipient at that hour in their own time zone. The
        launch is at the earliest such instant (UTC+14); each first step is due at the recipient's own hour."""
        local_time = str(body.get("local_time"))
        if not _LOCAL_TIME.match(local_time):
            raise BroadcastError(400, "invalid_field", "local_time must be HH:MM (24 h)", "local_time")
        try:
            day = date.fromisoformat(str(body.get("date")))
        except ValueError:
            raise BroadcastError(400, "invalid_field", "date must be YYYY-MM-DD", "date") from None
        wall = datetime.combine(day, time.fromisoformat(local_time), tzinfo=UTC)
        earliest, latest = wall - EARLIEST_OFFSET, wall - LATEST_OFFSET
        if latest <= now:
            raise BroadcastError(400, "in_the_past", "that local time has passed everywhere", "date")
        at = max(earliest, now)
        self._status(broadcast_id)
        self._prepare_audience(broadcast_id)
        self.status.put_due(broadcast_id, at)
        fields = {"at": iso(at), "local_time": f"{day.isoformat()}T{local_time}"}
        if not self.status.move(broadcast_id, ("draft", "scheduled"), "scheduled", now, **fields):
            self.status.drop_due(broadcast_id, at)
            raise BroadcastError(409, "not_schedulable", "only a draft or scheduled broadcast can be scheduled")
        return self.get(broadcast_id)

    def _prepare_audience(self, broadcast_id: str) -> None:
        """An inline rule becomes the hidden segment `bc-<id>` now, so its backfill runs before the launch."""
        broadcast = self.broadcast(broadcast_id)
        if broadcast is not None and broadcast.audience.rule is not None and self.audience_segments is not None:
            self.audience_segments.prepare(
                scenario_id_for(broadcast_id), broadcast.audience.rule, by=f"broadcast {broadcast_id}"
            )

    def _audience_ready(self, broadcast_id: str) -> bool:
        broadcast = self.broadcast(broadcast_id)
        if broadcast is None or broadcast.audience.rule is None or self.audience_segments is None:
            return True
        return self.audience_segments.ready(scenario_id_for(broadcast_id))

    def pause(self, broadcast_id: str) -> dict[str, Any]:
        state = self._status(broadcast_id)
        if not self.status.move(
            broadcast_id, ("scheduled", "sending"), "paused", self.clock.now(), paused_from=state["status"]
        ):
            raise BroadcastError(409, "not_pausable", f"a {state['status']} broadcast cannot be paused")
        return self.get(broadcast_id)

    def resume(self, broadcast_id: str) -> dict[str, Any]:
        state = self._status(broadcast_id)
        back = str(state.get("paused_from") or "scheduled")
        if not self.status.move(broadcast_id, ("paused",), back, self.clock.now()):
            raise BroadcastError(409, "not_paused", f"a {state['status']} broadcast is not paused")
        self._unpark(broadcast_id)
        return self.get(broadcast_id)

    def _unpark(self, broadcast_id: str) -> None:
        """Put the fan-out messages held while paused back on the queue (queue first, then forget them)."""
        for key, message in self.status.parked(broadcast_id):
            self.audience_queue.enqueue([message])
            self.status.unpark(broadcast_id, key)

    def cancel(self, broadcast_id: str) -> dict[str, Any]:
        state = self._status(broadcast_id)
        allowed = ("draft", "scheduled", "sending", "paused")
        if not self.status.move(broadcast_id, allowed, "cancelled", self.clock.now()):
            raise BroadcastError(409, "not_cancellable", f"a {state['status']} broadcast cannot be cancelled")
        for key, _ in self.status.parked(broadcast_id):
            self.status.unpark(broadcast_id, key)
        return self.get(broadcast_id)

    # -- the launch (minute schedule) ---------------------------------------------------------------------------------
    def launch_due(self) -> list[str]:
        """Move every scheduled broadcast whose time came to `sending` and hand its audience to the fan-out."""
        now = self.clock.now()
        launched = []
        for broadcast_id, at in self.status.due(now):
            state = self.status.get(broadcast_id) or {}
            if state.get("status") == "scheduled" and state.get("at") == iso(at):
                if not self._audience_ready(broadcast_id):
                    continue  # its rule's backfill is still running: stays listed, launched the first minute after
                self._launch(broadcast_id, state, now)
                launched.append(broadcast_id)
            elif state.get("status") == "sending" and state.get("decide_at") == iso(at) and not state.get("winner"):
                self._decide(broadcast_id, state, now)
            if state.get("status") != "paused":  # a paused one stays listed: resume sends it at its time
                self.status.drop_due(broadcast_id, at)
        return launched

    def _audience_messages(
        self, broadcast_id: str, broadcast: Broadcast, extra: dict[str, Any], count: bool
    ) -> list[dict[str, Any]]:
        """The fan-out's first messages: one `page` of the segment, or the `start` chunks of the resolved list."""
        scenario_id, trigger_id = scenario_id_for(broadcast_id), trigger_id_for(broadcast_id)
        audience = broadcast.audience
        if audience.segment is not None or audience.rule is not None:
            segment = audience.segment or scenario_id  # an inline rule's hidden segment is `bc-<id>`
            return [page_message(scenario_id, trigger_id, segment, None, b=broadcast_id, **extra)]
        ids, unknown = self._resolve_list(audience.list_ or [])
        if count:
            self.status.add(broadcast_id, targeted=len(ids) + unknown, skipped_unknown=unknown)
            self.status.set(broadcast_id, walked=True)
        return start_messages(scenario_id, trigger_id, ids, b=broadcast_id, **extra)

    def _launch(self, broadcast_id: str, state: Mapping[str, Any], now: datetime) -> None:
        broadcast = self.broadcast(broadcast_id)
        if broadcast is None:
            return
        extra: dict[str, Any] = {"lt": state["local_time"]} if state.get("local_time") else {}
        if broadcast.ab is not None:
            extra["ph"] = "test"
        messages = self._audience_messages(broadcast_id, broadcast, extra, count=True)
        if not messages:
            self.status.move(broadcast_id, ("scheduled",), "empty", now)
            return
        # Queue first, then move: a crash in between leaves it `scheduled` and listed, so the next minute launches
        # it again (the runs' conditional creation makes the second fan-out start nobody twice).
        self.audience_queue.enqueue(messages)
        fields: dict[str, Any] = {}
        if broadcast.ab is not None:
            decide_at = now + parse_duration(broadcast.ab.decide_after)
            self.status.put_due(broadcast_id, decide_at)
            fields["decide_at"] = iso(decide_at)
        self.status.move(broadcast_id, ("scheduled",), "sending", now, **fields)

    def _decide(self, broadcast_id: str, state: Mapping[str, Any], now: datetime) -> None:
        """Pick the A/B winner from the report counters and send it to the rest of the audience."""
        broadcast = self.broadcast(broadcast_id)
        if broadcast is None or broadcast.ab is None:
            return
        winner, reason = self.winner(broadcast_id, broadcast)
        extra: dict[str, Any] = {"ph": "rest", "w": winner}
        if state.get("local_time"):
            extra["lt"] = state["local_time"]
        messages = self._audience_messages(broadcast_id, broadcast, extra, count=False)
        if messages:
            self.audience_queue.enqueue(messages)
        fields: dict[str, Any] = {"winner": winner, "winner_reason": reason}
        if broadcast.audience.segment is None:
            fields["rest_walked"] = True
        self.status.move(broadcast_id, ("sending",), "sending", now, **fields)

    def winner(self, broadcast_id: str, broadcast: Broadcast) -> tuple[str, str]:
        """(variant, why): `significant` when `pick_winner` finds one arm better than every other with enough data;
        otherwise `best_observed` (the highest rate, ties to the first variant): the rest of the audience must get
        something, and the best observed arm is the least bad guess."""
        assert broadcast.ab is not None
        counter = METRIC_COUNTER[broadcast.ab.metric]
        totals: dict[str, list[float]] = {v.id: [0.0, 0.0] for v in broadcast.variants}
        for row, values in self.report_rows(scenario_id_for(broadcast_id)).items():
            step, variant, _channel = (row.split("#") + ["", "", ""])[:3]
            if step == "*" or variant not in totals:
                continue
            trials = values.get("delivered") or values.get("sent") or 0
            totals[variant][0] += min(values.get(counter, 0), trials)
            totals[variant][1] += trials
        arms = {v: reports.Arm(int(won), int(tried)) for v, (won, tried) in totals.items()}
        picked = reports.pick_winner(arms, mde=AB_MDE)
        if picked is not None:
            return picked, "significant"
        rates = {v: (a.rate or 0.0) for v, a in arms.items()}
        best = max(rates.values())
        return next(v.id for v in broadcast.variants if rates[v.id] == best), "best_observed"

    def _resolve_list(self, rows: list[str]) -> tuple[list[str], int]:
        """Profile ids of an uploaded list (deduplicated) and how many rows named nobody we know."""
        from chalicelib.tracking.identity import clean_email, clean_id

        ids: list[str] = []
        unknown = 0
        for row in rows:
            email = clean_email(row) if "@" in row else None
            user = None if "@" in row else clean_id(row)
            profile_id = None
            if email is not None:
                profile_id = self.identities("email", email)
            elif user is not None:
                profile_id = self.identities("user", user)
            if profile_id is None:
                unknown += 1
            elif profile_id not in ids:
                ids.append(profile_id)
        return ids, unknown

    # -- the fan-out's hooks (scenarios.fanout.StartHooks) -------------------------------------------------------------
    def verdict(self, message: Mapping[str, Any]) -> Verdict:
        broadcast_id = message.get("b")
        if not broadcast_id:
            return "go"
        status = (self.status.get(str(broadcast_id)) or {}).get("status")
        if status == "paused":
            return "hold"
        return "go" if status in ("sending", "sent") else "drop"

    def park(self, message: Mapping[str, Any]) -> None:
        broadcast_id = str(message["b"])
        self.status.park(broadcast_id, dict(message))
        # A resume between our status read and the park would miss this message: look again, and release it.
        if (self.status.get(broadcast_id) or {}).get("status") != "paused":
            self._unpark(broadcast_id)

    def _sending_broadcast(self, broadcast_id: str) -> Broadcast | None:
        if broadcast_id not in self._sending:
            found = self.broadcast(broadcast_id)
            if found is None:
                return None
            self._sending[broadcast_id] = found
        return self._sending[broadcast_id]

    def member(self, message: Mapping[str, Any], profile_id: str, now: datetime) -> MemberPlan | None:
        broadcast_id = message.get("b")
        if not broadcast_id:
            return MemberPlan()
        broadcast = self._sending_broadcast(str(broadcast_id))
        variant = None
        if broadcast is not None and broadcast.ab is not None:
            in_test = bucket(scenario_id_for(str(broadcast_id)), profile_id, "ab-test") < broadcast.ab.test_share
            if message.get("ph") == "rest":
                if in_test:
                    return None
                variant = str(message["w"])
            elif not in_test:
                return None  # kept for the winner
        due = self._local_due(str(message["lt"]), profile_id) if message.get("lt") else None
        return MemberPlan(due=due, variant=variant)

    def _local_due(self, local: str, profile_id: str) -> datetime:
        """`YYYY-MM-DDTHH:MM` in the recipient's time zone (the default zone when unknown), in UTC."""
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        name = self.timezone_of(profile_id) or self.default_timezone
        try:
            zone = ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            zone = ZoneInfo(self.default_timezone)
        return datetime.fromisoformat(local).replace(tzinfo=zone).astimezone(UTC)

    def started(self, message: Mapping[str, Any], started: int, duplicates: int) -> None:
        if message.get("b"):
            self.status.add(str(message["b"]), started=started)

    def paged(self, message: Mapping[str, Any], count: int, last: bool) -> None:
        if not message.get("b"):
            return
        broadcast_id = str(message["b"])
        if message.get("ph") == "rest":  # the same audience walked again for the winner: counted once already
            if last:
                self.status.set(broadcast_id, rest_walked=True)
                self._retire_audience(broadcast_id)
            return
        self.status.add(broadcast_id, targeted=count)
        if last:
            self.status.set(broadcast_id, walked=True)
            if message.get("ph") != "test":  # an A/B test walks the audience again for the winner
                self._retire_audience(broadcast_id)

    def _retire_audience(self, broadcast_id: str) -> None:
        """Every member of an inline rule's hidden segment has a run: folds need not evaluate it any more."""
        broadcast = self.broadcast(broadcast_id)
        if broadcast is not None and broadcast.audience.rule is not None and self.audience_segments is not None:
            self.audience_segments.retire(scenario_id_for(broadcast_id), by=f"broadcast {broadcast_id}")

    def hold_step(self, scenario_id: str) -> str:
        """Delivery's check before a broadcast step: `go`, `hold` (paused) or `drop` (cancelled)."""
        if not scenario_id.startswith("bc-"):
            return "go"
        return self.verdict({"b": scenario_id[3:]})


RESULT_COUNTERS = (
    "sent",
    "delivered",
    "bounced",
    "human_opens",
    "clicks",
    "conversions",
    "unsubscribes",
    "complaints",
)


def _stored(broadcast: Broadcast) -> dict[str, Any]:
    return broadcast.model_dump(mode="json", by_alias=True, exclude_none=True)
