"""SMS confirmation codes, the pure rules: random codes, keyed digests bound to request and number, clean input."""

from __future__ import annotations

from collections import Counter

import pytest

from chalicelib.engagement import sms_codes as rules

KEY = b"k" * 32
OTHER_KEY = b"o" * 32
PHONE = "+14155550123"
COUNTRIES = frozenset({"US", "GB", "JP"})


def test_codes_are_six_digits_with_leading_zeros_kept_and_spread_over_all_digits() -> None:
    codes = [rules.new_code() for _ in range(3000)]
    assert all(len(c) == 6 and c.isdigit() for c in codes)
    assert len(set(codes)) > 2900  # 3000 draws from 10^6: a handful of repeats at most
    firsts = Counter(c[0] for c in codes)
    assert set(firsts) == set("0123456789")  # a leading 0 is as likely as any digit (not int formatting lost)


def test_the_digest_never_contains_the_code_and_depends_on_key_request_and_number() -> None:
    digest = rules.code_digest(KEY, "v1", PHONE, "012345")
    assert "012345" not in digest and len(digest) == 64
    assert rules.code_matches(KEY, "v1", PHONE, "012345", digest)
    assert not rules.code_matches(KEY, "v1", PHONE, "012346", digest)
    assert not rules.code_matches(OTHER_KEY, "v1", PHONE, "012345", digest)  # a table copy alone checks nothing
    assert not rules.code_matches(KEY, "v2", PHONE, "012345", digest)  # not replayable for another request
    assert not rules.code_matches(KEY, "v1", "+14155550124", "012345", digest)  # nor another number


def test_the_phone_tag_is_keyed_and_stable() -> None:
    assert rules.phone_tag(KEY, PHONE) == rules.phone_tag(KEY, PHONE)
    assert rules.phone_tag(KEY, PHONE) != rules.phone_tag(OTHER_KEY, PHONE)
    assert PHONE[1:] not in rules.phone_tag(KEY, PHONE)


@pytest.mark.parametrize("typed", ["012345", " 012 345 ", "012-345"])
def test_a_typed_code_is_read_without_spaces_and_dashes(typed: str) -> None:
    assert rules.clean_code(typed) == "012345"


@pytest.mark.parametrize("typed", [12345, "12345", "1234567", "12a456", "١٢٣٤٥٦", None, ""])
def test_a_code_that_is_not_six_ascii_digits_is_refused_naming_the_field(typed: object) -> None:
    with pytest.raises(rules.SmsCodeError) as caught:
        rules.clean_code(typed)
    assert caught.value.to_dict()["field"] == "code"


def test_a_destination_is_e164_in_an_allowed_country() -> None:
    assert rules.clean_destination("+1 415 555 0123", COUNTRIES) == PHONE


@pytest.mark.parametrize(
    ("phone", "error"),
    [
        ("0415 555 0123", "invalid_field"),  # no country: a browser's local form
        ("+1 415 555", "invalid_field"),
        (None, "invalid_field"),
        ("+33 6 12 34 56 78", "sms_destination_refused"),  # FR: not in this allow-list
        ("+44 909 876 5432", "sms_destination_refused"),  # UK premium rate
    ],
)
def test_a_number_a_code_must_not_go_to_is_refused_naming_the_field(phone: object, error: str) -> None:
    with pytest.raises(rules.SmsCodeError) as caught:
        rules.clean_destination(phone, COUNTRIES)
    assert caught.value.to_dict()["error"] == error and caught.value.field == "phone"
