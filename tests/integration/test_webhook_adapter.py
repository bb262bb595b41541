"""The webhook adapter against a real HTTP receiver on the loopback (an adapter test: it opens sockets)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from chalicelib.delivery.adapters.webhook import UrllibWebhookCaller
from chalicelib.delivery.ports import ProviderRejected


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
