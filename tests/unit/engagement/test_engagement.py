"""Machine vs human opens and clicks: Apple MPP, scanners, previews, proxies, timing and bursts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.engagement.classification import (
    APPLE_MPP,
    AUTOMATED_CLIENT,
    HEAD_REQUEST,
    IMAGE_PROXY,
    LINK_BURST,
    LINK_PREVIEW,
    MICROSOFT_SCANNER,
    NO_USER_AGENT,
    REASON_CODES,
    SECURITY_SCANNER,
    TOO_FAST,
    OpenRules,
    PriorClick,
    classify_click,
    classify_open,
)

DELIVERED = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
LATER = DELIVERED + timedelta(minutes=20)
HOME_IP = "203.0.113.7"
IPHONE_MAIL = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"
)
CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"
GMAIL_PROXY = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
YAHOO_PROXY = "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html"


def test_person_reading_later_on_a_phone_is_human() -> None:
    verdict = classify_open(IPHONE_MAIL, HOME_IP, DELIVERED, LATER)
    assert verdict.human and verdict.reason is None and verdict.via is None


@pytest.mark.parametrize(
    ("user_agent", "ip", "reason"),
    [
        ("Mozilla/5.0", HOME_IP, APPLE_MPP),  # MPP's bare user agent
        (" mozilla/5.0 ", HOME_IP, APPLE_MPP),
        (IPHONE_MAIL, "17.58.100.3", APPLE_MPP),  # Apple's network
        (IPHONE_MAIL, "::ffff:17.58.100.3", APPLE_MPP),  # IPv4-mapped behind a dual-stack balancer
        (CHROME, "40.107.12.1", MICROSOFT_SCANNER),  # Exchange Online Protection
        (CHROME, "2a01:111:f400::5", MICROSOFT_SCANNER),
        ("Microsoft Office Existence Discovery", HOME_IP, MICROSOFT_SCANNER),
        ("Mozilla/5.0 (compatible; Proofpoint URL Defense)", HOME_IP, SECURITY_SCANNER),
        ("Mimecast-Safe-Browse/1.0", HOME_IP, SECURITY_SCANNER),
        ("Barracuda Sentinel (EE)", HOME_IP, SECURITY_SCANNER),
        ("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", HOME_IP, LINK_PREVIEW),
        ("Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5", HOME_IP, LINK_PREVIEW),
        ("python-requests/2.32.3", HOME_IP, AUTOMATED_CLIENT),
        ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", HOME_IP, AUTOMATED_CLIENT),
        ("", HOME_IP, NO_USER_AGENT),
        (None, HOME_IP, NO_USER_AGENT),
    ],
)
def test_known_machines_are_machine_opens(user_agent, ip, reason) -> None:
    # GIVEN a fetch long after delivery  WHEN the agent or network is a known machine  THEN it is a machine open
    verdict = classify_open(user_agent, ip, DELIVERED, LATER)
    assert verdict.machine and not verdict.human
    assert verdict.reason == reason


def test_cubot_phone_is_not_a_bot() -> None:
    ua = "Mozilla/5.0 (Linux; Android 9; CUBOT X19) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile"
    assert classify_open(ua, HOME_IP, DELIVERED, LATER).human


@pytest.mark.parametrize(("user_agent", "via"), [(GMAIL_PROXY, "google"), (YAHOO_PROXY, "yahoo")])
def test_mailbox_image_proxies_fetch_for_a_reader_so_count_as_human(user_agent, via) -> None:
    verdict = classify_open(user_agent, "66.249.84.1", DELIVERED, LATER)
    assert verdict.human and verdict.via == via


def test_strict_rules_count_image_proxies_as_machine() -> None:
    verdict = classify_open(GMAIL_PROXY, "66.249.84.1", DELIVERED, LATER, rules=OpenRules(proxies_are_machine=True))
    assert verdict.machine and verdict.reason == IMAGE_PROXY and verdict.via == "google"


@pytest.mark.parametrize("seconds", [-1.0, 0.0, 1.5, 2.99])
def test_open_within_three_seconds_of_delivery_is_machine(seconds: float) -> None:
    verdict = classify_open(IPHONE_MAIL, HOME_IP, DELIVERED, DELIVERED + timedelta(seconds=seconds))
    assert verdict.machine and verdict.reason == TOO_FAST


def test_open_after_the_threshold_is_human_and_threshold_is_configurable() -> None:
    at = DELIVERED + timedelta(seconds=4)
    assert classify_open(IPHONE_MAIL, HOME_IP, DELIVERED, at).human
    assert classify_open(IPHONE_MAIL, HOME_IP, DELIVERED, at, rules=OpenRules(open_min_seconds=5)).machine


def test_sent_time_is_the_reference_until_the_delivery_notification_arrives() -> None:
    at = DELIVERED + timedelta(seconds=1)
    assert classify_open(IPHONE_MAIL, HOME_IP, None, at, sent_at=DELIVERED).reason == TOO_FAST
    assert classify_open(IPHONE_MAIL, HOME_IP, None, at).human  # nothing to compare with


def test_unparseable_ip_is_ignored() -> None:
    assert classify_open(IPHONE_MAIL, "not-an-ip", DELIVERED, LATER).human


def test_head_request_is_a_machine_click() -> None:
    verdict = classify_click(CHROME, HOME_IP, DELIVERED, LATER, "https://shop.example/a", method="HEAD")
    assert verdict.machine and verdict.reason == HEAD_REQUEST


def test_click_within_five_seconds_of_delivery_is_machine() -> None:
    url = "https://shop.example/a"
    assert classify_click(CHROME, HOME_IP, DELIVERED, DELIVERED + timedelta(seconds=4), url).reason == TOO_FAST
    assert classify_click(CHROME, HOME_IP, DELIVERED, DELIVERED + timedelta(seconds=6), url).human


def test_scanner_clicking_three_links_within_a_second_is_a_burst() -> None:
    # GIVEN two other links of the message clicked in the last second  WHEN a third one is clicked  THEN machine
    prior = [PriorClick("https://shop.example/a", LATER), PriorClick("https://shop.example/b", LATER)]
    verdict = classify_click(
        CHROME, HOME_IP, DELIVERED, LATER + timedelta(milliseconds=400), "https://shop.example/c", prior_clicks=prior
    )
    assert verdict.machine and verdict.reason == LINK_BURST


def test_every_link_clicked_within_a_second_is_a_burst_even_with_two_links() -> None:
    prior = [PriorClick("https://shop.example/a", LATER)]
    at = LATER + timedelta(milliseconds=300)
    assert classify_click(CHROME, HOME_IP, DELIVERED, at, "https://shop.example/b", prior_clicks=prior).human
    verdict = classify_click(
        CHROME, HOME_IP, DELIVERED, at, "https://shop.example/b", prior_clicks=prior, links_in_message=2
    )
    assert verdict.reason == LINK_BURST


def test_person_clicking_the_same_link_twice_or_slowly_is_human() -> None:
    prior = [
        PriorClick("https://shop.example/a", LATER),
        PriorClick("https://shop.example/a", LATER + timedelta(milliseconds=200)),
        PriorClick("https://shop.example/b", LATER - timedelta(seconds=30)),
    ]
    verdict = classify_click(
        CHROME, HOME_IP, DELIVERED, LATER + timedelta(milliseconds=500), "https://shop.example/a", prior_clicks=prior
    )
    assert verdict.human


@given(
    st.one_of(st.none(), st.text(max_size=200)),
    st.one_of(st.none(), st.text(max_size=45), st.ip_addresses().map(str)),
    st.floats(min_value=-3600, max_value=86400 * 30, allow_nan=False),
)
def test_classifier_is_total_and_reasons_are_known_codes(user_agent, ip, seconds) -> None:
    verdict = classify_open(user_agent, ip, DELIVERED, DELIVERED + timedelta(seconds=seconds))
    assert verdict.machine == (verdict.reason is not None)
    assert verdict.reason is None or verdict.reason in REASON_CODES
