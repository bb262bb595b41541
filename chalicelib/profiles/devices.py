"""A person's push devices on the profile: recorded by the fold, united by merges, and the push consent they imply.

Where a token lives: on the profile (`Profile.devices`, token -> `Device`), written only by the fold, so tokens move
with identity merges like every other trait (`merge_devices`), and a send reads them with the profile it already has.
What SNS knows about a token (its platform endpoint ARN, and whether it was retired) is delivery's record, kept in the
MessagesTable (delivery/push.py): the fold never waits on SNS.

Push consent is the app's notification permission, per device: `Device Registered` (`properties.enabled`) and the
`Push Notifications Enabled` / `Push Notifications Disabled` tracks set it for the token in `context.device.token`
(for every device of the person when the event names none). `consent.push` is derived from the devices: opted in while
at least one live device has permission, opted out once every reported one has withdrawn it. A token never reported
either way counts as unknown, so marketing push skips it (opt-in); transactional push goes to any live device whose
permission was not withdrawn.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from chalicelib.profiles.model import Consent, Device
from chalicelib.tracking.devices import DeviceError, device_from_context
from chalicelib.tracking.events import iso

if TYPE_CHECKING:
    from chalicelib.profiles.model import Profile
    from chalicelib.tracking.events import TrackedEvent

MAX_DEVICES = 10  # the most recently seen tokens are kept; an eleventh install retires the oldest from the profile
REGISTERED = "Device Registered"
UNREGISTERED = "Device Unregistered"
PERMISSION_EVENTS: dict[str, bool] = {"Push Notifications Enabled": True, "Push Notifications Disabled": False}
DEVICE_EVENTS = (REGISTERED, UNREGISTERED, *PERMISSION_EVENTS)


def record_device(p: Profile, event: TrackedEvent, ts: float) -> bool:
    """Apply one event's `context.device` token and, for the device events, its permission or removal.
    Returns True when the devices changed."""
    try:
        named = device_from_context(event.context) if event.context else None
    except DeviceError:
        named = None  # validated at ingest; an imported or replayed malformed token is ignored, never fatal
    name = event.event if event.type == "track" else None
    changed = False
    if named is not None:
        device = p.devices.get(named.token)
        if device is None:
            device = p.devices[named.token] = Device(platform=named.platform, app=named.app_id, at=ts)
            changed = True
        elif ts > device.at:
            device.at = ts
            if named.app_id and named.app_id != device.app:
                device.app = named.app_id
            changed = True
    if name not in DEVICE_EVENTS:
        if changed:
            _cap(p)
        return changed
    targets = [p.devices[named.token]] if named is not None else list(p.devices.values())
    for device in targets:
        if name == UNREGISTERED:
            if ts > device.removed_at:
                device.removed_at = ts
                changed = True
            continue
        enabled = PERMISSION_EVENTS.get(name or "")
        if enabled is None:  # Device Registered: the permission as the app reported it, when it did
            reported = event.properties.get("enabled")
            enabled = reported if isinstance(reported, bool) else None
        if enabled is not None and ts >= device.permission_at:
            device.enabled, device.permission_at = enabled, ts
            changed = True
    if changed:
        _cap(p)
    return changed


def _cap(p: Profile) -> None:
    if len(p.devices) > MAX_DEVICES:
        newest = sorted(p.devices.items(), key=lambda kv: (kv[1].at, kv[0]), reverse=True)[:MAX_DEVICES]
        p.devices = dict(newest)


def is_live(device: Device) -> bool:
    """Not unregistered since it was last named."""
    return device.at > device.removed_at


def derive_push_consent(p: Profile) -> None:
    """`consent.push` from the devices' permissions (see the module docstring). Left alone while none reported."""
    reported = [d for d in p.devices.values() if d.enabled is not None and is_live(d)]
    if not reported:
        return
    latest = max(d.permission_at for d in reported)
    status: Literal["opted_in", "opted_out"] = "opted_in" if any(d.enabled for d in reported) else "opted_out"
    current = p.consent.get("push")
    if current is None or current.status != status:
        p.consent["push"] = Consent(status=status, at=iso_at(latest), source="device")


def iso_at(ts: float) -> str:
    from datetime import UTC, datetime

    return iso(datetime.fromtimestamp(ts, UTC))


def merge_devices(winner: Profile, loser: Profile) -> None:
    """Unite the loser's tokens into the winner's (same token: each fact from the later event), then re-derive."""
    for token, theirs in loser.devices.items():
        mine = winner.devices.get(token)
        if mine is None:
            winner.devices[token] = Device(**{f: getattr(theirs, f) for f in theirs.__struct_fields__})
            continue
        if theirs.at > mine.at:
            mine.at, mine.platform, mine.app = theirs.at, theirs.platform, theirs.app or mine.app
        if theirs.permission_at > mine.permission_at:
            mine.enabled, mine.permission_at = theirs.enabled, theirs.permission_at
        mine.removed_at = max(mine.removed_at, theirs.removed_at)
    _cap(winner)
    derive_push_consent(winner)


def push_targets(profile: Mapping[str, Any], *, marketing: bool) -> list[dict[str, Any]]:
    """The devices a push goes to, from a profile dict (as delivery reads it): live, and with permission
    (marketing) or at least not withdrawn (transactional). Newest first; `token` added to each."""
    devices = profile.get("devices")
    if not isinstance(devices, dict):
        return []
    out = []
    for token, device in devices.items():
        if not isinstance(device, dict) or float(device.get("at", 0)) <= float(device.get("removed_at", 0)):
            continue
        enabled = device.get("enabled")
        if enabled is False or (marketing and enabled is not True):
            continue
        out.append({**device, "token": token})
    return sorted(out, key=lambda d: (-float(d.get("at", 0)), d["token"]))
