"""Identity resolution rules: which profile a message belongs to, and how identities link and merge (pure)."""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from dataclasses import dataclass
from typing import Literal

IdentityKind = Literal["user", "email", "anon"]

# Values that SDKs and careless integrations send as ids; linking on them would glue strangers together.
JUNK_IDS = frozenset(
    {
        "",
        "null",
        "none",
        "nil",
        "undefined",
        "anonymous",
        "anon",
        "unknown",
        "0",
        "-1",
        "guest",
        "test",
        "n/a",
        "na",
        "[object object]",
        "false",
        "true",
        "nan",
    }
)


def clean_id(value: object) -> str | None:
    """Return a usable id string, or None for missing/junk values. Numbers are accepted as their string form."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        value = str(value)
    if not isinstance(value, str):
        return None
    value = value.strip()
    if value.lower() in JUNK_IDS or len(value) > 256:
        return None
    return value


def clean_email(value: object) -> str | None:
    """The one email normaliser: one address, lower-cased, or None.

    Syntax is checked by `email-validator` (a maintained implementation of RFC 5321/5322 addresses, no DNS lookups),
    after a cheap screen that refuses what can never be one address and could smuggle another recipient or a header
    into a mail: CR/LF and other control characters, commas, semicolons, spaces, angle brackets, more than one `@`.
    """
    if not isinstance(value, str):
        return None
    value = value.strip().lower()
    if not 3 <= len(value) <= 254 or value.count("@") != 1 or _NOT_IN_AN_ADDRESS.search(value):
        return None
    return _valid_address(value)


_NOT_IN_AN_ADDRESS = re.compile(r"[\s,;<>()\[\]\\\"]|[\x00-\x1f\x7f]")


@functools.lru_cache(maxsize=4096)
def _valid_address(value: str) -> str | None:
    from email_validator import EmailNotValidError, validate_email  # lazy: only where an email arrives

    try:
        checked = validate_email(value, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError:
        return None
    return checked.normalized.lower()


def identity_key(kind: IdentityKind, value: str) -> str:
    return f"{kind}:{value}"


ERASED = "erased"  # the profile id an erased identity resolves to: ingest drops its events, the fold never links it
ERASED_KEY_PREFIX = "h:"


def erased_identity_key(key: str, secret: str) -> str:
    """Where an erased identity's tombstone is kept: a keyed hash of its identity key (`user:...`, `email:...`), so a
    late event with the same id still resolves to `erased` but nothing is found by the raw id (GDPR art. 17)."""
    from chalicelib.shared.secrets import keyed_digest

    return ERASED_KEY_PREFIX + keyed_digest(secret, "identity", key)[:40]


UNLINKED_BUCKETS_HEX = 3  # 4096 index partitions: erasure reads 1/4096 of the unlinked events per identity key


def unlinked_bucket(key: str, secret: str) -> str:
    """The index partition (`profile_id`) of an event unlinked for Global Privacy Control: a keyed hash of the
    sender's identity key cut to 4096 values. Many visitors share one, so the table does not group a person's
    unlinked events (they stay unlinked), yet erasure knows which partition to read for each of the person's keys."""
    from chalicelib.shared.secrets import keyed_digest

    return "unlinked#h" + keyed_digest(secret, "unlinked", key)[:UNLINKED_BUCKETS_HEX]


def unlinked_tag(key: str, event_key: str, secret: str) -> str:
    """The flag that tells erasure which events of a bucket are the person's: a keyed hash of identity key and event
    key, different for every event, so it links nothing without the key and the identity."""
    from chalicelib.shared.secrets import keyed_digest

    return "ref:" + keyed_digest(secret, "unlinked-event", f"{key}#{event_key}")[:24]


