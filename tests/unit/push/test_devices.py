"""Push devices: token shapes per platform, the fold's device records, push consent, and tokens moving with merges."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from chalicelib.profiles import codec
from chalicelib.profiles.config import ProfileConfig
from chalicelib.profiles.devices import push_targets
from chalicelib.profiles.fold import fold
from chalicelib.profiles.merge import merge_profiles
from chalicelib.profiles.model import as_dict
from chalicelib.tracking.devices import DeviceError, device_from_context, validate_token
from chalicelib.tracking.validation import MessageError, validate_message
from tests.factories import tracked_event

APNS = "a1" * 32
APNS_2 = "b2" * 32
FCM = "cXk1:APA91b" + "Z" * 140
NOW = datetime(2026, 3, 3, tzinfo=UTC)


def app_context(token: str = APNS, kind: str = "ios") -> dict[str, object]:
    return {"device": {"token": token, "type": kind, "id": "d1"}, "app": {"namespace": "com.shop.app", "name": "Shop"}}


class TestTokenShapes:
    def test_apns_token_is_64_hex_and_canonical_lower_case(self) -> None:
        assert validate_token("ios", APNS.upper()) == APNS

    @pytest.mark.parametrize("token", ["a1" * 31, "zz" * 32, "a1b2-c3", APNS + "f"])
    def test_malformed_apns_token_names_the_field(self, token: str) -> None:
        with pytest.raises(DeviceError) as error:
            validate_token("ios", token)
        assert error.value.field == "context.device.token"

    def test_fcm_registration_token_accepted_and_apns_shape_refused_on_android(self) -> None:
        assert validate_token("android", FCM) == FCM
        with pytest.raises(DeviceError):
            validate_token("android", APNS)  # 64 characters: far shorter than any FCM token
        with pytest.raises(DeviceError):
            validate_token("android", FCM + " ; drop")

    def test_unknown_platform_names_the_type_field(self) -> None:
        with pytest.raises(DeviceError) as error:
            device_from_context({"device": {"token": APNS, "type": "windows"}})
        assert error.value.field == "context.device.type"

    def test_a_device_without_a_token_is_no_push_device(self) -> None:
        assert device_from_context({"device": {"type": "ios", "id": "x"}}) is None

    def test_event_with_a_bad_token_is_rejected_naming_the_field(self) -> None:
        message = {"type": "track", "event": "App Opened", "userId": "u1", "context": app_context("nothex")}
        with pytest.raises(MessageError) as error:
            validate_message(message)
        assert error.value.field == "context.device.token"

    def test_event_token_is_stored_canonical(self) -> None:
        message = {"type": "track", "event": "App Opened", "userId": "u1", "context": app_context(APNS.upper())}
        assert validate_message(message).context["device"]["token"] == APNS


def _fold(events: list, profile=None):  # type: ignore[no-untyped-def]
    return fold(profile, "p_one", events, ProfileConfig(), NOW).profile


class TestFoldAndMerge:
    def test_any_event_with_a_token_records_the_device_and_permission_sets_push_consent(self) -> None:
        events = [
            tracked_event(1, event="App Opened", context=app_context()),
            tracked_event(2, event="Push Notifications Enabled", context=app_context()),
            tracked_event(3, event="App Opened", context=app_context(FCM, "android")),
        ]
        profile = _fold(events)
        assert set(profile.devices) == {APNS, FCM}
        assert profile.devices[APNS].app == "com.shop.app" and profile.devices[APNS].enabled is True
        assert profile.devices[FCM].platform == "android" and profile.devices[FCM].enabled is None
        assert profile.consent["push"].status == "opted_in"
        targets = push_targets(as_dict(profile), marketing=True)
        assert [t["token"] for t in targets] == [APNS]  # unknown permission: no marketing push
        assert {t["token"] for t in push_targets(as_dict(profile), marketing=False)} == {APNS, FCM}

    def test_permission_withdrawn_on_every_device_opts_push_out(self) -> None:
        events = [
            tracked_event(1, event="Push Notifications Enabled", context=app_context()),
            tracked_event(2, event="Push Notifications Disabled", context=app_context()),
        ]
        profile = _fold(events)
        assert profile.consent["push"].status == "opted_out"
        assert push_targets(as_dict(profile), marketing=False) == []

    def test_device_order_independent(self) -> None:
        events = [
            tracked_event(1, event="Device Registered", context=app_context(), properties={"enabled": True}),
            tracked_event(2, event="Push Notifications Disabled", context=app_context()),
            tracked_event(3, event="App Opened", context=app_context(APNS_2)),
            tracked_event(4, event="Device Unregistered", context=app_context(APNS_2)),
        ]
        expected = as_dict(_fold(events))["devices"]
        for seed in range(5):
            shuffled = events[:]
            random.Random(seed).shuffle(shuffled)
            assert as_dict(_fold(shuffled))["devices"] == expected
        assert push_targets({"devices": expected}, marketing=False) == []  # one withdrawn, one unregistered

    def test_tokens_move_with_an_identity_merge(self) -> None:
        phone = _fold([tracked_event(1, event="Push Notifications Enabled", context=app_context())])
        tablet = fold(
            None,
            "p_two",
            [tracked_event(2, "p_two", event="Push Notifications Enabled", context=app_context(APNS_2))],
            ProfileConfig(),
            NOW,
        ).profile
        merged = merge_profiles(tablet, phone, ProfileConfig(), NOW)
        assert set(merged.devices) == {APNS, APNS_2}
        assert merged.consent["push"].status == "opted_in"
        assert len(push_targets(as_dict(codec.decoded(merged)), marketing=True)) == 2
