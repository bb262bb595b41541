"""In-app message definitions are validated when saved: the field that is wrong is named, sizes are bounded, and
no URL can run script."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.definitions import DefinitionInvalid
from chalicelib.inapp import packaged_message_bodies, parse_message
from chalicelib.inapp.model import MAX_DEFINITION_BYTES


def banner(**extra: Any) -> dict[str, Any]:
    return {"id": "sale", "kind": "banner", "title": "Sale", "body": "20% off", **extra}


def refused(body: dict[str, Any]) -> DefinitionInvalid:
    with pytest.raises(DefinitionInvalid) as caught:
        parse_message(body)
    return caught.value


def test_the_packaged_messages_are_valid() -> None:
    messages = {mid: parse_message(body) for mid, body in packaged_message_bodies().items()}
    assert {m.kind for m in messages.values()} == {"banner", "modal", "card"}


def test_a_minimal_banner_is_accepted_and_its_view_carries_content_only() -> None:
    message = parse_message(banner(segment="vip", priority=5, buttons=[{"label": "Go", "url": "/sale"}]))
    assert message.view() == {
        "id": "sale",
        "kind": "banner",
        "priority": 5,
        "title": "Sale",
        "body": "20% off",
        "buttons": [{"label": "Go", "url": "/sale", "action": "link"}],
    }


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (banner(kind="popup"), "kind"),
        (banner(title="x" * 121), "title"),
        (banner(body="x" * 1001), "body"),
        (banner(buttons=[{"label": "Go", "url": "javascript:alert(1)"}]), "buttons[0].url"),
        (banner(buttons=[{"label": "Go", "url": "JavaScript:alert(1)"}]), "buttons[0].url"),
        (banner(buttons=[{"label": "Go", "url": "data:text/html,<script>"}]), "buttons[0].url"),
        (banner(buttons=[{"label": "Go", "url": "//evil.example"}]), "buttons[0].url"),
        (banner(buttons=[{"label": "Go"}]), "buttons[0]"),
        (banner(buttons=[{"label": "a", "url": "/a"}] * 3), "buttons"),
        (banner(image_url="http://img.example/a.png"), "image_url"),
        (banner(priority=101), "priority"),
        (banner(frequency={"max_impressions": 0}), "frequency.max_impressions"),
        (banner(frequency={"max_impressions": 2, "per": "2 days"}), "frequency.per"),
        (banner(trigger={"event": "Product Viewed", "show_for": "forever"}), "trigger.show_for"),
        (banner(start_at="2026-01-01T00:00:00"), "start_at"),
        (banner(surprise=1), "surprise"),
    ],
)
def test_a_bad_field_is_refused_naming_it(body: dict[str, Any], path: str) -> None:
    assert refused(body).path == path


def test_shape_rules_are_refused_at_the_root() -> None:
    assert "placement" in refused(banner(kind="card")).message
    assert "placement" in refused(banner(placement="home")).message
    assert "end_at" in refused(banner(start_at="2026-02-01T00:00:00Z", end_at="2026-01-01T00:00:00Z")).message
    assert "title" in refused({"id": "x", "kind": "modal"}).message


def test_a_definition_over_the_size_limit_is_refused_whole() -> None:
    error = refused(banner(custom={f"k{n}": "v" * 200 for n in range(50)}))
    assert error.path == "" and str(MAX_DEFINITION_BYTES) in error.message


def test_app_deep_links_and_site_paths_are_accepted() -> None:
    buttons = [{"label": "Open", "url": "myshop://product/42"}, {"label": "Web", "url": "https://shop.example/x"}]
    assert len(parse_message(banner(buttons=buttons)).buttons) == 2