def tombstone_read_on_miss(key: str) -> bool:
    """Whether ingest looks for an erased tombstone of this key when no record holds it. userIds and emails: a record
    exists for every one the fold has seen, so a miss is a first sighting (rare) and costs one more read then. Not
    anonymous ids: most anonymous visitors have no record (their profile id is derived from the id), so every one
    of their events would pay the read; erasure tombstones the profile `profile_id_for("anon", id)` instead, which
    the fold reads anyway and where it drops the event."""
    return not key.startswith("anon:")


def profile_id_for(kind: IdentityKind, value: str) -> str:
    """Deterministic profile id for an identity seen for the first time.

    Deterministic so that an anonymous visitor needs no identity record (ingest writes once), and concurrent first
    events from one visitor land on one profile without coordination.
    """
    digest = hashlib.sha256(identity_key(kind, value).encode()).digest()[:15]
    return "p_" + base64.b32encode(digest).decode().lower()


@dataclass(frozen=True)
class MessageIds:
    user_id: str | None
    email: str | None
    anonymous_id: str | None

    def identity_keys(self) -> list[str]:
        """Identity keys in priority order: userId > email > anonymousId."""
        out = []
        if self.user_id:
            out.append(identity_key("user", self.user_id))
        if self.email:
            out.append(identity_key("email", self.email))
        if self.anonymous_id:
            out.append(identity_key("anon", self.anonymous_id))
        return out

    def resolving_keys(self) -> list[str]:
        """The keys `resolve_profile_id` can read: what ingest looks up. A userId decides alone there, so a message
        carrying one reads one key instead of two or three (the email and device keys are linked by the fold, which
        reads them itself); without one, every key. Measured by bench/levers.py: 1.05 -> see the docs."""
        if self.user_id:
            return [identity_key("user", self.user_id)]
        return self.identity_keys()


def resolve_profile_id(ids: MessageIds, records: dict[str, str]) -> str:
    """Pick the profile for a message, given the identity records found for its keys (key -> profile id).

    A userId decides alone: a known user keeps their profile, a new one gets their own, so a shared device never
    glues two users together. Without a userId, a known email wins, then the device's (anonymous) profile, which an
    email is later attached to.
    """
    if ids.user_id:
        key = identity_key("user", ids.user_id)
        return records.get(key) or profile_id_for("user", ids.user_id)
    if ids.email:
        key = identity_key("email", ids.email)
        if key in records:
            return records[key]
    if ids.anonymous_id:
        key = identity_key("anon", ids.anonymous_id)
        return records.get(key) or profile_id_for("anon", ids.anonymous_id)
    assert ids.email, "a message always has userId or anonymousId"
    return profile_id_for("email", ids.email)


LinkAction = Literal["none", "attach", "merge", "repoint", "refuse"]


@dataclass(frozen=True)
class LinkDecision:
    action: LinkAction
    reason: str = ""


def decide_link(
    kind: IdentityKind,
    profile_user_id: str | None,
    profile_anon_count: int,
    other_profile_id: str | None,
    other_user_id: str | None,
    this_profile_id: str,
    max_anonymous_ids: int,
) -> LinkDecision:
    """Decide what to do when an event on `this_profile_id` carries an identity that currently resolves elsewhere.

    `other_profile_id` is where the identity resolves now (None: nowhere yet, i.e. no record and no existing
    deterministic profile). `other_user_id` is the userId of that other profile, if any.
    """
    if other_profile_id == this_profile_id:
        return LinkDecision("none")
    if other_profile_id is None:
        if kind == "anon" and profile_anon_count >= max_anonymous_ids:
            return LinkDecision("refuse", "anonymous_id_cap")
        return LinkDecision("attach")
    if other_user_id and profile_user_id and other_user_id != profile_user_id:
        # Two known people share a device (or an email): never merge them. The device follows its latest login.
        action: LinkAction = "repoint" if kind == "anon" else "refuse"
        return LinkDecision(action, "different_users")
    if kind == "anon" and profile_anon_count >= max_anonymous_ids:
        return LinkDecision("refuse", "anonymous_id_cap")
    return LinkDecision("merge")


