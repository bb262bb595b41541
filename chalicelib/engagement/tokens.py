"""Signed link tokens, the one scheme for every link in our mail (open pixel, click, unsubscribe, confirm), and coupons.

Token format (URL-safe, no padding, three dot-separated parts):

    <kid>.<body>.<mac>

- `kid`: the id of the key that signed it (`[A-Za-z0-9_-]{1,16}`), so keys rotate: add a new key as current, keep the
  old one until links in mail already sent have aged out, then remove it and its tokens stop verifying.
- `body`: base64url of a compact JSON array `[purpose code, message id, profile id, url, topic, expires_at, channel]`
  (trailing nulls dropped). The click target URL is carried and signed in the token, so the redirect needs no lookup
  and cannot be turned into an open redirect.
- `mac`: base64url of HMAC-SHA256(key, "one2one/link/v1" NUL kid "." body), truncated to 128 bits. 128 bits is the
  usual truncation (RFC 2104 section 5, NIST SP 800-107 section 5.3.4) and an online forger gets one guess per request.

The MAC covers the exact characters of kid and body (not their decoded bytes), and the mac is compared as text, so any
change to any character fails, including base64 spellings that would decode to the same bytes.

Tokens are signed, not encrypted: anyone holding the link can read the message and profile ids. Never put an email
address or other personal data in a payload.

Links already sent keep working. Unsubscribe and preference links used to be signed by a second scheme (delivery's
`sign_token`: `<kid>.<base64url JSON object {"p","c","t","m"}>.<HMAC-SHA256(signing key, kid "." body)[:16]>`, the raw
signing key, no domain prefix). `verify(..., legacy_keys=...)` still accepts those for `unsub` only, and only when the
signing key that made them is configured; nothing issues them any more. Drop `legacy_keys` once that mail has aged out.
Since the switch, unsubscribe tokens follow the keyring like every other link: keep a retired key listed as long as
its unsubscribe links must work.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args

Purpose = Literal["open", "click", "unsub", "confirm"]
PURPOSES: tuple[str, ...] = get_args(Purpose)
_CODE = {"open": "o", "click": "c", "unsub": "u", "confirm": "f"}
_PURPOSE_OF = {code: purpose for purpose, code in _CODE.items()}

_DOMAIN = b"one2one/link/v1\x00"
_MAC_BYTES = 16
_KID = re.compile(r"[A-Za-z0-9_-]{1,16}")
_B64 = r"[A-Za-z0-9_-]"
_TOKEN = re.compile(rf"({_B64}{{1,16}})\.({_B64}{{2,}})\.({_B64}{{22}})")
MAX_TOKEN_LENGTH = 4096  # far above any real link; bounds the work an attacker can ask for
MIN_KEY_BYTES = 16
_FIELDS = 7  # purpose code + the LinkPayload fields, in declaration order


class InvalidToken(ValueError):
    """The token is malformed, forged, truncated, signed by an unknown (retired) key, for another purpose or expired.

    `reason` is a short code for logs; never show it to the person clicking (it helps a forger)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"invalid link token: {reason}")


@dataclass(frozen=True)
class Keyring:
    """HMAC keys by key id; `current` signs new tokens, every key in `keys` verifies.

    Example:
        >>> ring = Keyring({"k2": b"n" * 32, "k1": b"o" * 32}, current="k2")
        >>> ring.current
        'k2'
    """

    keys: dict[str, bytes] = field(repr=False)
    current: str

    def __post_init__(self) -> None:
        if not self.keys:
            raise ValueError("keyring has no keys")
        for kid, secret in self.keys.items():
            if not _KID.fullmatch(kid):
                raise ValueError(f"key id {kid!r} must match [A-Za-z0-9_-]{{1,16}}")
            if len(secret) < MIN_KEY_BYTES:  # never echo the secret itself
                raise ValueError(f"key {kid!r} is shorter than {MIN_KEY_BYTES} bytes")
        if self.current not in self.keys:
            raise ValueError(f"current key id {self.current!r} is not in the keyring")


