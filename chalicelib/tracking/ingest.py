"""Ingest use case: authenticate the source, validate and enrich messages, resolve profiles, store each event once."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from chalicelib.shared.clock import Clock
from chalicelib.tracking.enrichment import correct_timestamp, enrich_context
from chalicelib.tracking.events import TrackedEvent
from chalicelib.tracking.identity import ERASED, MessageIds, resolve_profile_id, unlinked_bucket, unlinked_tag
from chalicelib.tracking.keys import BadKeyThrottle
from chalicelib.tracking.ports import EventStore, FailedEventStore, IdentityStore, SourceRegistry
from chalicelib.tracking.sources import Source
from chalicelib.tracking.trust import TOKEN_CONTEXT_KEY, TOKEN_HEADER, own_site_urls, restrict, verified_user
from chalicelib.tracking.validation import (
    MAX_BATCH_BYTES,
    MAX_MESSAGE_BYTES,
    TYPE_BY_PATH,
    MessageError,
    ValidMessage,
    apply_shared,
    parse_json_body,
    split_batch,
    validate_message,
)

# analytics.js (analytics-next) posts its batches to /v1/b.
BATCH_ALIASES = {"b": "batch"}


@dataclass
class RequestMeta:
    """What the HTTP layer knows about the request besides the body."""

    headers: dict[str, str]  # lower-cased names
    query: dict[str, str] = field(default_factory=dict)
    source_ip: str | None = None
    browser: bool = False  # the pixel: the HTTP client is the person's browser or mail client

    @property
    def origin(self) -> str | None:
        return self.headers.get("origin")

    @property
    def client_user_agent(self) -> str | None:
        """The request's User-Agent only when it is the person's own agent. Server-side SDKs post from HTTP libraries
        (python-requests, okhttp, curl) whose agents would otherwise mark every server-side event as a bot."""
        if self.browser or self.headers.get("origin") or self.headers.get("referer"):
            return self.headers.get("user-agent")
        return None


Outcome = Literal["accepted", "invalid", "unauthorized", "throttled", "origin_not_allowed", "unknown_endpoint"]


@dataclass
class IngestResult:
    """What became of a tracking request, whatever carried it.

    `outcome`: "accepted" (some or all messages stored; `reply` lists any rejected ones), "invalid" (nothing stored:
    unreadable body or every message rejected), "unauthorized" (no or unknown write key), "origin_not_allowed" (the
    source does not accept the browser origin), "unknown_endpoint". `reply` is the Segment-compatible answer
    (`success`, `error`, `message`, `field`, `rejected`); `cors_origin` is the origin that may read it (set once the
    source allowed it).
    """

    outcome: Outcome
    reply: dict[str, Any]
    accepted: list[TrackedEvent] = field(default_factory=list)
    cors_origin: str | None = None


def write_key_from_header(authorization: str | None) -> str | None:
    """Segment's HTTP API: Basic auth with the write key as username and an empty password."""
    if not authorization or not authorization.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.split(":", 1)[0] or None


def refused(outcome: Outcome, error: MessageError, cors_origin: str | None = None) -> IngestResult:
    return IngestResult(outcome, {"success": False, **error.to_dict()}, cors_origin=cors_origin)


