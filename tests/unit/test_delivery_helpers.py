"""Pure delivery helpers: SES tags and MIME, the webhook caller (tokens and coupons: tests/unit/test_link_tokens.py)."""

from __future__ import annotations

import email
import json
import threading
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from chalicelib.delivery.adapters.ses_email import build_mime, ses_tag
from chalicelib.delivery.adapters.webhook import UrllibWebhookCaller
from chalicelib.delivery.ports import OutgoingEmail, ProviderRejected


def test_ses_tags_keep_only_allowed_characters() -> None:
    assert ses_tag("cart_abandonment") == "cart_abandonment"
    assert ses_tag("p_1#evt:web#m 1") == "p_1_evt_web_m_1"
    assert ses_tag("") == "_"


def test_mime_carries_both_bodies_and_our_headers() -> None:
    raw = build_mime(
        "shop@shop.example",
        OutgoingEmail(
            to="a@example.com",
            subject="Hi Ånna",
            html="<p>Hi</p>",
            text="Hi",
            message_id="m1",
            headers={"List-Unsubscribe": "<https://x/u/t>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
        ),
    )
    parsed = email.message_from_bytes(raw, policy=default_policy)
    assert parsed["Subject"] == "Hi Ånna" and parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert {p.get_content_type() for p in parsed.walk()} >= {"text/plain", "text/html"}


class _Receiver(BaseHTTPRequestHandler):
    seen: list[tuple[str, dict]] = []
    status = 200

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append((self.headers["Idempotency-Key"], body))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver():
    _Receiver.seen, _Receiver.status = [], 200
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook"
    server.shutdown()


def test_webhook_posts_json_with_an_idempotency_key(receiver: str) -> None:
    assert UrllibWebhookCaller(timeout_seconds=2).post(receiver, {"a": 1}, "m123") == "http-200"
    assert _Receiver.seen == [("m123", {"a": 1})]


def test_webhook_errors_are_classified(receiver: str) -> None:
    _Receiver.status = 503
    with pytest.raises(ProviderRejected) as retryable:
        UrllibWebhookCaller(timeout_seconds=2).post(receiver, {}, "k")
    assert retryable.value.retryable
    _Receiver.status = 400
    with pytest.raises(ProviderRejected) as permanent:
        UrllibWebhookCaller(timeout_seconds=2).post(receiver, {}, "k")
    assert not permanent.value.retryable