def parse_keyring(config: str) -> Keyring:
    """A keyring from `"k2:<base64 secret>,k1:<base64 secret>"`; the first key is current.

    Secrets may be standard or URL-safe base64, with or without padding; whitespace around entries is ignored.
    Raises ValueError (without the secret in the message) on a malformed entry, a duplicate kid or a short key.
    Example: `parse_keyring(os.environ["ONE2ONE_LINK_KEYS"])` in the composition root (generate a secret with
    `python -c "import secrets,base64;print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())"`).
    """
    keys: dict[str, bytes] = {}
    for position, entry in enumerate(part.strip() for part in config.split(",")):
        if not entry:
            continue
        kid, sep, encoded = entry.partition(":")
        kid = kid.strip()
        if not sep or not encoded.strip():
            raise ValueError(f"keyring entry {position + 1} must be kid:base64secret")
        if kid in keys:
            raise ValueError(f"duplicate key id {kid!r}")
        keys[kid] = _decode_secret(encoded.strip(), kid)
    if not keys:
        raise ValueError("keyring config is empty")
    return Keyring(keys, current=next(iter(keys)))


def _decode_secret(encoded: str, kid: str) -> bytes:
    normalized = encoded.replace("+", "-").replace("/", "_").rstrip("=")
    if not re.fullmatch(r"[A-Za-z0-9_-]+", normalized):
        raise ValueError(f"key {kid!r} is not base64")
    try:
        return base64.urlsafe_b64decode(normalized + "=" * (-len(normalized) % 4))
    except (binascii.Error, ValueError):
        raise ValueError(f"key {kid!r} is not base64") from None


@dataclass(frozen=True)
class LinkPayload:
    """What a token binds besides its purpose.

    `url` is the click target (required for `click`, ignored otherwise). `topic` narrows an `unsub` / `confirm` link to
    a preference-centre topic (None: the whole channel). `expires_at` is a Unix time in seconds (None: no expiry;
    unsubscribe links must keep working long after the send, so they normally have none). `channel` (`email`, `sms`)
    says what an `unsub` / `confirm` link is about, so the endpoint needs no message lookup."""

    message_id: str
    profile_id: str
    url: str | None = None
    topic: str | None = None
    expires_at: int | None = None
    channel: str | None = None


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, kid: str, body: str) -> str:
    digest = hmac.new(key, _DOMAIN + kid.encode("ascii") + b"." + body.encode("ascii"), hashlib.sha256).digest()
    return _b64(digest[:_MAC_BYTES])


