"""Fixtures for integration tests: the whole app against in-process moto, with a seeded source and a stream pump."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from moto import mock_aws

WRITE_KEY = "test-write-key"
ORIGIN = "https://shop.example"
ADMIN_TOKEN = "test-admin-token"


@dataclass
class Harness:
    """The app under test: HTTP client, stream pump and a few helpers that read what the app stored."""

    client: Any
    app: Any
    pump: Any

    def post(self, path: str, body: Any, *, auth: bool = True, headers: dict[str, str] | None = None) -> Any:
        all_headers = {"Content-Type": "application/json"}
        if auth:
            all_headers["Authorization"] = "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
        all_headers.update(headers or {})
        raw = body if isinstance(body, (str, bytes)) else json.dumps(body)
        return self.client.http.post(path, body=raw, headers=all_headers)

    def admin(self, path: str) -> Any:
        return self.client.http.get(path, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})

    def json(self, response: Any) -> Any:
        return json.loads(response.body) if response.body else None

    def scan_count(self, logical_id: str) -> int:
        """Test-only inspection (the product itself never scans)."""
        from chalicelib.shared.aws import client
        from chalicelib.shared.settings import table_name

        return client("dynamodb").scan(TableName=table_name(logical_id), Select="COUNT")["Count"]

    def failed_events(self) -> list[dict[str, Any]]:
        from chalicelib.bootstrap import get_failed_event_store
        from chalicelib.shared.clock import get_clock

        rows, _ = get_failed_event_store().list(get_clock().now().strftime("%Y-%m-%d"), limit=500)
        return rows


@pytest.fixture
def moto_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        "ONE2ONE_LOCAL_ADMIN_TOKEN": ADMIN_TOKEN,
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    from chalicelib import bootstrap
    from chalicelib.shared.aws import reset_clients

    with mock_aws():
        reset_clients()
        bootstrap.reset()
        from local.provision import provision

        provision()
        yield
        reset_clients()
        bootstrap.reset()


@pytest.fixture
def harness(moto_env: None) -> Iterator[Harness]:
    from chalice.test import Client

    from app import app
    from chalicelib.bootstrap import get_source_registry
    from local.pump import StreamPump

    # The shop's backend in most tests: a server source (trusted as sent). tests/integration/test_trust_boundary.py
    # drives client sources, whose claims need identity tokens.
    get_source_registry().upsert_source("web", WRITE_KEY, [ORIGIN], kind="server")
    with Client(app) as client:
        yield Harness(client=client, app=app, pump=StreamPump(app))


@pytest.fixture
def reads() -> Iterator[list[str]]:
    """DynamoDB read requests (operation names) made while the test runs, counted by a botocore event hook."""
    from chalicelib.shared.aws import client

    seen: list[str] = []

    def count(event_name: str, **_: Any) -> None:
        operation = event_name.rsplit(".", 1)[-1]
        if operation in ("GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"):
            seen.append(operation)

    events = client("dynamodb").meta.events
    events.register("before-call.dynamodb.*", count)
    yield seen
    events.unregister("before-call.dynamodb.*", count)
