"""Signed link tokens: round trip, tamper and truncation resistance, key rotation, purpose binding, expiry, links
already sent under either former scheme, and coupon codes."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.engagement.tokens import (
    InvalidToken,
    Keyring,
    LinkPayload,
    coupon_code,
    issue,
    keyring_from_signing_key,
    parse_keyring,
    verify,
)

K1 = b"k1-secret-0123456789abcdef-32byt"
K2 = b"k2-secret-fedcba9876543210-32byt"
RING = Keyring({"k2": K2, "k1": K1}, current="k2")
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."

ids = st.text(min_size=1, max_size=40)
urls = st.builds(lambda path: f"https://shop.example/{path}", st.text(max_size=60))
purposes = st.sampled_from(["open", "click", "unsub", "confirm"])


def click_token(ring: Keyring = RING) -> str:
    return issue(ring, "click", LinkPayload("m_1", "p_1", url="https://shop.example/p/42?utm_source=mail"))


# ------------------------------------------------------------------------------------------------ round trip


@given(purposes, ids, ids, urls, st.one_of(st.none(), ids), st.sampled_from([None, "email", "sms"]))
def test_issued_token_verifies_to_its_payload(purpose, message_id, profile_id, url, topic, channel) -> None:
    # GIVEN a payload  WHEN issued and verified for the same purpose  THEN the payload comes back unchanged
    payload = LinkPayload(message_id, profile_id, url=url, topic=topic, channel=channel)
    token = issue(RING, purpose, payload)
    back = verify(RING, token, purpose)
    assert back.message_id == message_id and back.profile_id == profile_id and back.topic == topic
    assert back.channel == channel
    assert back.url == (url if purpose == "click" else None)  # only clicks carry a URL


def test_token_is_url_safe_and_compact() -> None:
    token = issue(RING, "open", LinkPayload("m_0123456789abcdef", "p_0123456789abcdef"))
    assert set(token) <= set(B64_ALPHABET)
    assert token.startswith("k2.")
    assert len(token) < 100


# ------------------------------------------------------------------------------------------------ tampering


@settings(max_examples=300)
@given(st.data())
def test_any_single_character_change_fails(data) -> None:
    # GIVEN a genuine token  WHEN one character is replaced by any other character  THEN it no longer verifies
    token = click_token()
    index = data.draw(st.integers(min_value=0, max_value=len(token) - 1))
    replacement = data.draw(st.characters().filter(lambda c: c != token[index]))
    forged = token[:index] + replacement + token[index + 1 :]
    with pytest.raises(InvalidToken):
        verify(RING, forged, "click")


def test_every_single_alphabet_substitution_fails() -> None:
    # Exhaustive over the token alphabet: catches base64 spellings that decode to the same bytes.
    token = click_token()
    for index, original in enumerate(token):
        for char in B64_ALPHABET:
            if char != original:
                with pytest.raises(InvalidToken):
                    verify(RING, token[:index] + char + token[index + 1 :], "click")


def test_every_truncation_fails() -> None:
    token = click_token()
    for end in range(len(token)):
        with pytest.raises(InvalidToken):
            verify(RING, token[:end], "click")


@given(st.text(max_size=300))
def test_arbitrary_strings_raise_only_invalid_token(text: str) -> None:
    with pytest.raises(InvalidToken):
        verify(RING, text, "open")


@given(st.from_regex(r"k[12]\.[A-Za-z0-9_-]{2,80}\.[A-Za-z0-9_-]{22}", fullmatch=True))
def test_well_formed_but_unsigned_tokens_are_rejected(text: str) -> None:
    with pytest.raises(InvalidToken) as err:
        verify(RING, text, "click")
    assert err.value.reason == "bad_signature"


def test_non_string_input_is_invalid() -> None:
    with pytest.raises(InvalidToken):
        verify(RING, None, "open")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------ purpose, keys, expiry


def test_token_for_one_purpose_is_refused_for_another() -> None:
    # GIVEN an open-pixel token  WHEN presented to the unsubscribe endpoint  THEN it is refused
    token = issue(RING, "open", LinkPayload("m_1", "p_1"))
    with pytest.raises(InvalidToken) as err:
        verify(RING, token, "unsub")
    assert err.value.reason == "wrong_purpose"


def test_token_signed_with_old_key_verifies_while_the_key_is_kept() -> None:
    old_ring = Keyring({"k1": K1}, current="k1")
    token = click_token(old_ring)
    assert verify(RING, token, "click").message_id == "m_1"  # k1 still in the ring after rotation to k2


def test_token_replayed_after_its_key_is_retired_is_refused() -> None:
    # GIVEN a token signed with k1  WHEN k1 is removed from the keyring  THEN the token is refused
    token = click_token(Keyring({"k1": K1}, current="k1"))
    retired = Keyring({"k2": K2}, current="k2")
    with pytest.raises(InvalidToken) as err:
        verify(retired, token, "click")
    assert err.value.reason == "unknown_key"


def test_same_kid_with_another_secret_is_refused() -> None:
    token = click_token()
    other = Keyring({"k2": b"x" * 32}, current="k2")
    with pytest.raises(InvalidToken):
        verify(other, token, "click")


def test_expired_token_is_refused_and_live_one_accepted() -> None:
    expires = int((NOW + timedelta(days=30)).timestamp())
    token = issue(RING, "confirm", LinkPayload("m_1", "p_1", topic="news", expires_at=expires))
    assert verify(RING, token, "confirm", now=NOW).topic == "news"
    with pytest.raises(InvalidToken) as err:
        verify(RING, token, "confirm", now=NOW + timedelta(days=30))
    assert err.value.reason == "expired"


def test_token_with_expiry_fails_closed_without_a_clock() -> None:
    token = issue(RING, "confirm", LinkPayload("m_1", "p_1", expires_at=int(NOW.timestamp()) + 60))
    with pytest.raises(InvalidToken):
        verify(RING, token, "confirm")


def test_click_token_needs_a_url() -> None:
    with pytest.raises(ValueError):
        issue(RING, "click", LinkPayload("m_1", "p_1"))


# ------------------------------------------------------------------------------------------------ keyring config


def test_keyring_config_first_key_is_current() -> None:
    a, b = base64.b64encode(K2).decode(), base64.urlsafe_b64encode(K1).decode().rstrip("=")
    ring = parse_keyring(f" k2:{a} , k1:{b} ")
    assert ring.current == "k2"
    assert ring.keys == {"k2": K2, "k1": K1}


@pytest.mark.parametrize(
    "config",
    ["", "k1", "k1:", "k1:!!!!", "k1:" + base64.b64encode(b"short").decode(), "a.b:" + base64.b64encode(K1).decode()],
)
def test_bad_keyring_config_is_refused(config: str) -> None:
    with pytest.raises(ValueError):
        parse_keyring(config)


def test_duplicate_kid_is_refused_and_secret_never_echoed() -> None:
    secret = base64.b64encode(K1).decode()
    with pytest.raises(ValueError) as err:
        parse_keyring(f"k1:{secret},k1:{secret}")
    assert secret not in str(err.value)
    assert K1.decode() not in repr(RING)


# ------------------------------------------------------------------------------------------------ links already sent
# Written down from the code before the two schemes became one (commit 4e0a30b): delivery's `sign_token` made the
# unsubscribe / preference tokens, engagement's `issue` the open / click / confirm tokens. Both must keep verifying.

SIGNING_KEY = "test-signing-key"
LEGACY = {"k1": SIGNING_KEY}
# sign_token({"p": "p_1", "c": "email", "t": "cart_reminders", "m": "m0123456789abcdef01234567"}, SIGNING_KEY, "k1")
LEGACY_UNSUB = (
    "k1.eyJjIjoiZW1haWwiLCJtIjoibTAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2NyIsInAiOiJwXzEiLCJ0IjoiY2FydF9yZW1pbmRlcnMifQ"
    ".47nPr5Zqemh-0AVhgPnAAQ"
)
# sign_token({"p": "p_1", "c": "sms"}, SIGNING_KEY, "k1"): older tokens carry no message id
LEGACY_UNSUB_NO_MESSAGE = "k1.eyJjIjoic21zIiwicCI6InBfMSJ9.9cRDoIp-lYXVr8JAvGCEUQ"
# issue(<ring derived from SIGNING_KEY under k1>, ...)
SENT_OPEN = "k1.WyJvIiwibTAxMjMiLCJwXzEiXQ.0vEcgcSm7KfkNnlWr_bYFQ"
SENT_CLICK = "k1.WyJjIiwibTAxMjMiLCJwXzEiLCJodHRwczovL3Nob3AuZXhhbXBsZS9wLzQyP3g9MSJd.w2paS2Qg7TJYTtOoagKT0Q"
SENT_CONFIRM = "k1.WyJmIiwiczAxMjMiLCJwXzEiLG51bGwsbnVsbCwxODAwMDAwMDAwLCJlbWFpbCJd.xmJQ6MdyFyV0ZsoFBR9oHw"


def derived_ring() -> Keyring:
    ring = keyring_from_signing_key(SIGNING_KEY, "k1")
    assert ring is not None
    return ring


def test_unsubscribe_links_signed_by_the_retired_scheme_still_verify() -> None:
    # GIVEN unsubscribe tokens minted exactly as delivery's old sign_token did
    # WHEN verified for `unsub` with the signing key as legacy key  THEN their payload comes back
    payload = verify(derived_ring(), LEGACY_UNSUB, "unsub", legacy_keys=LEGACY)
    assert payload == LinkPayload("m0123456789abcdef01234567", "p_1", topic="cart_reminders", channel="email")
    older = verify(derived_ring(), LEGACY_UNSUB_NO_MESSAGE, "unsub", legacy_keys=LEGACY)
    assert older == LinkPayload("", "p_1", channel="sms")


def test_retired_scheme_tokens_verify_whatever_keyring_is_current() -> None:
    # Setting ONE2ONE_LINK_KEYS later does not break unsubscribe links mailed under the signing key alone.
    assert verify(RING, LEGACY_UNSUB, "unsub", legacy_keys=LEGACY).profile_id == "p_1"


def test_retired_scheme_tokens_are_refused_for_other_purposes_without_the_key_and_when_tampered() -> None:
    for purpose in ("open", "click", "confirm"):
        with pytest.raises(InvalidToken):
            verify(derived_ring(), LEGACY_UNSUB, purpose, legacy_keys=LEGACY)  # type: ignore[arg-type]
    with pytest.raises(InvalidToken):
        verify(derived_ring(), LEGACY_UNSUB, "unsub")  # no legacy keys configured
    with pytest.raises(InvalidToken):
        verify(derived_ring(), LEGACY_UNSUB, "unsub", legacy_keys={"k1": "other"})
    with pytest.raises(InvalidToken):
        verify(derived_ring(), LEGACY_UNSUB, "unsub", legacy_keys={"k2": SIGNING_KEY})  # unknown key id
    kid, body, mac = LEGACY_UNSUB.split(".")
    forged_body = LEGACY_UNSUB_NO_MESSAGE.split(".")[1]
    for forged in (f"{kid}.{forged_body}.{mac}", f"{kid}.{body}.ünïcødé", f"{kid}.{body}", LEGACY_UNSUB[:-1]):
        with pytest.raises(InvalidToken):
            verify(derived_ring(), forged, "unsub", legacy_keys=LEGACY)


def test_every_single_alphabet_substitution_of_a_retired_scheme_token_fails() -> None:
    for index, original in enumerate(LEGACY_UNSUB):
        for char in B64_ALPHABET:
            if char != original:
                with pytest.raises(InvalidToken):
                    verify(RING, LEGACY_UNSUB[:index] + char + LEGACY_UNSUB[index + 1 :], "unsub", legacy_keys=LEGACY)


def test_open_click_and_confirm_links_already_sent_still_verify() -> None:
    ring = derived_ring()
    assert verify(ring, SENT_OPEN, "open") == LinkPayload("m0123", "p_1")
    assert verify(ring, SENT_CLICK, "click").url == "https://shop.example/p/42?x=1"
    confirm = verify(ring, SENT_CONFIRM, "confirm", now=NOW)
    assert confirm == LinkPayload("s0123", "p_1", expires_at=1800000000, channel="email")


def test_the_one_scheme_still_issues_exactly_the_tokens_it_issued_before() -> None:
    ring = derived_ring()
    assert issue(ring, "open", LinkPayload("m0123", "p_1")) == SENT_OPEN
    assert issue(ring, "click", LinkPayload("m0123", "p_1", url="https://shop.example/p/42?x=1")) == SENT_CLICK


def test_unsubscribe_tokens_are_now_issued_by_the_one_scheme() -> None:
    # GIVEN the payload an unsubscribe link carries  WHEN issued  THEN it is a keyring token bound to `unsub`
    token = issue(RING, "unsub", LinkPayload("m_1", "p_1", topic="offers", channel="email"))
    assert token.startswith("k2.")
    assert verify(RING, token, "unsub") == LinkPayload("m_1", "p_1", topic="offers", channel="email")
    with pytest.raises(InvalidToken):
        verify(RING, token, "click")


def test_no_signing_key_means_no_keyring() -> None:
    assert keyring_from_signing_key("", "k1") is None


def test_coupon_codes_are_personal_stable_and_unchanged() -> None:
    code = coupon_code("loyal_thanks", "p_1", SIGNING_KEY)
    assert code == "5FRQ-AR4W-ORKI"  # codes already mailed stay valid: the derivation never changes
    assert code == coupon_code("loyal_thanks", "p_1", SIGNING_KEY)
    assert code != coupon_code("loyal_thanks", "p_2", SIGNING_KEY)
    assert coupon_code("loyal_thanks", "p_1", "") == "GXQA-EC5P-4EVF"
    assert len(code) == 14 and code.count("-") == 2