def issue(keyring: Keyring, purpose: Purpose, payload: LinkPayload) -> str:
    """A token for `purpose` signed with the keyring's current key.

    Raises ValueError for an unknown purpose or a click without a URL.
    Example:
        token = issue(ring, "click", LinkPayload("m_1", "p_1", url="https://shop.example/p/42"))
        redirect_url = f"{base}/l/{token}"
    """
    if purpose not in _CODE:
        raise ValueError(f"unknown token purpose {purpose!r}")
    if purpose == "click" and not payload.url:
        raise ValueError("a click token needs the target url")
    fields: list[Any] = [
        _CODE[purpose],
        payload.message_id,
        payload.profile_id,
        payload.url if purpose == "click" else None,
        payload.topic,
        payload.expires_at,
        payload.channel,
    ]
    while fields[-1] is None:  # shorter links; positions stay fixed so decoding is unambiguous
        fields.pop()
    body = _b64(json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    kid = keyring.current
    return f"{kid}.{body}.{_mac(keyring.keys[kid], kid, body)}"


def keyring_from_signing_key(signing_key: str, key_id: str) -> Keyring | None:
    """The keyring of a deployment configured with the signing key only: one link key derived from it (never the
    signing key itself) under `key_id`. None when there is no signing key (links cannot be signed)."""
    if not signing_key:
        return None
    derived = hmac.new(signing_key.encode(), b"one2one/link-keys/v1", hashlib.sha256).digest()
    return Keyring({key_id: derived}, current=key_id)


def verify(
    keyring: Keyring,
    token: str,
    purpose: Purpose,
    *,
    now: datetime | None = None,
    legacy_keys: Mapping[str, str] | None = None,
) -> LinkPayload:
    """The payload of a genuine, unexpired `purpose` token; anything else raises InvalidToken (and only InvalidToken).

    `now` is needed only for tokens that carry an expiry; such a token is rejected when `now` is missing (fail closed).
    `legacy_keys` (key id -> signing key) also accepts unsubscribe tokens of the retired scheme (see the module doc).
    Example:
        payload = verify(ring, token, "click", now=clock.now())
    """
    try:
        return _verify(keyring, token, purpose, now)
    except InvalidToken:
        if purpose == "unsub" and legacy_keys:
            payload = _verify_legacy_unsubscribe(token, legacy_keys)
            if payload is not None:
                return payload
        raise


def _verify(keyring: Keyring, token: str, purpose: Purpose, now: datetime | None) -> LinkPayload:
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidToken("malformed")
    match = _TOKEN.fullmatch(token)
    if match is None:
        raise InvalidToken("malformed")
    kid, body, mac = match.groups()
    key = keyring.keys.get(kid)
    if key is None:
        raise InvalidToken("unknown_key")  # never issued by us, or signed by a key that has been retired
    if not hmac.compare_digest(_mac(key, kid, body).encode("ascii"), mac.encode("ascii")):
        raise InvalidToken("bad_signature")
    fields = _decode_body(body)  # authentic from here on: we signed it; still checked in case of a format change
    if _PURPOSE_OF.get(fields[0]) != purpose:
        raise InvalidToken("wrong_purpose")
    payload = LinkPayload(*fields[1:])
    if payload.expires_at is not None:
        if now is None:
            raise InvalidToken("expiry_unchecked")
        if now.timestamp() >= payload.expires_at:
            raise InvalidToken("expired")
    if purpose == "click" and not payload.url:
        raise InvalidToken("malformed")
    return payload


def _decode_body(body: str) -> list[Any]:
    try:
        fields = json.loads(_unb64(body).decode("utf-8"))
    except (ValueError, binascii.Error):
        raise InvalidToken("malformed") from None
    if not isinstance(fields, list) or not 3 <= len(fields) <= _FIELDS:
        raise InvalidToken("malformed")
    fields += [None] * (_FIELDS - len(fields))
    code, message_id, profile_id, url, topic, expires_at, channel = fields
    texts_ok = all(isinstance(v, str) for v in (code, message_id, profile_id))
    optional_ok = all(v is None or isinstance(v, str) for v in (url, topic, channel))
    expiry_ok = expires_at is None or (isinstance(expires_at, int) and not isinstance(expires_at, bool))
    if not (texts_ok and optional_ok and expiry_ok):
        raise InvalidToken("malformed")
    return fields


def _verify_legacy_unsubscribe(token: str, keys: Mapping[str, str]) -> LinkPayload | None:
    """An unsubscribe token of the retired scheme, checked exactly as it was signed; None when it is not one."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
        return None
    try:
        kid, body, mac = token.split(".")
        key = keys[kid]
    except (ValueError, KeyError):
        return None
    expected = _b64(hmac.new(key.encode(), f"{kid}.{body}".encode(), hashlib.sha256).digest()[:_MAC_BYTES])
    if not key or not hmac.compare_digest(expected.encode(), mac.encode("utf-8", "replace")):
        return None
    try:
        fields = json.loads(_unb64(body))
    except (ValueError, binascii.Error):
        return None
    if not isinstance(fields, dict):
        return None
    profile_id, channel, topic, message_id = (fields.get(k) for k in ("p", "c", "t", "m"))
    optional_ok = all(v is None or isinstance(v, str) for v in (channel, topic, message_id))
    if not isinstance(profile_id, str) or not optional_ok:
        return None
    # Tokens older than the message id field carry none: "" (no report row to count the unsubscribe on).
    return LinkPayload(message_id or "", profile_id, topic=topic, channel=channel)


def coupon_code(scenario_id: str, profile_id: str, key: str) -> str:
    """A personal code, the same every time for (scenario, profile), unguessable without the key: `XXXX-XXXX-XXXX`.

    Codes already mailed must stay valid, so the derivation never changes (`tests/unit/test_link_tokens.py` pins it)."""
    digest = hmac.new(key.encode() or b"-", f"coupon:{scenario_id}:{profile_id}".encode(), hashlib.sha256).digest()
    code = base64.b32encode(digest).decode().replace("=", "")[:12]
    return "-".join(code[i : i + 4] for i in range(0, 12, 4))
