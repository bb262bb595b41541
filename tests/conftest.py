"""Shared fixtures: fake AWS credentials for every test, moto with our real tables (`aws`), and the event pump (`pump`).

def test_tracked_event_reaches_the_profile(aws, pump):
    client.http.post("/v1/track", ...)     # writes to the events table (moto)
    pump.drain()                           # events stream -> fold handler -> profiles stream -> ...
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `app`, `chalicelib` and `local` import from the project root, as in Lambda
    sys.path.insert(0, str(ROOT))

FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    # botocore sends DynamoDB (Streams) calls to account-based hosts that moto does not route.
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
    # An empty config and credentials file: a developer's ~/.aws profile must never leak into tests.
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    # moto's SES answers the sandbox's 1 email/s, and most tests freeze the clock: one sending window for the whole
    # test. The shared sending rate is tested where it is the subject (they set this back to "on").
    "ONE2ONE_SEND_RATE_LIMIT": "off",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`make test` runs two pytest-xdist workers (`--dist loadgroup`): each test file stays on one worker, so its
    module fixtures (moto with the tables, a local stack) are built once, and the local-stack suites (marked e2e)
    share ONE worker, one after the other: each starts moto, Chalice, the pump and sometimes Chromium, and two of them
    at once on two cores turn their waits into timeouts. Without xdist (a single test, a debugger) nothing changes."""
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        group = "e2e" if item.get_closest_marker("e2e") else item.nodeid.split("::", 1)[0]
        item.add_marker(pytest.mark.xdist_group(group))


def _reset_app_caches() -> None:
    """Forget cached clients, settings and adapters so each test sees its own environment and moto backend."""
    from chalicelib import bootstrap
    from chalicelib.shared import aws, settings

    aws.reset_clients()
    reset = getattr(bootstrap, "reset", None)
    if reset is not None:
        reset()
    settings.get_settings.cache_clear()


@pytest.fixture(autouse=True)
def fake_aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test runs with fake credentials and no endpoint override, so nothing can reach a real AWS account."""
    for key, value in FAKE_AWS_ENV.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(key, raising=False)
    yield


@pytest.fixture(autouse=True)
def _clock_put_back() -> Iterator[None]:
    """Whatever clock a test sets, the next test starts with the one this test started with (a module's local stack
    keeps its own for the whole module). Two pytest-xdist workers run files in other neighbourhoods than one process
    does, so a clock left behind by one file showed up in an unrelated file's token check."""
    from chalicelib.shared import clock

    before = clock.get_clock()
    yield
    clock.set_clock(before)


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    """In-process moto with every resource of infra/resources.json provisioned; yields logical id -> `Provisioned`.

    A test may `chalicelib.shared.clock.set_clock(FakeClock(...))` freely: `_clock_put_back` restores it.
    """
    from moto import mock_aws

    from local.provision import provision

    with mock_aws():
        _reset_app_caches()
        try:
            yield provision()
        finally:
            _reset_app_caches()


@pytest.fixture
def chalice_app(aws: dict[str, Any]) -> Any:
    """The real Chalice app (imported after moto started; importing it touches no AWS)."""
    from app import app

    return app


@pytest.fixture
def pump(chalice_app: Any) -> Any:
    """A `StreamPump` over the real app in-process: call `pump.drain()` after writes to run the stream handlers.

    Records the handlers gave up on are in `pump.dead_letters`; handler exceptions in `pump.errors`.
    """
    from local.pump import StreamPump

    return StreamPump(chalice_app)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """One moto server (HTTP, in a thread) for the session; yields its endpoint URL. Use `moto_endpoint` in tests."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def moto_endpoint(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The session moto server, emptied for this test, with `AWS_ENDPOINT_URL` pointing at it for the app's clients."""
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")).close()
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    _reset_app_caches()
    yield moto_server
    _reset_app_caches()


@pytest.fixture
def ddb(aws: dict[str, Any]) -> Any:
    """A low-level DynamoDB client on the moto backend (for GIVEN set-up and THEN checks)."""
    from chalicelib.shared.aws import client

    return client("dynamodb")
