"""SMS consent by confirmation code, the use case: send a code to a number, and opt the person in when it comes back.

`request` stores the pending request (a keyed hash of the code, never the code; see `sms_codes.py`) and sends the code
as a transactional text; `confirm` counts the attempt, compares, and on the right code records `SMS Subscribed` with
its provenance (source, requested_at, confirmed_at, method `sms_code`), written as a server fact so the fold applies
it, plus a direct preference so the next send sees the opt-in before the fold catches up.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from chalicelib.engagement import sms_codes as rules
from chalicelib.engagement import tokens as lt
from chalicelib.engagement.ports import EventWriter, SmsCodeStore, SmsSender
from chalicelib.engagement.recorder import CONFIRMATIONS_PER_ADDRESS, CONFIRMATIONS_PER_SOURCE, SUBSCRIBE_EVENTS
from chalicelib.shared.clock import Clock
from chalicelib.tracking.events import TrackedEvent, iso

log = logging.getLogger("one2one")

SOURCE_ID = "sms"  # the events this use case writes are keyed `sms#<id>`, apart from tracked ones


@dataclass(frozen=True)
class Confirmation:
    """What one confirm attempt did: `subscribed`, `wrong_code` (with the tries left), or `no_code` (none pending
    for the number and source, expired, or void after too many tries: the caller cannot tell which)."""

    outcome: Literal["subscribed", "wrong_code", "no_code"]
    attempts_left: int = 0
    profile_id: str | None = None


class SmsConsentService:
    def __init__(
        self,
        *,
        store: SmsCodeStore,
        sender: SmsSender,
        events: EventWriter,
        clock: Clock,
        keyring: Callable[[], lt.Keyring | None],
        allowed_countries: Callable[[], frozenset[str]],
        new_code: Callable[[], str] = rules.new_code,
    ) -> None:
        self.store = store
        self.sender = sender
        self.events = events
        self.clock = clock
        self._keyring = keyring
        self._allowed_countries = allowed_countries
        self._new_code = new_code

    def _key(self) -> bytes:
        ring = self._keyring()
        if ring is None:
            raise RuntimeError("SMS codes need link keys")  # the API answers 503: a deployment fault, not the client's
        return ring.keys[ring.current]

    def destination(self, phone: object) -> str:
        """The number a code may be texted to (E.164); raises SmsCodeError naming `phone`."""
        return rules.clean_destination(phone, self._allowed_countries())

    def request(self, profile_id: str, phone: str, source: str, source_id: str) -> str | None:
        """Store a pending code for `phone` (E.164, checked by `destination`) on behalf of `profile_id` and text it.
        Returns the request id, or None when a limit was reached (at most CONFIRMATIONS_PER_ADDRESS a day to one
        number, CONFIRMATIONS_PER_SOURCE an hour from one source: the confirmation mails' limiter, so a bot cannot
        run up an SMS bill or pester a number). Provider errors propagate (nothing was confirmed either way)."""
        now = self.clock.now()
        key = self._key()
        tag = rules.phone_tag(key, phone)
        if not self.store.take(f"sms-confirm#{tag}#{now:%Y%m%d}", CONFIRMATIONS_PER_ADDRESS, now + timedelta(days=2)):
            log.warning("SMS code not sent: the number had %d today", CONFIRMATIONS_PER_ADDRESS)
            return None
        per_source = f"sms-confirm-source#{source_id}#{now:%Y%m%d%H}"
        if not self.store.take(per_source, CONFIRMATIONS_PER_SOURCE, now + timedelta(hours=2)):
            log.warning("SMS code not sent: source %s sent %d this hour", source_id, CONFIRMATIONS_PER_SOURCE)
            return None
        code = self._new_code()
        request_id = "v" + hashlib.sha256(f"{profile_id}\x1f{tag}\x1f{iso(now)}".encode()).hexdigest()[:24]
        self.store.put_sms_code(
            tag,
            {
                "request_id": request_id,
                "profile_id": profile_id,
                "source": source,
                "source_id": source_id,
                "requested_at": iso(now),
                "digest": rules.code_digest(key, request_id, phone, code),
            },
            now + rules.CODE_TTL,
        )
        minutes = int(rules.CODE_TTL.total_seconds() // 60)
        text = f"Your confirmation code is {code}. It expires in {minutes} minutes. If you did not ask, ignore this."
        self.sender.send_sms(phone, text, request_id, transactional=True)
        return request_id

    def confirm(self, phone: str, code: str, source_id: str) -> Confirmation:
        """One attempt at `code` (cleaned by `sms_codes.clean_code`) for `phone` from `source_id`."""
        now = self.clock.now()
        key = self._key()
        tag = rules.phone_tag(key, phone)
        # The attempt is counted before the compare, atomically: parallel guesses cannot exceed MAX_ATTEMPTS.
        pending = self.store.sms_code_attempt(tag, rules.MAX_ATTEMPTS, now)
        if pending is None or pending.get("source_id") != source_id:
            return Confirmation("no_code")
        request_id = str(pending["request_id"])
        if not rules.code_matches(key, request_id, phone, code, str(pending.get("digest", ""))):
            left = max(rules.MAX_ATTEMPTS - int(pending["attempts"]), 0)
            if left == 0:
                self.store.drop_sms_code(tag, request_id)  # void: the next try finds nothing
            return Confirmation("wrong_code", left)
        profile_id = str(pending["profile_id"])
        properties = {
            "channel": "sms",
            "source": pending.get("source"),
            "method": rules.METHOD,
            "requested_at": pending.get("requested_at"),
            "confirmed_at": iso(now),
            "request_id": request_id,
        }

        def fact(suffix: str, kind: Literal["track", "identify"], **fields: Any) -> TrackedEvent:
            return TrackedEvent(
                message_id=f"confirm-{request_id}{suffix}",
                source_id=SOURCE_ID,
                type=kind,
                profile_id=profile_id,
                timestamp=now,
                received_at=now,
                **fields,
            )

        # Written before the code is used up, with ids fixed by the request: a retry after a failure here, or a
        # parallel right answer, stores nothing twice, and a storage error never burns a code that was right.
        # The number is proven by the code, so it becomes the person's (the fold reads phones from identify traits).
        self.events.put_new(fact("-phone", "identify", traits={"phone": phone}))
        self.events.put_new(fact("", "track", event=SUBSCRIBE_EVENTS["sms"], properties=properties))
        self.store.set_preference(profile_id, "sms", None, "opted_in", now, rules.METHOD)
        self.store.drop_sms_code(tag, request_id)  # single use
        return Confirmation("subscribed", profile_id=profile_id)