class IngestService:
    def __init__(
        self,
        sources: SourceRegistry,
        events: EventStore,
        identities: IdentityStore,
        failed: FailedEventStore,
        clock: Clock,
        bad_keys: BadKeyThrottle | None = None,
        secret: Callable[[], str] = lambda: "",
    ) -> None:
        self.secret = secret  # the signing key: where an unlinked (GPC) event goes, so erasure can find it
        self.sources = sources
        self.events = events
        self.identities = identities
        self.failed = failed
        self.clock = clock
        self.bad_keys = bad_keys or BadKeyThrottle()

    # -- the tracking API ------------------------------------------------------------------------------------------
    def receive(self, kind: str, raw_body: bytes | str | None, meta: RequestMeta) -> IngestResult:
        """`/v1/{kind}`: one message (`track`, `t`, ...), a `batch`, or a `consent` choice.

        Example
        -------
        >>> result = service.receive("track", b'{"anonymousId": "a1", "event": "Signed Up"}', meta)
        >>> result.outcome, [e.event for e in result.accepted]
        ('accepted', ['Signed Up'])
        """
        kind = BATCH_ALIASES.get(kind, kind)
        if kind not in ("batch", "consent") and kind not in TYPE_BY_PATH:
            return refused(
                "unknown_endpoint", MessageError("unknown_endpoint", f"unknown tracking endpoint /v1/{kind}")
            )
        limit = MAX_BATCH_BYTES if kind == "batch" else MAX_MESSAGE_BYTES
        header_key = write_key_from_header(meta.headers.get("authorization"))
        try:
            body = parse_json_body(raw_body, limit)
        except MessageError as exc:
            if header_key:
                source, _ = self.authenticate(header_key, meta.source_ip)
                if source is not None:
                    # Passed auth but unreadable, too large or too deep: keep it (truncated) as a bad row, so nothing
                    # an authenticated sender sent is lost for inspection.
                    raw_text = raw_body.decode("utf-8", "replace") if isinstance(raw_body, bytes) else raw_body or ""
                    self.failed.record(source.source_id, exc.to_dict(), raw_text)
            return refused("invalid", exc)
        body_key = body.get("writeKey") if isinstance(body, dict) else None
        write_key = header_key or body_key or meta.query.get("writeKey")
        source, auth_error = self.authenticate(write_key, meta.source_ip)
        if source is None:
            return refused("throttled" if auth_error.code == "too_many_bad_keys" else "unauthorized", auth_error)
        if not source.origin_allowed(meta.origin):
            return refused(
                "origin_not_allowed", MessageError("origin_not_allowed", f"origin {meta.origin} is not allowed")
            )
        origin = meta.origin
        if kind == "consent":
            try:
                messages = consent_messages(body)
            except MessageError as exc:
                self.failed.record(source.source_id, exc.to_dict(), body)
                return refused("invalid", exc, origin)
            accepted, rejected = self.ingest(source, messages, "track", meta, batch=True)
            if rejected:
                first = {k: v for k, v in rejected[0].items() if k != "index"}
                if isinstance(first.get("field"), str):
                    first["field"] = first["field"].split(".", 1)[-1]  # the batch is ours, not the caller's
                return IngestResult("invalid", {"success": False, **first}, cors_origin=origin)
            reply = {"success": True, "recorded": [e.event for e in accepted]}
            return IngestResult("accepted", reply, accepted, origin)
        if kind == "batch":
            try:
                raw_messages, shared = split_batch(body)
            except MessageError as exc:
                self.failed.record(source.source_id, exc.to_dict(), body)
                return refused("invalid", exc, origin)
            messages = [apply_shared(m, shared) for m in raw_messages]
            accepted, rejected = self.ingest(source, messages, None, meta, batch=True)
            # Invalid only when every message was refused: a re-sent (already stored) message is not stored again
            # but was accepted the first time.
            if rejected and len(rejected) == len(messages):
                reply = {"success": False, "error": "invalid_batch", "rejected": rejected}
                return IngestResult("invalid", reply, cors_origin=origin)
            reply = {"success": True}
            if rejected:
                # The valid messages are stored; SDKs only retry on 5xx/429, so refusing the batch would hide that.
                reply["rejected"] = rejected
            return IngestResult("accepted", reply, accepted, origin)
        accepted, rejected = self.ingest(source, [body], TYPE_BY_PATH[kind], meta, batch=False)
        if rejected:
            return IngestResult("invalid", {"success": False, **rejected[0]}, cors_origin=origin)
        return IngestResult("accepted", {"success": True}, accepted, origin)

    def origin_may_send(self, origin: str | None) -> bool:
        """A CORS preflight carries no write key, so it is allowed for any origin some source allows; the real request
        is then checked against its own source's list."""
        if not origin:
            return False
        return self.sources.any_allows_origin(origin)

    def authenticate(self, write_key: Any, client: str | None = None) -> tuple[Source | None, MessageError]:
        """The source of a write key; `client` (the caller's address) is throttled after repeated unknown keys."""
        if not isinstance(write_key, str) or not write_key:
            return None, MessageError("unauthorized", "missing write key (HTTP Basic username or writeKey in body)")
        if self.bad_keys.blocked(client):
            return None, MessageError("too_many_bad_keys", "too many unknown write keys from this address; slow down")
        source = self.sources.by_write_key(write_key)
        if source is None or not source.usable(self.clock.now()):
            self.bad_keys.failed(client)
            reason = "unknown write key" if source is None else "this write key was revoked or has expired"
            return None, MessageError("unauthorized", reason)
        return source, MessageError("ok", "")

    # -- shared by the HTTP API and the pixel ---------------------------------------------------------------------
    def ingest(
        self,
        source: Source,
        messages: list[Any],
        default_type: str | None,
        meta: RequestMeta,
        *,
        batch: bool,
        record_failures: bool = True,
        historical: bool = False,
    ) -> tuple[list[TrackedEvent], list[dict[str, Any]]]:
        """Validate, enrich, resolve and store. Returns (stored events, rejections with their index and field).
        `historical` (server-side bulk imports): times older than a year are the file's history and kept as given."""
        received_at = self.clock.now()
        valid: list[tuple[int, ValidMessage]] = []
        rejected: list[dict[str, Any]] = []
        flags_by_message: dict[int, list[str]] = {}
        header_token = meta.headers.get(TOKEN_HEADER)
        vouched_by_token: dict[str | None, str | None] = {}  # a batch repeats one token: verify it once
        for index, message in enumerate(messages):
            try:
                checked = validate_message(message, default_type, index if batch else None)
                if source.kind == "client":
                    token = checked.context.get(TOKEN_CONTEXT_KEY) or header_token
                    token = token if isinstance(token, str) else None
                    if token not in vouched_by_token:
                        vouched_by_token[token] = verified_user(
                            token, source.identity_secret, source.source_id, received_at
                        )
                    checked, flags_by_message[index] = restrict(checked, vouched_by_token[token])
                    checked.properties = own_site_urls(checked.properties, source.allowed_origins)
                valid.append((index, checked))
            except MessageError as exc:
                reason = exc.to_dict()
                if batch and reason.get("field") and not str(reason["field"]).startswith("batch["):
                    reason["field"] = f"batch[{index}].{reason['field']}"
                if record_failures:  # a replay (tracking/replay.py) does not add a row per attempt
                    if isinstance(message, dict) and default_type and "type" not in message:
                        message = {**message, "type": default_type}  # the path's type, so a replay can use it
                    self.failed.record(source.source_id, reason, message)
                rejected.append({"index": index, **reason} if batch else reason)
        if not valid:
            return [], rejected
        ids = [MessageIds(v.user_id, v.email, v.anonymous_id) for _, v in valid]
        # Only the keys resolution reads (`resolving_keys`), distinct across the batch, in one eventually consistent
        # BatchGetItem (0.5 read unit a key). Eventual is safe here: a record written in the last second and missed
        # resolves as a first sighting to the same deterministic `profile_id_for` id the record would name unless a
        # merge re-pointed it, and the fold follows `merged_into` (profiles/fold_batches._redirect) to the winner.
        records = self.identities.lookup([key for i in ids for key in i.resolving_keys()])
        gpc = meta.headers.get("sec-gpc") == "1" and source.honour_gpc
        events: dict[str, TrackedEvent] = {}
        for (index, message), message_ids in zip(valid, ids, strict=True):
            if gpc and not site_consented(message.context):
                # Unlinked, but findable by erasure: a bucket shared by many senders and a per-event keyed tag, both
                # from the sender's strongest identity key (the one their profile would be resolved by).
                key, secret = message_ids.identity_keys()[0], self.secret()
                event = self._to_event(
                    source, unlink(message), unlinked_bucket(key, secret), received_at, meta, gpc, historical
                )
                event.context.pop("ip", None)
                event.context.pop("userAgent", None)
                event.flags.extend(("unlinked", unlinked_tag(key, event.key, secret)))
                events.setdefault(event.key, event)
                continue
            profile_id = resolve_profile_id(message_ids, records)
            if profile_id == ERASED:
                continue  # the person exercised their right to erasure: their identities must not come back
            event = self._to_event(source, message, profile_id, received_at, meta, gpc, historical)
            event.flags.extend(flags_by_message.get(index, ()))
            events.setdefault(event.key, event)  # a batch repeating a messageId stores it once
        stored = list(events.values())
        # A batch is stored as one item per profile with no read (a re-sent messageId is applied once by the fold's
        # replay guard); one event, even in a batch, is a conditional put (the same cost), so its re-send is refused.
        if batch and len(stored) > 1:
            return self.events.put_batch(stored), rejected
        return [e for e in stored if self.events.put_new(e)], rejected

    def _to_event(
        self,
        source: Source,
        message: ValidMessage,
        profile_id: str,
        received_at: Any,
        meta: RequestMeta,
        gpc: bool,
        historical: bool = False,
    ) -> TrackedEvent:
        timestamp, flags = correct_timestamp(
            received_at, message.timestamp, message.original_timestamp, message.sent_at, historical=historical
        )
        context, is_bot = enrich_context(message.context, message.properties, meta.source_ip, meta.client_user_agent)
        if is_bot:
            flags.append("bot")
        if gpc:
            flags.append("gpc")
        return TrackedEvent(
            message_id=message.message_id,
            source_id=source.source_id,
            type=message.type,  # type: ignore[arg-type]
            profile_id=profile_id,
            timestamp=timestamp,
            received_at=received_at,
            sent_at=message.sent_at,
            original_timestamp=message.original_timestamp or message.timestamp,
            anonymous_id=message.anonymous_id,
            user_id=message.user_id,
            event=message.event,
            name=message.name,
            category=message.category,
            previous_id=message.previous_id,
            group_id=message.group_id,
            properties=message.properties,
            traits=message.traits,
            context=context,
            integrations=message.integrations,
            extra=message.extra,
            flags=flags,
            is_bot=is_bot,
        )