def clean_phone(value: object) -> str | None:
    """The one phone normaliser: a valid number in E.164 (`+81...`), or None.

    Parsed by `phonenumbers` (Google's libphonenumber metadata, the lite build: no geocoder or carrier data). Only
    international form is accepted (a leading `+`): a browser's local number has no country we could trust.
    """
    if not isinstance(value, str) or not 5 <= len(value.strip()) <= 32:
        return None
    import phonenumbers  # lazy: only where a phone arrives or an SMS is about to go

    try:
        number = phonenumbers.parse(value.strip(), None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def sms_destination_problem(phone: str, allowed_countries: frozenset[str]) -> str | None:
    """Why an SMS must not go to `phone` (E.164): not a valid number, a country outside the allow-list, or a premium,
    shared-cost or personal/UAN/unknown range (the numbers that make a text cost its sender); None when it may."""
    import phonenumbers

    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return "not a phone number"
    if not phonenumbers.is_valid_number(number):
        return "not a valid phone number"
    region = phonenumbers.region_code_for_number(number)
    if region not in allowed_countries:
        return f"country {region} is not an allowed SMS destination"
    kind = phonenumbers.number_type(number)
    refused = {
        phonenumbers.PhoneNumberType.PREMIUM_RATE: "premium-rate",
        phonenumbers.PhoneNumberType.SHARED_COST: "shared-cost",
        phonenumbers.PhoneNumberType.PERSONAL_NUMBER: "personal-number",
        phonenumbers.PhoneNumberType.UAN: "universal-access",
        phonenumbers.PhoneNumberType.UNKNOWN: "unknown-range",
    }
    return f"{refused[kind]} numbers are refused" if kind in refused else None


_ID_FIELDS: dict[str, IdentityKind] = {
    "userId": "user",
    "user_id": "user",
    "anonymousId": "anon",
    "anonymous_id": "anon",
    "previousId": "anon",
    "previous_id": "anon",
}
_MAX_REF_DEPTH = 8


def person_refs(raw: object) -> set[str]:
    """Whose data a bad row holds: the identity keys (`user:`, `email:`, `anon:`) and profile ids (`profile:`) found
    anywhere in it, so erasure can find the row by the person's keys (`FailedEventStore.erase_person`).

    Bad rows are messages that failed validation (Segment fields), stored events that failed to fold (JSON text of a
    `TrackedEvent`: `user_id`, `profile_id`) and stream records (attribute-value maps `{"S": ...}`), so the walk
    reads ids under either spelling, unwraps `{"S": text}` and parses JSON text that looks like an object. Emails are
    taken from any `email` field (traits, context traits, properties)."""
    refs: set[str] = set()
    _collect_refs(raw, refs, 0)
    return refs


def _collect_refs(value: object, refs: set[str], depth: int) -> None:
    if depth > _MAX_REF_DEPTH:
        return
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{") and text.endswith("}"):
            import json

            try:
                parsed = json.loads(text)
            except (ValueError, RecursionError):  # a hostile body nested past the parser's recursion limit
                return
            _collect_refs(parsed, refs, depth + 1)
        return
    if isinstance(value, list):
        for item in value[:1000]:
            _collect_refs(item, refs, depth + 1)
        return
    if not isinstance(value, dict):
        return
    for name, inner in value.items():
        if isinstance(inner, dict) and len(inner) == 1 and isinstance(inner.get("S"), str):
            inner = inner["S"]  # a stream record's attribute value
        if name in _ID_FIELDS and (cleaned := clean_id(inner)) is not None:
            refs.add(identity_key(_ID_FIELDS[name], cleaned))
        elif name == "email" and (address := clean_email(inner)) is not None:
            refs.add(identity_key("email", address))
        elif name == "profile_id" and isinstance(inner, str) and inner.startswith("p_"):
            refs.add(f"profile:{inner}")
        else:
            _collect_refs(inner, refs, depth + 1)
