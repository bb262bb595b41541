"""The browser SDKs, unmodified, in a real headless Chromium against the local stack.

Each page (tests/e2e/sdk/pages/) is served from its own origin, another port than the API, so every CORS preflight
is real. It loads one SDK bundled from npm (tests/e2e/sdk/bundle.mjs: no CDN is reachable, and none is asked) and
sends page + anonymous identify + track; the profile of the SDK's own anonymousId must then show all three.
Chromium is Debian's (`apt-get install chromium`, which .ci/run does) driven by playwright-core (browse.mjs).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from local.stack import Stack, start_stack

pytestmark = pytest.mark.e2e
SDK_DIR = Path(__file__).resolve().parent / "sdk"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


@dataclass
class Site:
    """The test pages, served from their own origin, and the write key of a client source that allows it."""

    url: str
    write_key: str


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser SDK tests: {CHROMIUM} is missing (.ci/run installs it)")
        pytest.skip(
            f"no Chromium at {CHROMIUM}: `apt-get install chromium` (or set CHROMIUM) to drive the browser SDKs"
        )
    if shutil.which("node") is None or not (SDK_DIR / "node_modules").is_dir():
        pytest.fail("node and tests/e2e/sdk/node_modules are needed: `make bootstrap` installs them")
    running = start_stack(port=0, pump_interval=0.02)
    yield running
    running.stop()


@pytest.fixture(autouse=True)
def _stack_env(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", stack.moto_url)


@pytest.fixture(scope="module")
def site(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("browser-site")
    subprocess.run(["node", "bundle.mjs", str(root)], cwd=SDK_DIR, check=True, timeout=60)
    for page in (SDK_DIR / "pages").glob("*.html"):
        shutil.copy(page, root)
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{server.server_address[1]}"
    created = _admin(stack, "POST", "/admin/sources", {"source_id": "browser-sdks", "allowed_origins": [origin]})
    yield Site(url=origin, write_key=created["write_key"])
    server.shutdown()
    server.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, fmt: str, *args: Any) -> None:
        pass


def _admin(stack: Stack, method: str, path: str, body: Any = None) -> Any:
    request = urllib.request.Request(
        f"{stack.api_url}{path}",
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Bearer {stack.admin_token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


# What each test looks at: one page visit each, all made side by side in one Chromium (browse.mjs) so the file
# takes one browser start. name: (page, POSTs to wait for, browser identity, extra query parameters).
VISITS: dict[str, tuple[str, int, str, dict[str, str]]] = {
    "segment": ("segment.html", 3, "visitor", {}),
    "segment-batching": ("segment.html", 2, "visitor", {"batching": "1"}),
    "segment-headless": ("segment.html", 3, "headless", {}),
    "rudderstack": ("rudderstack.html", 3, "visitor", {}),
    "rudderstack-beacon": ("rudderstack.html", 1, "visitor", {"beacon": "1"}),
    "tracker": ("tracker.html", 1, "visitor", {}),
    "tracker-unlisted-origin": ("tracker.html", 1, "visitor", {"unlisted": "1"}),
}


@pytest.fixture(scope="module")
def reports(stack: Stack, site: Site) -> dict[str, dict[str, Any]]:
    visits = []
    for name, (page, posts, as_, params) in VISITS.items():
        # The stack's own browser key lists only the API's origin, not the test site's.
        write_key = stack.write_key if params.get("unlisted") else site.write_key
        query = urllib.parse.urlencode({"api": stack.api_url, "writeKey": write_key, **params})
        visits.append({"name": name, "url": f"{site.url}/{page}?{query}", "posts": posts, "as": as_})
    done = subprocess.run(
        ["node", "browse.mjs", stack.api_url, json.dumps(visits)],
        cwd=SDK_DIR,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def clean(report: dict[str, Any]) -> dict[str, Any]:
    """The SDK reported no failure, asked no other host, and the console shows no error (a CORS refusal is one)."""
    assert report["result"] and report["result"].get("anonymousId"), report
    assert not report["result"].get("failed"), report
    assert not report["offsite"], f"the SDK asked another host (a CDN?): {report['offsite']}"
    assert not [line for line in report["console"] if line.startswith(("error", "failed", "pageerror", "browse"))], (
        report["console"]
    )
    return report


def calls(report: dict[str, Any]) -> list[tuple[str, str, int]]:
    """(method, path, status) of every request the page made to the API, in the order they were answered."""
    return [(r["method"], r["path"], r["status"]) for r in report["requests"]]


def profile(stack: Stack, anonymous_id: str) -> dict[str, Any] | None:
    try:
        return _admin(stack, "GET", f"/admin/profiles?anonymous_id={anonymous_id}")["profile"]
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise


def folded(stack: Stack, anonymous_id: str, timeout: float = 15.0) -> dict[str, Any]:
    """The anonymous visitor's profile once the page view, the identify traits and the product view are folded in."""
    deadline = time.monotonic() + timeout
    while True:
        found = profile(stack, anonymous_id) or {}
        computed = found.get("computed", {})
        if (
            found.get("traits", {}).get("plan") == "pro"
            and computed.get("page_views")
            and any(v.get("product_id") == "sdk-browser-1" for v in computed.get("viewed_products", []))
        ):
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not every event of {anonymous_id} was folded: {found}")
        time.sleep(0.1)