UNLINKED_PREFIX = "unlinked#"
CONSENT_EVENTS = {("email", True): "Email Subscribed", ("email", False): "Email Unsubscribed",
                  ("sms", True): "SMS Subscribed", ("sms", False): "SMS Unsubscribed"}  # fmt: skip


def consent_messages(body: Any) -> list[dict[str, Any]]:
    """`POST /v1/consent` {"userId"|"anonymousId", "consent": {"email": true, "sms": false}, "source": "..."}:
    each channel's choice becomes an event, so consent has the same history, audit and ordering as everything else."""
    if not isinstance(body, dict):
        raise MessageError("invalid_message", "request body must be a JSON object")
    choices = body.get("consent")
    if not isinstance(choices, dict) or not choices:
        raise MessageError("missing_field", 'consent must be an object like {"email": true}', "consent")
    messages = []
    for channel, granted in choices.items():
        if not isinstance(granted, bool) or (channel, granted) not in CONSENT_EVENTS:  # `[]` is unhashable: 500
            raise MessageError(
                "invalid_field", "consent channels are email and sms, with true or false", f"consent.{channel}"
            )
        message = {k: body[k] for k in ("userId", "anonymousId", "context", "timestamp", "sentAt") if k in body}
        base_id = body.get("messageId")
        if isinstance(base_id, str) and base_id:
            message["messageId"] = f"{base_id}:{channel}"
        message["event"] = CONSENT_EVENTS[(channel, granted)]
        message["properties"] = {"channel": channel, "source": str(body.get("source") or "consent_api")[:200]}
        messages.append(message)
    return messages


