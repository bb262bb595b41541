"""Webhook calls: a JSON POST with a timeout and an Idempotency-Key header (receivers dedupe, so retries are safe)."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from typing import Any

from chalicelib.delivery.ports import ProviderOutcomeUnknown, ProviderRejected


class UrllibWebhookCaller:
    def __init__(self, timeout_seconds: float = 5.0, user_agent: str = "one2one-webhook/1") -> None:
        self.timeout = timeout_seconds
        self.user_agent = user_agent

    def post(self, url: str, payload: dict[str, Any], idempotency_key: str) -> str:
        if not url.startswith(("https://", "http://")):
            raise ProviderRejected("BadUrl", f"not an http(s) URL: {url[:80]}", retryable=False)
        request = urllib.request.Request(  # noqa: S310 - scheme checked above
            url,
            data=json.dumps(payload, default=str).encode(),
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Idempotency-Key": idempotency_key,
                "User-Agent": self.user_agent,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return f"http-{response.status}"
        except urllib.error.HTTPError as exc:
            retryable = exc.code >= 500 or exc.code == 429
            raise ProviderRejected(f"HTTP{exc.code}", exc.reason or "", retryable=retryable) from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, ConnectionRefusedError | socket.gaierror):
                raise ProviderRejected("Unreachable", str(exc.reason), retryable=True) from exc
            raise ProviderOutcomeUnknown(str(exc.reason)) from exc
        except TimeoutError as exc:
            raise ProviderOutcomeUnknown("timeout") from exc
