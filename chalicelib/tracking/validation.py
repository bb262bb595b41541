"""Validation of incoming Segment-spec messages: what is required, what is kept, which field is wrong (pure)."""

from __future__ import annotations

import json
import math
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.tracking.devices import DeviceError, device_from_context
from chalicelib.tracking.identity import clean_email, clean_id, clean_phone

MAX_MESSAGE_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
MAX_BATCH_MESSAGES = 2500

# analytics.js short paths and the full names
MAX_DEPTH = 32  # objects and arrays nested deeper than this are refused (no SDK sends more than a few levels)
ID_FIELDS = ("anonymousId", "userId", "previousId", "groupId", "messageId")
TYPE_BY_PATH = {
    "track": "track",
    "t": "track",
    "page": "page",
    "p": "page",
    "screen": "screen",
    "s": "screen",
    "identify": "identify",
    "i": "identify",
    "group": "group",
    "g": "group",
    "alias": "alias",
    "a": "alias",
}
MESSAGE_TYPES = frozenset(TYPE_BY_PATH.values())

KNOWN_FIELDS = frozenset(
    {
        "type", "messageId", "anonymousId", "userId", "event", "name", "category", "properties", "traits", "context",
        "integrations", "timestamp", "originalTimestamp", "sentAt", "receivedAt", "previousId", "groupId", "writeKey",
        "version", "channel", "_metadata",
    }
)  # fmt: skip