# Consent categories that mean "this person agreed to be measured or marketed to": only these override Global
# Privacy Control. `necessary`, `essential`, `functional` or `preferences` (every consent manager sends them as
# granted) never do.
_TRACKING_CATEGORIES = ("marketing", "analytics", "advertising", "targeting", "personali", "statistic", "measurement")


def site_consented(context: dict[str, Any]) -> bool:
    """The site recorded consent to tracking: our tracker's `context.consent.granted`, or a Segment consent category
    for marketing or analytics set to true (never a strictly-necessary one)."""
    consent = context.get("consent")
    if not isinstance(consent, dict):
        return False
    if consent.get("granted") is True:
        return True
    categories = consent.get("categoryPreferences")
    if not isinstance(categories, dict):
        return False
    return any(
        granted is True and any(word in str(name).lower() for word in _TRACKING_CATEGORIES)
        for name, granted in categories.items()
    )


def unlink(message: ValidMessage) -> ValidMessage:
    """Global Privacy Control without the site's consent: keep what happened, drop who it was."""
    from dataclasses import replace

    context = {k: v for k, v in message.context.items() if k not in {"traits", "ip", "userAgent"}}
    return replace(message, user_id=None, anonymous_id=None, email=None, traits={}, context=context, previous_id=None)


def decode_pixel_data(data: str | None) -> Any:
    """`?data=` is base64 (standard or URL-safe, padding optional) JSON, as Segment's pixel API takes it."""
    if not data:
        return None
    text = data.strip().replace(" ", "+")
    text += "=" * (-len(text) % 4)
    for decoder in (base64.urlsafe_b64decode, base64.b64decode):
        try:
            return json.loads(decoder(text.encode()))
        except (binascii.Error, ValueError, UnicodeDecodeError):
            continue
    raise MessageError("invalid_pixel_data", "data is not base64-encoded JSON", "data")
