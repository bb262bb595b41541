"""Engagement: signed links and tokens, open/click classification, unsubscribe and preferences, SES feedback,
attribution and reports. Sits below delivery: it defines the message record and outgoing email both use.

Names resolve on first use, so importing the package (or any module in it) loads nothing else (cold start).
"""

from __future__ import annotations

from chalicelib.shared.exports import lazy_exports

_PUBLIC = {
    "EmailSender": "ports",
    "EngagementService": "recorder",
    "EngagementStore": "ports",
    "EventWriter": "ports",
    "InvalidToken": "tokens",
    "Keyring": "tokens",
    "LinkPayload": "tokens",
    "LinkSettings": "links",
    "MessageRecord": "ports",
    "MessageRecords": "ports",
    "OutgoingEmail": "ports",
    "SmsCodeError": "sms_codes",
    "SmsCodeStore": "ports",
    "SmsConsentService": "sms_consent",
    "SmsSender": "ports",
}
__all__ = sorted(_PUBLIC)

__getattr__ = lazy_exports(__name__, _PUBLIC)
