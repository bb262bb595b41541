"""LinkSettings: the links delivery puts in a message, all signed by the one token scheme, keys read at first use."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib.engagement import tokens as lt
from chalicelib.engagement.links import LinkSettings

RING = lt.Keyring({"k1": b"k1-secret-0123456789abcdef-32byt"}, current="k1")


NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def settings(ring: lt.Keyring | None = RING, reads: list[str] | None = None) -> LinkSettings:
    def keyring() -> lt.Keyring | None:
        (reads if reads is not None else []).append("keyring")
        return ring

    return LinkSettings("https://shop.example", "unsubscribe@shop.example", keyring=keyring, signing_key=lambda: "sk")


def test_building_the_settings_reads_no_key_and_never_prints_one() -> None:
    reads: list[str] = []
    links = settings(reads=reads)
    assert reads == []
    assert "sk" not in repr(links) and "secret" not in repr(links)


def test_unsubscribe_links_and_headers_carry_one_unsub_token() -> None:
    links = settings()
    token = links.unsubscribe_token("p_1", "email", "offers", "m_1")
    assert lt.verify(RING, token, "unsub") == lt.LinkPayload("m_1", "p_1", topic="offers", channel="email")
    assert links.unsubscribe_url(token) == f"https://shop.example/u/{token}"
    assert links.preferences_url(token) == f"https://shop.example/preferences/{token}"
    assert links.list_unsubscribe_headers(token) == {
        "List-Unsubscribe": f"<https://shop.example/u/{token}>, <mailto:unsubscribe@shop.example?subject={token}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    assert lt.verify(RING, links.unsubscribe_token("p_1", "sms", None, "m_2"), "unsub").topic is None


def test_no_signing_key_means_no_unsubscribe_link_and_no_tracking() -> None:
    links = settings(ring=None)
    assert not links.tracking()
    with pytest.raises(ValueError, match="ONE2ONE_SIGNING_KEY"):
        links.unsubscribe_token("p_1", "email", None, "m_1")


def test_tracked_html_signs_clicks_and_adds_the_pixel_but_keeps_unsubscribe_direct() -> None:
    links = settings()
    html = '<a href="https://shop.example/p/1">x</a><a href="https://shop.example/u/t">u</a></body>'
    out = links.track_links(html, "p_1", "m_1", NOW)
    assert 'href="https://shop.example/u/t"' in out and "https://shop.example/t/c/k1." in out
    assert out.index("/t/o/k1.") < out.index("</body>")


def test_click_and_open_links_expire_after_the_configured_lifetime_and_unsubscribe_never_does() -> None:
    from datetime import timedelta

    from chalicelib.engagement import tokens as lt

    links = settings()
    out = links.track_links('<a href="https://shop.example/p/1">x</a>', "p_1", "m_1", NOW)
    click = out.split("/t/c/", 1)[1].split('"', 1)[0]
    ring = links.keyring()
    assert ring is not None
    assert lt.verify(ring, click, "click", now=NOW + timedelta(days=89)).url == "https://shop.example/p/1"
    with pytest.raises(lt.InvalidToken) as expired:
        lt.verify(ring, click, "click", now=NOW + timedelta(days=90))
    assert expired.value.reason == "expired"
    unsubscribe = links.unsubscribe_token("p_1", "email", None, "m_1")
    assert lt.verify(ring, unsubscribe, "unsub", now=NOW + timedelta(days=3650)).profile_id == "p_1"


def test_coupon_codes_use_the_signing_key() -> None:
    assert settings().coupon_code("loyal_thanks", "p_1") == lt.coupon_code("loyal_thanks", "p_1", "sk")
