"""Mobile push content: the template's push spec, the APNs and FCM payloads SNS delivers, and their size limits.

A template with a `push` entry serves the `push` channel (templating.py). Each text of the spec is a Jinja string
rendered like an SMS body; `render_push` fills it for one person, and `sns_message` wraps the result for one platform
endpoint as a `MessageStructure=json` publish (SNS picks the key for the endpoint's platform: `APNS`,
`APNS_SANDBOX` or `GCM`).

Limits: APNs refuses a payload over 4 KB and FCM a message over 4 KB. They are checked twice: when a template is
defined (its texts as written; a variable can render longer than its source, but never shorter than nothing) so an
oversized message is refused naming its field before any scenario uses it, and at send time on the rendered payload,
where an oversized one fails that person's message (`payload_too_large`) before anything is claimed or sent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

APNS_MAX_BYTES = 4096
FCM_MAX_BYTES = 4096
MESSAGE_ID_KEY = "one2one_message_id"  # in both payloads: the app sends it back in `Push Opened`'s properties
TEXT_FIELDS = ("title", "body", "deep_link", "image_url", "sound")


class PushTooLarge(ValueError):
    """A push payload over its platform's limit; `field` is the spec's largest text (what to shorten)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


class PushSpec(BaseModel):
    """A template's push notification. Texts are Jinja strings (no autoescape)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str = Field(default="", max_length=4000, description="The alert's title.")
    body: str = Field(min_length=1, max_length=4000, description="The alert's text.")
    deep_link: str = Field(default="", description="Where a tap opens the app (`shop://cart`, a universal link).")
    image_url: str = Field(default="", description="https image (APNs: a notification service extension shows it).")
    badge: int | None = Field(default=None, ge=0, description="iOS app icon badge; None leaves it as it is.")
    sound: str = Field(default="default", description="iOS / Android sound name; empty for silent.")
    data: dict[str, str] = Field(default_factory=dict, description="Custom key/value data for the app (Jinja values).")

    def texts(self) -> dict[str, str]:
        """Every Jinja string by its field name (`push.body`, `push.data.coupon`)."""
        out = {f"push.{name}": getattr(self, name) for name in TEXT_FIELDS}
        out.update({f"push.data.{key}": value for key, value in self.data.items()})
        return out


@dataclass(frozen=True)
class RenderedPush:
    title: str
    body: str
    deep_link: str = ""
    image_url: str = ""
    badge: int | None = None
    sound: str = ""
    data: dict[str, str] = field(default_factory=dict)


def apns_payload(push: RenderedPush, message_id: str) -> dict[str, Any]:
    """The APNs payload: `aps` (alert, badge, sound, mutable-content when there is an image) plus custom keys."""
    alert: dict[str, str] = {"body": push.body}
    if push.title:
        alert["title"] = push.title
    aps: dict[str, Any] = {"alert": alert}
    if push.badge is not None:
        aps["badge"] = push.badge
    if push.sound:
        aps["sound"] = push.sound
    payload: dict[str, Any] = {**push.data, "aps": aps, MESSAGE_ID_KEY: message_id}
    if push.image_url:
        aps["mutable-content"] = 1  # lets the app's notification service extension download and attach the image
        payload["image_url"] = push.image_url
    if push.deep_link:
        payload["deep_link"] = push.deep_link
    return payload


def fcm_payload(push: RenderedPush, message_id: str) -> dict[str, Any]:
    """The FCM HTTP v1 message SNS forwards (`fcmV1Message`): notification title/body/image and string data."""
    notification: dict[str, str] = {"body": push.body}
    if push.title:
        notification["title"] = push.title
    if push.image_url:
        notification["image"] = push.image_url
    data = {**push.data, MESSAGE_ID_KEY: message_id}
    if push.deep_link:
        data["deep_link"] = push.deep_link
    android: dict[str, Any] = {"notification": {"sound": push.sound}} if push.sound else {}
    message: dict[str, Any] = {"notification": notification, "data": data}
    if android:
        message["android"] = android
    return {"fcmV1Message": {"message": message}}


def _size(payload: dict[str, Any]) -> int:
    return len(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode())


def check_limits(push: RenderedPush, message_id: str = "m" + "0" * 24, texts: dict[str, str] | None = None) -> None:
    """PushTooLarge when either platform's payload passes its limit. `texts` (field -> text) names the largest."""
    for platform, payload, limit in (
        ("APNs", apns_payload(push, message_id), APNS_MAX_BYTES),
        ("FCM", fcm_payload(push, message_id), FCM_MAX_BYTES),
    ):
        size = _size(payload)
        if size > limit:
            sized = texts or {"push.body": push.body}
            largest = max(sized, key=lambda name: len(sized[name].encode()))
            raise PushTooLarge(largest, f"the {platform} payload is {size} bytes, over its {limit}-byte limit")


def check_spec(spec: PushSpec) -> None:
    """The definition-time check: the spec's texts as written must fit (see the module docstring)."""
    as_written = RenderedPush(
        title=spec.title,
        body=spec.body,
        deep_link=spec.deep_link,
        image_url=spec.image_url,
        badge=spec.badge,
        sound=spec.sound,
        data=dict(spec.data),
    )
    check_limits(as_written, texts=spec.texts())


def sns_message(push: RenderedPush, message_id: str, platform: str) -> str:
    """The `Message` of a `MessageStructure=json` publish to one endpoint of `platform` (APNS, APNS_SANDBOX, GCM)."""
    payload = fcm_payload(push, message_id) if platform == "GCM" else apns_payload(push, message_id)
    return json.dumps({"default": push.body, platform: json.dumps(payload, separators=(",", ":"))})
