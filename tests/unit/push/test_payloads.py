"""Push payloads per platform (APNs, FCM v1 through SNS) and the 4 KB limits, at definition time and at send time."""

from __future__ import annotations

import json

import pytest

from chalicelib.definitions.exceptions import DefinitionInvalid
from chalicelib.delivery import templating
from chalicelib.delivery.adapters.sns_push import platform_of
from chalicelib.delivery.push import (
    MESSAGE_ID_KEY,
    PushSpec,
    PushTooLarge,
    RenderedPush,
    apns_payload,
    check_limits,
    fcm_payload,
    sns_message,
)

PUSH = RenderedPush(
    title="Your cart",
    body="2 items wait",
    deep_link="shop://cart",
    image_url="https://img.shop.example/c.png",
    badge=3,
    sound="default",
    data={"campaign": "cart"},
)


def test_apns_payload_has_the_alert_badge_sound_image_and_the_message_id() -> None:
    payload = apns_payload(PUSH, "m1")
    assert payload["aps"] == {
        "alert": {"title": "Your cart", "body": "2 items wait"},
        "badge": 3,
        "sound": "default",
        "mutable-content": 1,
    }
    assert payload["deep_link"] == "shop://cart" and payload["image_url"].endswith("c.png")
    assert payload["campaign"] == "cart" and payload[MESSAGE_ID_KEY] == "m1"


def test_apns_payload_without_image_is_not_mutable_and_custom_data_cannot_replace_aps() -> None:
    payload = apns_payload(RenderedPush(title="", body="hi", data={"aps": "x"}), "m1")
    assert payload["aps"] == {"alert": {"body": "hi"}}


def test_fcm_v1_message_has_notification_and_string_data_with_the_deep_link() -> None:
    message = fcm_payload(PUSH, "m1")["fcmV1Message"]["message"]
    assert message["notification"] == {"title": "Your cart", "body": "2 items wait", "image": PUSH.image_url}
    assert message["data"] == {"campaign": "cart", MESSAGE_ID_KEY: "m1", "deep_link": "shop://cart"}
    assert all(isinstance(v, str) for v in message["data"].values())


@pytest.mark.parametrize("platform", ["APNS", "APNS_SANDBOX", "GCM"])
def test_sns_message_structure_carries_the_endpoints_platform_key_as_a_json_string(platform: str) -> None:
    outer = json.loads(sns_message(PUSH, "m1", platform))
    assert set(outer) == {"default", platform}
    inner = json.loads(outer[platform])
    assert ("aps" in inner) == platform.startswith("APNS")


def test_platform_is_read_from_the_endpoint_arn() -> None:
    assert platform_of("arn:aws:sns:us-east-1:123456789012:endpoint/APNS_SANDBOX/one2one-push/abc") == "APNS_SANDBOX"


def test_a_payload_over_4kb_names_the_largest_field() -> None:
    with pytest.raises(PushTooLarge) as error:
        check_limits(RenderedPush(title="t", body="b", data={"blob": "x" * 4100}), texts={"push.data.blob": "x" * 4100})
    assert error.value.field == "push.data.blob" and "4096" in str(error.value)


def test_a_template_whose_push_is_over_the_limit_is_refused_at_definition_naming_the_field() -> None:
    with pytest.raises(DefinitionInvalid) as error:
        templating.parse_template({"push": {"title": "Sale", "body": "y" * 4000, "data": {"a": "z" * 300}}})
    assert error.value.path == "push.body"


def test_a_push_only_template_is_valid_and_serves_the_push_channel() -> None:
    doc = templating.parse_template({"push": {"title": "{{ greeting }}", "body": "Back in stock"}})
    assert templating.catalogue_channels({"t": doc}) == {"t": {"push"}}


def test_a_push_text_with_a_jinja_syntax_error_names_its_field() -> None:
    with pytest.raises(DefinitionInvalid) as error:
        templating.parse_template({"push": {"body": "{{ oops"}})
    assert error.value.path == "push.body"


def test_render_push_fills_the_texts_and_drops_a_non_http_image() -> None:
    catalogue = {
        "t": templating.TemplateSpec(push=PushSpec(title="{{ greeting }}", body="x", image_url="javascript:alert(1)"))
    }
    rendered = templating.render("t", {"traits": {"firstName": "Hana"}}, channel="push", catalogue=catalogue)
    assert rendered.push is not None and rendered.push.title == "Hi Hana," and rendered.push.image_url == ""
