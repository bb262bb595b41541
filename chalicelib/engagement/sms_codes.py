"""SMS consent by confirmation code, the pure rules: the code, its keyed hash, the number's key, what a body may hold.

A browser's `SMS Subscribed` proves nothing (tracking/trust.py), so a client source gets SMS consent only by showing
that it reads the number's texts: we send a random 6-digit code and the person types it back. The code is guessable
(10^6), so:

- only a keyed hash (HMAC-SHA256 under the link key) of the code is stored, bound to the request and the number:
  a copy of the table reveals no code, and a digest cannot be replayed for another request or number;
- a request allows MAX_ATTEMPTS tries in all, counted atomically before the compare, then it is void;
- a code lives CODE_TTL; a new request replaces the number's pending one (resetting the tries), so the per-number
  limit on requests (3 a day, the confirmation mails' limiter) bounds guessing to 15 tries a day: odds 1.5e-5;
- the compare is constant-time (`hmac.compare_digest`).

The number itself is looked up by a keyed hash too (`phone_tag`): phone numbers are few enough that a plain hash
could be reversed by enumeration. Rotating the current link key therefore voids codes pending at that moment (the
person asks for a new one); that is cheaper than trying every key on each attempt.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

CODE_DIGITS = 6
CODE_TTL = timedelta(minutes=10)
MAX_ATTEMPTS = 5
METHOD = "sms_code"


class SmsCodeError(ValueError):
    """A request the API refuses (4xx): `code` is the error code, `field` the offending body field."""

    def __init__(self, code: str, message: str, field: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field

    def to_dict(self) -> dict[str, str]:
        return {"error": self.code, "message": self.message, "field": self.field}


def new_code() -> str:
    """A uniformly random code of CODE_DIGITS digits, leading zeros kept (`secrets`, not `random`)."""
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def phone_tag(key: bytes, phone: str) -> str:
    """The key of a number's pending code: a keyed hash, so the table never holds the number in a reversible form."""
    return hmac.new(key, b"one2one-sms-phone\x1f" + phone.encode(), hashlib.sha256).hexdigest()[:32]


def code_digest(key: bytes, request_id: str, phone: str, code: str) -> str:
    """What is stored instead of the code: bound to the request and the number, under a purpose prefix so it can
    never stand for a link token's MAC made with the same key."""
    message = "\x1f".join(("one2one-sms-code", request_id, phone, code)).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def code_matches(key: bytes, request_id: str, phone: str, code: str, digest: str) -> bool:
    """Constant-time: the time taken says nothing about how many characters of a guess were right."""
    return hmac.compare_digest(code_digest(key, request_id, phone, code), digest)


def clean_code(value: object) -> str:
    """The typed code, spaces and dashes removed (`123 456`, `123-456`); raises SmsCodeError naming `code`. A JSON
    number is refused: it would lose the leading zeros."""
    if not isinstance(value, str):
        raise SmsCodeError("invalid_field", f"code must be a string of {CODE_DIGITS} digits", "code")
    code = value.replace(" ", "").replace("-", "")
    if len(code) != CODE_DIGITS or not code.isascii() or not code.isdigit():
        raise SmsCodeError("invalid_field", f"code must be {CODE_DIGITS} digits", "code")
    return code


def clean_destination(value: object, allowed_countries: frozenset[str]) -> str:
    """The number in E.164 when a text may go to it (valid, international form, an allowed country, no premium or
    shared-cost range); raises SmsCodeError naming `phone`."""
    from chalicelib.tracking.identity import clean_phone, sms_destination_problem

    phone = clean_phone(value)
    if phone is None:
        raise SmsCodeError(
            "invalid_field", "phone must be a valid number in international form (+<country code>...)", "phone"
        )
    problem = sms_destination_problem(phone, allowed_countries)
    if problem is not None:
        raise SmsCodeError("sms_destination_refused", problem, "phone")
    return phone