class MessageError(ValueError):
    """A message that cannot be accepted; `field` names the offending field (dotted path)."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.field:
            out["field"] = self.field
        return out


@dataclass
class ValidMessage:
    """A message that passed validation; timestamps are parsed but not yet corrected for clock skew."""

    type: str
    message_id: str
    anonymous_id: str | None
    user_id: str | None
    email: str | None
    event: str | None
    name: str | None
    category: str | None
    previous_id: str | None
    group_id: str | None
    properties: dict[str, Any]
    traits: dict[str, Any]
    context: dict[str, Any]
    integrations: dict[str, Any]
    timestamp: datetime | None
    original_timestamp: datetime | None
    sent_at: datetime | None
    extra: dict[str, Any]


def parse_json_body(raw: bytes | str | None, limit: int) -> Any:
    """Parse a request body, enforcing the size limit before parsing. Raises MessageError."""
    if raw is None or len(raw) == 0:
        raise MessageError("invalid_json", "request body is empty; expected a JSON object")
    if len(raw) > limit:
        raise MessageError("payload_too_large", f"request body is {len(raw)} bytes; the limit is {limit // 1024} KB")
    try:
        return json.loads(raw)
    except RecursionError:
        raise MessageError(
            "nesting_too_deep", f"request body nests objects or arrays deeper than {MAX_DEPTH} levels"
        ) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise MessageError("invalid_json", f"request body is not valid JSON: {exc}") from None


def _text_problem(text: str) -> str | None:
    """Why a string cannot be stored as it is: a NUL, or a lone UTF-16 surrogate (not encodable as UTF-8)."""
    if "\x00" in text:
        return "contains a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (not valid Unicode)"
    return None


def check_values(msg: dict[str, Any]) -> MessageError | None:
    """The first value of a message that cannot be stored or folded safely, named by its path: nesting deeper than
    MAX_DEPTH, a NUL or lone surrogate in any key or string, a number that is not finite (NaN, 1e309)."""
    stack: list[tuple[Any, str, int]] = [(msg, "", 0)]
    while stack:
        value, where, depth = stack.pop()
        if isinstance(value, dict):
            if depth >= MAX_DEPTH:
                return MessageError("nesting_too_deep", f"{where} nests deeper than {MAX_DEPTH} levels", where)
            for key, inner in value.items():
                path = f"{where}.{key}" if where else str(key)
                if isinstance(key, str) and (problem := _text_problem(key)):
                    return MessageError("invalid_field", f"a key of {where or 'the message'} {problem}", where or None)
                stack.append((inner, path, depth + 1))
        elif isinstance(value, list):
            if depth >= MAX_DEPTH:
                return MessageError("nesting_too_deep", f"{where} nests deeper than {MAX_DEPTH} levels", where)
            stack.extend((inner, f"{where}[{i}]", depth + 1) for i, inner in enumerate(value))
        elif isinstance(value, str):
            if problem := _text_problem(value):
                return MessageError("invalid_field", f"{where} {problem}", where)
        elif isinstance(value, float) and not math.isfinite(value):
            return MessageError("invalid_field", f"{where} must be a finite number (NaN and 1e309 are not)", where)
    return None


def _invisible(text: str) -> bool:
    """Control or format characters (CR, LF, bidi overrides, zero-width marks): never part of a real id."""
    return any(unicodedata.category(char) in ("Cc", "Cf") for char in text)


def parse_time(value: Any, field: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        # Some SDKs send epoch milliseconds.
        try:
            from datetime import UTC

            seconds = value / 1000 if value > 10_000_000_000 else value
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            raise MessageError("invalid_field", f"{field} is not a valid time", field) from None
    if not isinstance(value, str):
        raise MessageError("invalid_field", f"{field} must be an ISO-8601 string", field)
    text = value.strip()
    if text.endswith("Z") or text.endswith("z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise MessageError("invalid_field", f"{field} is not an ISO-8601 time: {value[:40]!r}", field) from None
    if parsed.tzinfo is None:
        from datetime import UTC

        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _object(msg: dict[str, Any], field: str) -> dict[str, Any]:
    value = msg.get(field)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MessageError("invalid_field", f"{field} must be a JSON object", field)
    return value


def _optional_str(msg: dict[str, Any], field: str, max_len: int = 1024) -> str | None:
    value = msg.get(field)
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise MessageError("invalid_field", f"{field} must be a string", field)
    if len(value) > max_len:
        raise MessageError("invalid_field", f"{field} is longer than {max_len} characters", field)
    return value


def validate_message(msg: Any, default_type: str | None = None, index: int | None = None) -> ValidMessage:
    """Validate one message. `default_type` comes from the path (`/v1/track`); in a batch each message names its type.

    Unknown fields are kept (in `extra`), never rejected: SDKs add fields faster than specs change.
    """
    prefix = f"batch[{index}]." if index is not None else ""

    def err(code: str, text: str, field: str | None) -> MessageError:
        return MessageError(code, text, prefix + field if field else None)

    if not isinstance(msg, dict):
        raise err("invalid_message", "message must be a JSON object", "" if index is None else None)
    if (unsafe := check_values(msg)) is not None:
        raise err(unsafe.code, unsafe.message, unsafe.field)
    for id_field in ID_FIELDS:
        if isinstance(msg.get(id_field), str) and _invisible(msg[id_field]):
            raise err("invalid_field", f"{id_field} contains control or invisible characters", id_field)
    if len(json.dumps(msg, separators=(",", ":"), default=str)) > MAX_MESSAGE_BYTES:
        raise err("payload_too_large", f"message exceeds the per-event limit of {MAX_MESSAGE_BYTES // 1024} KB", None)
    try:
        mtype = msg.get("type", default_type) if default_type is None else default_type
        if not isinstance(mtype, str) or mtype not in MESSAGE_TYPES:  # `{}` or `[]` is unhashable: a 500, not a 400
            raise MessageError("invalid_field", f"type must be one of {sorted(MESSAGE_TYPES)}", "type")
        properties = _object(msg, "properties")
        traits = _object(msg, "traits")
        context = _object(msg, "context")
        integrations = _object(msg, "integrations")
        message_id = _optional_str(msg, "messageId", 200) or str(uuid.uuid4())
        raw_anon = _optional_str(msg, "anonymousId", 256)
        raw_user = _optional_str(msg, "userId", 256)
        anonymous_id = clean_id(raw_anon)
        user_id = clean_id(raw_user)
        if not anonymous_id and not user_id:
            junk = raw_anon or raw_user
            detail = f" ({junk!r} is not a usable id)" if junk is not None else ""
            raise MessageError("missing_identity", f"userId or anonymousId is required{detail}", "userId")
        event = _optional_str(msg, "event", 200)
        if mtype == "track" and not (event and event.strip()):
            raise MessageError("missing_field", "track messages need a non-empty event name", "event")
        previous_id = clean_id(_optional_str(msg, "previousId", 256))
        if mtype == "alias" and not previous_id:
            raise MessageError("missing_field", "alias messages need previousId", "previousId")
        group_id = _optional_str(msg, "groupId", 256)
        if mtype == "group" and not group_id:
            raise MessageError("missing_field", "group messages need groupId", "groupId")
        raw_traits = context.get("traits")
        ctx_traits = raw_traits if isinstance(raw_traits, dict) else {}
        claims = (("traits.email", traits.get("email")), ("context.traits.email", ctx_traits.get("email")))
        for where, claimed in claims:
            if claimed not in (None, "") and clean_email(claimed) is None:
                raise MessageError("invalid_field", f"{where} is not one valid email address", where)
        phones = (("traits.phone", traits.get("phone")), ("context.traits.phone", ctx_traits.get("phone")))
        for where, claimed in phones:
            if claimed not in (None, "") and clean_phone(claimed) is None:
                raise MessageError(
                    "invalid_field", f"{where} is not a valid phone number in international form (+country...)", where
                )
        try:
            device = device_from_context(context)
        except DeviceError as exc:
            raise MessageError("invalid_field", str(exc), exc.field) from None
        if device is not None and device.token != context["device"]["token"]:  # APNs hex: one canonical case
            context = {**context, "device": {**context["device"], "token": device.token}}
        email = clean_email(traits.get("email")) or clean_email(ctx_traits.get("email"))
        if mtype == "identify" and not traits and ctx_traits:
            traits = dict(ctx_traits)  # RudderStack's SDKs send identify traits in context.traits only
        return ValidMessage(
            type=mtype,
            message_id=message_id,
            anonymous_id=anonymous_id,
            user_id=user_id,
            email=email,
            event=event.strip() if event else None,
            name=_optional_str(msg, "name", 500),
            category=_optional_str(msg, "category", 500),
            previous_id=previous_id,
            group_id=group_id,
            properties=properties,
            traits=traits,
            context=context,
            integrations=integrations,
            timestamp=parse_time(msg.get("timestamp"), "timestamp"),
            original_timestamp=parse_time(msg.get("originalTimestamp"), "originalTimestamp"),
            sent_at=parse_time(msg.get("sentAt"), "sentAt"),
            extra={k: v for k, v in msg.items() if k not in KNOWN_FIELDS},
        )
    except MessageError as exc:
        raise err(exc.code, exc.message, exc.field) from None


def split_batch(body: Any) -> tuple[list[Any], dict[str, Any]]:
    """Return the batch's messages and the top-level fields that apply to each (sentAt, context, integrations)."""
    if not isinstance(body, dict):
        raise MessageError("invalid_message", "request body must be a JSON object", None)
    batch = body.get("batch")
    if not isinstance(batch, list):
        raise MessageError("invalid_field", "batch must be an array of messages", "batch")
    if not batch:
        raise MessageError("invalid_field", "batch is empty", "batch")
    if len(batch) > MAX_BATCH_MESSAGES:
        raise MessageError("payload_too_large", f"batch has more than {MAX_BATCH_MESSAGES} messages", "batch")
    shared = {k: body[k] for k in ("sentAt", "context", "integrations") if k in body}
    return batch, shared


def apply_shared(msg: Any, shared: dict[str, Any]) -> Any:
    """Top-level batch fields fill in what a message does not set itself (a message's own values win)."""
    if not isinstance(msg, dict) or not shared:
        return msg
    merged = dict(msg)
    if "sentAt" in shared and "sentAt" not in merged:
        merged["sentAt"] = shared["sentAt"]
    for key in ("context", "integrations"):
        if isinstance(shared.get(key), dict):
            own = merged.get(key)
            if own is None:
                merged[key] = dict(shared[key])
            elif isinstance(own, dict):
                merged[key] = {**shared[key], **own}
    return merged
