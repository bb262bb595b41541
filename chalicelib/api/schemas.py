"""Pydantic models that describe the HTTP API's bodies, for the OpenAPI document (the handlers validate by hand).

These models are documentation, not the validator: `domain.tracking.validate_message` stays the one place that decides
what is accepted (it is faster, keeps unknown fields and names the offending field). The models say the same thing in
JSON Schema so that clients, schemathesis and readers see the contract. Keep the two in step; the schemathesis test
sends what these models generate and fails on any 5xx or undocumented answer.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.tracking.sources import SourceSettings

# --- Segment messages ---------------------------------------------------------------------------------------------

IsoTime = Annotated[
    str | float | None,
    Field(description="ISO-8601 time (a `Z` or an offset; none means UTC) or epoch seconds/milliseconds"),
]
Id = Annotated[str | float | None, Field(description="string (numbers are taken as their string form); at most 256")]

# Either id is enough; junk values (`null`, `undefined`, `anonymous`, `0`, ...) count as missing.
NEEDS_AN_ID: dict[str, Any] = {"anyOf": [{"required": ["userId"]}, {"required": ["anonymousId"]}]}


class Message(BaseModel):
    """Fields every Segment message may carry. Unknown fields are kept (in `extra`), never rejected."""

    model_config = ConfigDict(extra="allow", json_schema_extra=NEEDS_AN_ID)

    messageId: str | None = Field(None, max_length=200, description="idempotency key; generated when absent")
    anonymousId: Id = None
    userId: Id = None
    timestamp: IsoTime = None
    originalTimestamp: IsoTime = Field(None, description="device time when the event happened (skew-corrected)")
    sentAt: IsoTime = Field(None, description="device time when the message was sent (skew correction)")
    context: dict[str, Any] | None = Field(None, description="library, page, campaign, ip, userAgent, traits ...")
    integrations: dict[str, Any] | None = None
    writeKey: str | None = Field(None, description="the source's write key when no Authorization header can be set")


class TrackMessage(Message):
    type: Literal["track"] | None = Field(None, description="implied by the path; required inside a batch")
    event: str = Field(min_length=1, max_length=200, description="the action, e.g. `Order Completed`")
    properties: dict[str, Any] | None = None


class PageMessage(Message):
    type: Literal["page"] | None = None
    name: str | None = Field(None, max_length=500)
    category: str | None = Field(None, max_length=500)
    properties: dict[str, Any] | None = None


class ScreenMessage(Message):
    type: Literal["screen"] | None = None
    name: str | None = Field(None, max_length=500)
    category: str | None = Field(None, max_length=500)
    properties: dict[str, Any] | None = None


class IdentifyMessage(Message):
    type: Literal["identify"] | None = None
    traits: dict[str, Any] | None = Field(None, description="`traits.email` links the profile to an email address")


class GroupMessage(Message):
    type: Literal["group"] | None = None
    groupId: str = Field(min_length=1, max_length=256)
    traits: dict[str, Any] | None = None


class AliasMessage(Message):
    type: Literal["alias"] | None = None
    previousId: str = Field(min_length=1, max_length=256, description="the id the user had before (often anonymous)")


MESSAGE_MODELS: dict[str, type[Message]] = {
    "track": TrackMessage,
    "page": PageMessage,
    "screen": ScreenMessage,
    "identify": IdentifyMessage,
    "group": GroupMessage,
    "alias": AliasMessage,
}

BatchItem = Annotated[
    TrackMessage | PageMessage | ScreenMessage | IdentifyMessage | GroupMessage | AliasMessage,
    Field(description="one message; its `type` says which"),
]


class BatchRequest(BaseModel):
    """`POST /v1/batch`: up to 2,500 messages and 500 KB; top-level `sentAt`/`context`/`integrations` apply to each."""

    model_config = ConfigDict(extra="allow")

    batch: list[BatchItem] = Field(min_length=1, max_length=2500)
    sentAt: IsoTime = None
    context: dict[str, Any] | None = None
    integrations: dict[str, Any] | None = None
    writeKey: str | None = None


class ConsentRequest(BaseModel):
    """`POST /v1/consent`: each channel's choice becomes an event (`Email Subscribed`, `SMS Unsubscribed`, ...)."""

    model_config = ConfigDict(extra="allow", json_schema_extra=NEEDS_AN_ID)

    consent: dict[Literal["email", "sms"], bool] = Field(min_length=1)
    source: str | None = Field(None, description="where the choice was made, e.g. `preference_center`")
    messageId: str | None = Field(None, max_length=190, description="each channel's event gets `<messageId>:<channel>`")
    anonymousId: Id = None
    userId: Id = None
    timestamp: IsoTime = None
    sentAt: IsoTime = None
    context: dict[str, Any] | None = None
    writeKey: str | None = None


