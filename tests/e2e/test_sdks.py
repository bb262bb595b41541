"""The real SDKs, unmodified, against the local stack: each sends identify + track + page, and the profile shows them.

Python: Segment's `segment-analytics-python` and RudderStack's `rudder-sdk-python` (gzip on, its default). Node:
`@segment/analytics-node` and `@rudderstack/rudder-sdk-node` (tests/e2e/sdk, installed by `make bootstrap`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.stack import Stack, start_stack

pytestmark = pytest.mark.e2e
NODE_DIR = Path(__file__).resolve().parent / "sdk"


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    running = start_stack(port=0, pump_interval=0.02)
    yield running
    running.stop()


@pytest.fixture(autouse=True)
def _stack_env(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", stack.moto_url)


def _profile(stack: Stack, user_id: str) -> dict[str, Any] | None:
    request = urllib.request.Request(
        f"{stack.api_url}/admin/profiles?user_id={user_id}",
        headers={"Authorization": f"Bearer {stack.admin_token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())["profile"]
    except urllib.error.HTTPError:
        return None


def _arrived(stack: Stack, user_id: str, timeout: float = 15.0) -> dict[str, Any]:
    """The profile once identify, track and page have all been folded into it."""
    deadline = time.monotonic() + timeout
    while True:
        profile = _profile(stack, user_id)
        if profile:
            computed = profile.get("computed", {})
            if (
                profile.get("traits", {}).get("plan") == "pro"
                and computed.get("page_views")
                and any(v.get("product_id") for v in computed.get("viewed_products", []))
            ):
                return profile
        if time.monotonic() > deadline:
            raise AssertionError(f"not every event of {user_id} arrived: {profile}")
        time.sleep(0.1)


def _drive_python(client: Any, user_id: str) -> None:
    client.identify(user_id, {"plan": "pro"})
    client.track(user_id, "Product Viewed", {"product_id": "sdk-py-1", "price": 9.5})
    client.page(user_id, name="Home")
    client.flush()


def test_segment_python_sdk(stack: Stack) -> None:
    from segment.analytics import Client

    errors: list[Any] = []
    user_id = f"sdk-segment-py-{uuid.uuid4().hex[:8]}"
    client = Client(stack.server_key, host=stack.api_url, sync_mode=True, on_error=lambda e, _: errors.append(e))

    _drive_python(client, user_id)

    assert not errors
    _arrived(stack, user_id)


def test_rudderstack_python_sdk_with_its_default_gzip(stack: Stack) -> None:
    from rudderstack.analytics import Client

    errors: list[Any] = []
    user_id = f"sdk-rudder-py-{uuid.uuid4().hex[:8]}"
    client = Client(stack.server_key, host=stack.api_url, sync_mode=True, on_error=lambda e, _: errors.append(e))
    assert client.gzip is True  # what every RudderStack Python user sends

    _drive_python(client, user_id)

    assert not errors
    _arrived(stack, user_id)


@pytest.mark.parametrize("sdk", ["segment", "rudderstack"])
def test_node_sdks(stack: Stack, sdk: str) -> None:
    if shutil.which("node") is None or not (NODE_DIR / "node_modules").is_dir():
        pytest.fail("node and tests/e2e/sdk/node_modules are needed: `make bootstrap` installs them")
    user_id = f"sdk-{sdk}-node-{uuid.uuid4().hex[:8]}"

    done = subprocess.run(
        ["node", "drive.mjs", sdk, stack.api_url, stack.server_key, user_id],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    _arrived(stack, user_id)
