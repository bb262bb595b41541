"""Mobile push devices the Segment way: `context.device.token` / `context.device.type` / `context.app`, validated.

An app source's SDK (analytics-ios, analytics-android, Amplify, RudderStack) puts the push token it got from APNs or
FCM in `context.device.token` and the platform in `context.device.type` on every event once the app registered for
push; `POST /v1/devices` (api/devices.py) says the same for apps that register outside an SDK. Only events carrying a
token are checked: a device without one (every web event, an app before the person allowed notifications) is fine.

Shapes (why these and not stricter):
- APNs: a device token is 32 bytes, sent as 64 hex characters. Apple says the length may grow, so even-length hex up
  to 200 characters is accepted; anything else (a base64 token, a UUID with dashes) is a client bug -> 400.
- FCM: registration tokens are `[A-Za-z0-9_-:]` (an instance id, `:`, then `APA91b...`), about 150-180 characters
  today; at least 100 and at most 4096 (SNS's own limit for a token) are accepted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

Platform = Literal["ios", "android"]
PLATFORMS: tuple[Platform, ...] = ("ios", "android")
# SNS platform names: the key of a MessageStructure=json publish and the platform application's platform.
SNS_PLATFORM: dict[Platform, str] = {"ios": "APNS", "android": "GCM"}

_APNS_TOKEN = re.compile(r"(?:[0-9a-f]{2}){32,100}")
_FCM_TOKEN = re.compile(r"[A-Za-z0-9_\-:]{100,4096}")
MAX_APP_ID = 200


class DeviceError(ValueError):
    """A device token or platform of the wrong shape; `field` names it as the client sent it."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class DeviceToken:
    """One app install's push address: the platform, its token (APNs: lower-case hex) and the app it belongs to."""

    platform: Platform
    token: str
    app_id: str | None = None


def normalize_platform(value: Any, field: str = "context.device.type") -> Platform:
    """`ios` / `android` (Segment's `context.device.type`; `iOS`, `iPadOS` and `ANDROID` are SDK variants)."""
    text = value.strip().lower() if isinstance(value, str) else ""
    if text in ("ios", "ipados"):
        return "ios"
    if text == "android":
        return "android"
    raise DeviceError(field, f"{field} must be one of {list(PLATFORMS)} for a push token, not {value!r}")


def validate_token(platform: Platform, value: Any, field: str = "context.device.token") -> str:
    """The token in its canonical form, or DeviceError naming `field`."""
    if not isinstance(value, str) or not value.strip():
        raise DeviceError(field, f"{field} must be a non-empty string")
    token = value.strip()
    if platform == "ios":
        token = token.lower()
        if not _APNS_TOKEN.fullmatch(token):
            raise DeviceError(field, f"{field} is not an APNs device token (64 hexadecimal characters)")
        return token
    if not _FCM_TOKEN.fullmatch(token):
        raise DeviceError(field, f"{field} is not an FCM registration token (100-4096 of A-Z a-z 0-9 _ - :)")
    return token


def app_id_from(context: dict[str, Any]) -> str | None:
    """The app a token belongs to: `context.app.namespace` (bundle id / package name), else its name."""
    app = context.get("app")
    if not isinstance(app, dict):
        return None
    for key in ("namespace", "name"):
        value = app.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()[:MAX_APP_ID]
    return None


def device_from_context(context: dict[str, Any]) -> DeviceToken | None:
    """The push device an event's context names, None when it carries no token; DeviceError when it is malformed."""
    device = context.get("device")
    if not isinstance(device, dict) or device.get("token") in (None, ""):
        return None
    platform = normalize_platform(device.get("type"))
    return DeviceToken(platform, validate_token(platform, device.get("token")), app_id_from(context))