class SmsCodeRequest(BaseModel):
    """`POST /v1/subscribe/sms`: text a 6-digit code to `phone` for the visitor (SMS consent needs its proof)."""

    model_config = ConfigDict(extra="allow", json_schema_extra=NEEDS_AN_ID)

    phone: str = Field(description="international form (`+1 415 555 0123`), an allowed country, no premium range")
    anonymousId: Id = None
    userId: Id = None
    source: str | None = Field(None, description="where the request was made, e.g. `checkout`")
    writeKey: str | None = None


class DeviceRegistration(BaseModel):
    """`POST /v1/devices` (and `/v1/devices/unregister`): a person's app install and its push token (README "Mobile
    push"); recorded as the tracked event `Device Registered` / `Device Unregistered`."""

    model_config = ConfigDict(extra="allow", json_schema_extra=NEEDS_AN_ID)

    token: str = Field(description="APNs: 64 hexadecimal characters; FCM: the registration token")
    platform: Literal["ios", "android"]
    app: str | None = Field(None, description="the bundle id / package name", max_length=200)
    enabled: bool | None = Field(None, description="the app's notification permission (the push consent)")
    anonymousId: Id = None
    userId: Id = None
    writeKey: str | None = None


class SmsCodeConfirm(BaseModel):
    """`POST /v1/subscribe/sms/confirm`: the code texted to `phone`, with the same write key. 5 tries per code."""

    model_config = ConfigDict(extra="allow")

    phone: str
    code: str = Field(description="the 6 digits (spaces and dashes ignored); a JSON number is refused")
    writeKey: str | None = None


# --- answers --------------------------------------------------------------------------------------------------------


class Rejection(BaseModel):
    """One message of a batch that was not stored, and why."""

    index: int | None = Field(None, description="position in `batch`")
    error: str
    message: str
    field: str | None = Field(None, description="dotted path of the offending field, e.g. `batch[3].event`")


class Accepted(BaseModel):
    """Segment's answer. A batch with some invalid messages still answers 200 (the valid ones are stored)."""

    success: Literal[True] = True
    rejected: list[Rejection] | None = None


class ConsentRecorded(Accepted):
    recorded: list[str] = Field(description="the events recorded, one per channel")


class SmsCodeStatus(BaseModel):
    success: Literal[True] = True
    status: Literal["code_sent", "subscribed"] = Field(
        description="`code_sent` also past the per-number and per-source limits (the answer reveals nothing)"
    )


class ErrorBody(BaseModel):
    """Every refusal: a stable machine code in `error`, a sentence in `message`, the offending `field` if one."""

    success: Literal[False] | None = Field(None, description="present on the tracking API (Segment's shape)")
    error: str = Field(description="machine-readable code, e.g. `invalid_field`, `unauthorized`, `unavailable`")
    message: str | None = None
    field: str | None = None
    rejected: list[Rejection] | None = Field(None, description="a batch whose every message was invalid")


class ChaliceError(BaseModel):
    """Answers produced by the framework before our code runs (e.g. 415 for an unsupported Content-Type)."""

    model_config = ConfigDict(extra="allow")

    Code: str
    Message: str


class SourceRequest(BaseModel):
    """Create a source, or rotate its write key (same `source_id`)."""

    source_id: str = Field(min_length=1, max_length=64)
    name: str | None = None
    allowed_origins: list[str] = Field(default_factory=list, description="exact browser origins, or `*`")
    settings: SourceSettings | None = Field(default=None, description="where mail links back to: shop_url, cart_url")


class SourceCreated(BaseModel):
    source_id: str
    write_key: str = Field(description="shown once; only its SHA-256 is stored")
    allowed_origins: list[str]


class FailedEvent(BaseModel):
    id: str
    day: str
    source_id: str
    reason: dict[str, Any]
    raw: str = Field(description="the input as received, truncated to 16,000 characters")
    truncated: bool
    received_at: str


class FailedEventsPage(BaseModel):
    day: str
    count: int
    items: list[FailedEvent]
    next_cursor: str | None


class ProfileView(BaseModel):
    """A profile as the admin API shows it: the folded profile, its identity keys and recent events."""

    model_config = ConfigDict(extra="allow")

    profile_id: str
    profile: dict[str, Any]
    identities: list[str]
    recent_events: list[dict[str, Any]]
    redirected_from: str | None = None


ALL_MODELS: tuple[type[BaseModel], ...] = (
    *MESSAGE_MODELS.values(),
    BatchRequest,
    ConsentRequest,
    Rejection,
    Accepted,
    ConsentRecorded,
    SmsCodeRequest,
    SmsCodeConfirm,
    SmsCodeStatus,
    ErrorBody,
    DeviceRegistration,
    ChaliceError,
    SourceRequest,
    SourceCreated,
    FailedEvent,
    FailedEventsPage,
    ProfileView,
)
