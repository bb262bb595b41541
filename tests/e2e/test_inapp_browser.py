"""In-app messages in a real headless Chromium on the demo shop (local stack): a product view puts the banner up at
the next page, a modal with HTML in its title renders it as text, roles / labels / focus / Esc work, axe-core finds
nothing, and the views and dismissals come back as events into the message's report. Chromium is Debian's, driven
by playwright-core (tests/e2e/sdk), skipped when absent like the console browser test."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.stack import Stack, start_stack

pytestmark = pytest.mark.e2e
SDK_DIR = Path(__file__).resolve().parent / "sdk"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
HOSTILE = "<img src=x onerror=alert(1)>"
TRIGGER = "Browser Modal Wanted"


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: `apt-get install chromium` (or set CHROMIUM) to drive the demo shop")
    if shutil.which("node") is None or not (SDK_DIR / "node_modules" / "axe-core").is_dir():
        pytest.skip("node and tests/e2e/sdk/node_modules (with axe-core) are needed: `make bootstrap` installs them")
    running = start_stack(port=0, pump_interval=0.02)
    yield running
    running.stop()


def _admin(stack: Stack, method: str, path: str, body: Any = None) -> Any:
    request = urllib.request.Request(
        f"{stack.api_url}{path}",
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Authorization": f"Bearer {stack.admin_token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


@pytest.fixture(scope="module")
def report(stack: Stack) -> dict[str, Any]:
    modal = {"kind": "modal", "title": HOSTILE, "body": "Text only.", "trigger": {"event": TRIGGER}, "priority": 99}
    _admin(stack, "PUT", "/admin/definitions/in_app/browser_modal", modal)
    done = subprocess.run(
        ["node", "inapp.mjs", stack.api_url, json.dumps({"trigger": TRIGGER})],
        cwd=SDK_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_first_visit_loads_no_in_app_renderer(report: dict[str, Any]) -> None:
    assert not any(src.endswith("/inapp.js") for src in report["firstVisitScripts"])


def test_the_banner_and_the_modal_show_after_a_product_view_with_html_as_text(report: dict[str, Any]) -> None:
    assert report["found"], report
    assert report["banner"]["role"] == "region" and "Free shipping" in report["banner"]["text"]
    assert report["modal"]["labelledBy"] == HOSTILE  # the markup is shown as text
    assert report["modal"]["injectedImages"] == 0 and report["dialogs"] == 0
    assert not report["console"], report["console"]


def test_the_modal_is_an_accessible_dialog_closed_by_esc(report: dict[str, Any]) -> None:
    modal = report["modal"]
    assert modal["ariaModal"] == "true" and modal["focusInside"] and modal["closeLabel"] == "Dismiss"
    assert report["banner"]["closeLabel"] == "Dismiss"
    assert report["violations"] == [], report["violations"]
    assert report["afterEscape"] == {"modal": False, "banner": True}  # Esc closes the dialog first
    assert report["afterClose"] is False


def test_views_and_dismissals_come_back_into_the_report(stack: Stack, report: dict[str, Any]) -> None:
    deadline = time.monotonic() + 15
    while True:
        counters = _admin(stack, "GET", "/admin/in-app/browser_modal/report")["report"]
        if counters["dismissals"] >= 1 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert counters["viewers"] == 1 and counters["dismissals"] == 1, counters