def test_segment_analytics_next_sends_each_call_cross_origin_and_never_asks_its_cdn(
    stack: Stack, reports: dict[str, Any]
) -> None:
    report = clean(reports["segment"])

    # Basic auth and text/plain: every call is preflighted (the page is on another port) and then answered 200.
    assert sorted(calls(report)) == [("POST", "/v1/i", 200), ("POST", "/v1/p", 200), ("POST", "/v1/t", 200)]
    folded(stack, report["result"]["anonymousId"])


def test_segment_analytics_next_batching_posts_to_v1_b(stack: Stack, reports: dict[str, Any]) -> None:
    report = clean(reports["segment-batching"])

    assert calls(report) == [("POST", "/v1/b", 200), ("POST", "/v1/b", 200)]  # 2 events at size 2, 1 at the timeout
    folded(stack, report["result"]["anonymousId"])


def test_rudderstack_v3_becomes_ready_on_our_source_config_and_sends(stack: Stack, reports: dict[str, Any]) -> None:
    report = clean(reports["rudderstack"])

    first, *sends = calls(report)
    assert first == ("GET", "/sourceConfig/", 200)  # its configUrl, with the trailing slash it always adds
    assert sorted(sends) == [("POST", "/v1/identify", 200), ("POST", "/v1/page", 200), ("POST", "/v1/track", 200)]
    folded(stack, report["result"]["anonymousId"])


def test_rudderstack_v3_beacon_transport_posts_to_beacon_v1_batch(stack: Stack, reports: dict[str, Any]) -> None:
    report = clean(reports["rudderstack-beacon"])

    first, *sends = calls(report)
    assert first == ("GET", "/sourceConfig/", 200)
    assert sends and set(sends) == {("POST", "/beacon/v1/batch", 200)}
    assert {r["type"] for r in report["requests"][1:]} == {"ping"}  # navigator.sendBeacon
    folded(stack, report["result"]["anonymousId"])


def test_our_tracker_js_served_by_the_api_sends_from_another_origin(stack: Stack, reports: dict[str, Any]) -> None:
    report = clean(reports["tracker"])

    assert calls(report) == [("GET", "/tracker.js", 200), ("POST", "/v1/batch", 200)]
    folded(stack, report["result"]["anonymousId"])


def test_a_page_on_an_origin_its_source_does_not_list_is_refused(stack: Stack, reports: dict[str, Any]) -> None:
    report = reports["tracker-unlisted-origin"]

    assert calls(report) == [("GET", "/tracker.js", 200), ("POST", "/v1/batch", 403)]
    folded(stack, reports["tracker"]["result"]["anonymousId"])  # the pump has caught up with the visits
    assert profile(stack, report["result"]["anonymousId"]) is None


def test_headless_chromium_is_counted_as_a_bot_not_as_a_visitor(stack: Stack, reports: dict[str, Any]) -> None:
    report = clean(reports["segment-headless"])
    assert "HeadlessChrome" in report["userAgent"]

    deadline = time.monotonic() + 15
    while (found := profile(stack, report["result"]["anonymousId"]) or {}).get("bot_events", 0) < 3:
        assert time.monotonic() < deadline, found
        time.sleep(0.1)
    assert found["computed"]["page_views"] == 0
    assert found["computed"]["viewed_products"] == []
    assert found["traits"] == {}
