"""Local-only outbox: the emails, SMS and push the embedded SES/SNS (a moto server) recorded, read over its HTTP API.

Nothing here imports moto: it reads `GET {moto}/moto-api/data.json` (every recorded model instance), so deployed code
never depends on the test double. Only `api/local_tools.py` uses it (through `bootstrap.get_local_outbox`), behind
`ONE2ONE_LOCAL_TOOLS=1`.
"""

from __future__ import annotations

import email
import json
import urllib.request
from email.message import Message
from email.policy import default as default_policy
from typing import Any

from chalicelib.delivery.exceptions import OutboxUnavailable

__all__ = ["MotoOutbox", "OutboxUnavailable", "parse_raw_email", "push_entry"]


def _parts(message: Message) -> tuple[str | None, str | None]:
    text: str | None = None
    html: str | None = None
    for part in message.walk():
        if part.is_multipart():
            continue
        content_type = part.get_content_type()
        payload = part.get_content() if hasattr(part, "get_content") else part.get_payload(decode=True)
        if isinstance(payload, bytes):
            payload = payload.decode(part.get_content_charset() or "utf-8", "replace")
        if not isinstance(payload, str):
            continue  # an attached message, not a body
        if content_type == "text/plain" and text is None:
            text = payload
        elif content_type == "text/html" and html is None:
            html = payload
    return text, html


def parse_raw_email(message_id: str, source: str, destinations: list[str], raw: str) -> dict[str, Any]:
    """One recorded raw SES message -> outbox entry (headers, subject, text, html)."""
    parsed = email.message_from_string(raw, policy=default_policy)
    text, html = _parts(parsed)
    return {
        "id": message_id,
        "kind": "email",
        "from": source,
        "to": destinations,
        "subject": str(parsed.get("Subject", "")),
        "headers": {k: str(v) for k, v in parsed.items()},
        "text": text,
        "html": html,
    }


class MotoOutbox:
    def __init__(self, endpoint_url: str | None, timeout: float = 5.0) -> None:
        self.endpoint_url = (endpoint_url or "").rstrip("/")
        self.timeout = timeout

    def _data(self) -> dict[str, Any]:
        if not self.endpoint_url.startswith(("http://", "https://")):
            raise OutboxUnavailable("no moto server configured (AWS_ENDPOINT_URL)")
        try:
            with urllib.request.urlopen(f"{self.endpoint_url}/moto-api/data.json", timeout=self.timeout) as response:  # noqa: S310
                return json.loads(response.read())
        except (OSError, ValueError) as exc:
            raise OutboxUnavailable(f"moto server did not answer: {exc}") from exc

    def messages(self) -> list[dict[str, Any]]:
        """Every email (raw or simple) and SMS, in the order the server recorded them."""
        data = self._data()
        ses = data.get("ses", {})
        out: list[dict[str, Any]] = []
        for raw in ses.get("RawMessage", []):
            out.append(parse_raw_email(raw["id"], raw.get("source"), raw.get("destinations", []), raw["raw_data"]))
        for simple in ses.get("Message", []):
            out.append(
                {
                    "id": simple["id"],
                    "kind": "email",
                    "from": simple.get("source"),
                    "to": simple.get("destinations"),
                    "subject": simple.get("subject"),
                    "headers": {},
                    "text": None,
                    "html": simple.get("body"),
                }
            )
        for sms in data.get("sns", {}).get("SMS", []):
            out.append(
                {"id": sms["message_id"], "kind": "sms", "to": [sms.get("phone_number")], "text": sms.get("message")}
            )
        for endpoint in data.get("sns", {}).get("PlatformEndpoint", []):
            for sns_id, message in (endpoint.get("messages") or {}).items():
                out.append(push_entry(sns_id, str(endpoint.get("arn", "")), str(endpoint.get("token", "")), message))
        return out


def push_entry(sns_id: str, endpoint_arn: str, token: str, message: str) -> dict[str, Any]:
    """One publish to a push platform endpoint -> outbox entry: the platform and its payload as the app gets it."""
    parts = endpoint_arn.split(":", 5)[-1].split("/")
    platform = parts[1] if len(parts) > 2 else "?"
    try:
        outer = json.loads(message)
        payload = json.loads(outer.get(platform, "null")) if isinstance(outer, dict) else None
    except ValueError:
        outer, payload = message, None
    default = outer.get("default") if isinstance(outer, dict) else str(outer)
    subject = ""
    if isinstance(payload, dict):
        alert = (payload.get("aps") or {}).get("alert") if "aps" in payload else None
        notification = ((payload.get("fcmV1Message") or {}).get("message") or {}).get("notification")
        subject = str((alert or notification or {}).get("title") or "")
    return {
        "id": sns_id,
        "kind": "push",
        "to": [f"{platform}:{token[:16]}…"],
        "platform": platform,
        "subject": subject,
        "text": default,
        "headers": {"endpoint": endpoint_arn},
        "payload": payload,
    }
