"""The console in a real headless Chromium against the local stack: sign in, find a person, build a segment and see
its count, preview a template, replay a failed event; axe-core on every page; screenshots and timings of each page
in build/console-screenshots/ (metrics.json). Chromium is Debian's, driven by playwright-core (tests/e2e/sdk)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.stack import Stack, start_stack

pytestmark = pytest.mark.e2e
SDK_DIR = Path(__file__).resolve().parent / "sdk"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
OUT = Path(__file__).resolve().parents[2] / "build" / "console-screenshots"
HOSTILE = "<script>alert(1)</script>"
EMAIL = "ada.console@example.com"
USER = "console-user-1"
# two good rows, then a row without any identity (line 4) and one with a bad email holding HTML (line 5)
IMPORT_CSV = (
    "user_id,email,first_name\n"
    "imp-1,imp-1@example.com,Ann\n"
    "imp-2,imp-2@example.com,Bob\n"
    ",,Nobody\n"
    f"imp-4,not-an-email,{HOSTILE}\n"
)


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the console browser test: {CHROMIUM} is missing (.ci/run installs it)")
        pytest.skip(f"no Chromium at {CHROMIUM}: `apt-get install chromium` (or set CHROMIUM) to drive the console")
    if shutil.which("node") is None or not (SDK_DIR / "node_modules" / "axe-core").is_dir():
        pytest.fail("node and tests/e2e/sdk/node_modules (with axe-core) are needed: `make bootstrap` installs them")
    running = start_stack(port=0, pump_interval=0.02)
    yield running
    running.stop()


@pytest.fixture(autouse=True)
def _stack_env(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", stack.moto_url)


def _call(stack: Stack, method: str, path: str, body: Any, headers: dict[str, str]) -> tuple[int, Any]:
    request = urllib.request.Request(
        f"{stack.api_url}{path}",
        data=json.dumps(body).encode(),
        method=method,
        headers={"Content-Type": "application/json", **headers},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def _track(stack: Stack, path: str, body: dict[str, Any]) -> int:
    basic = "Basic " + base64.b64encode(f"{stack.server_key}:".encode()).decode()
    return _call(stack, "POST", path, body, {"Authorization": basic})[0]


def _profile(stack: Stack) -> dict[str, Any] | None:
    request = urllib.request.Request(
        f"{stack.api_url}/admin/profiles?email={EMAIL}", headers={"Authorization": f"Bearer {stack.admin_token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError:
        return None


def _clone_profiles(profile_id: str, count: int) -> None:
    """`count` copies of a stored profile written straight to the stack's profiles table (the local fold takes
    ~20 events/s, too slow to build 10,000 people for a page-speed run); the table's stream then updates segments."""
    from chalicelib.bootstrap import get_profile_store
    from chalicelib.profiles.codec import to_item
    from chalicelib.shared.aws import client, reset_clients
    from chalicelib.shared.settings import get_settings

    reset_clients()
    stored = get_profile_store().get(profile_id)
    assert stored is not None
    table = get_settings().profiles_table
    for start in range(0, count, 25):
        items = []
        for n in range(start, min(start + 25, count)):
            clone = stored.profile()
            clone.profile_id = f"p_seed{n:05d}"
            items.append({"PutRequest": {"Item": to_item(clone)}})
        request = {table: items}
        while request:
            request = client("dynamodb").batch_write_item(RequestItems=request).get("UnprocessedItems") or {}


@pytest.fixture(scope="module")
def report(stack: Stack) -> dict[str, Any]:
    # GIVEN a subscribed shopper with an HTML nickname and a cart, and one refused event of today
    traits = {"email": EMAIL, "firstName": "Ada", "nickname": HOSTILE}
    assert _track(stack, "/v1/identify", {"userId": USER, "traits": traits}) == 200
    assert _track(stack, "/v1/track", {"userId": USER, "event": "Email Subscribed"}) == 200
    product = {"product_id": "mug-1", "name": "Mug", "price": 12, "quantity": 1}
    assert _track(stack, "/v1/track", {"userId": USER, "event": "Product Added", "properties": product}) == 200
    assert _track(stack, "/v1/track", {"userId": USER, "event": ""}) == 400  # kept as a failed event
    deadline = time.monotonic() + 15
    while not ((found := _profile(stack)) and found["profile"].get("computed", {}).get("cart_quantity")):
        assert time.monotonic() < deadline, found
        time.sleep(0.1)
    # `CONSOLE_PROFILES=10000` measures the pages with that many more people; the default run keeps the suite fast
    if seeded := int(os.environ.get("CONSOLE_PROFILES", "0")):
        _clone_profiles(found["profile_id"], seeded)
    plan = {
        "token": stack.admin_token,
        "outDir": str(OUT),
        "email": EMAIL,
        "profileId": found["profile_id"],
        "template": "cart_reminder",
        "segment": {
            "id": "console_e2e_carts",
            "rule": {"all": [{"field": "computed.cart_quantity", "op": "gt", "value": 0}]},
            "badRule": {"all": [{"field": "computed.cart_quantity", "op": "bigger", "value": 0}]},
        },
        "pages": [
            ["overview", ""],
            ["profiles", "/profiles"],
            ["profile", f"/profiles/{found['profile_id']}"],
            ["segments", "/segments"],
            ["segment", "/segments/cart_abandoners"],
            ["scenarios", "/scenarios"],
            ["scenario", "/scenarios/cart_abandonment"],
            ["templates", f"/templates?template=cart_reminder&profile_id={found['profile_id']}"],
            ["deliverability", "/deliverability"],
            ["failed-events", "/failed-events"],
            ["outbox", "/outbox"],
            ["broadcasts", "/broadcasts"],
            ["broadcast-new", "/broadcasts/new"],
            ["catalog", "/catalog"],
            ["imports", "/imports"],
            ["predictions", "/predictions"],
        ],
        "hostile": HOSTILE,
        "broadcast": {"template": "dormant_we_miss_you", "segment": "cart_abandoners", "day": "2030-01-02"},
        "importCsv": IMPORT_CSV,
        "repeats": int(os.environ.get("CONSOLE_REPEATS", "5")),
        # a backfill or an import waits behind the seeded profiles' stream on the local pump
        "waitMs": 20000 + 20 * seeded,
    }
    done = subprocess.run(
        ["node", "console.mjs", stack.api_url, json.dumps(plan)],
        cwd=SDK_DIR,
        capture_output=True,
        text=True,
        timeout=240 + seeded / 10,  # a seeded stack keeps its pump busy with the new profiles' stream
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    (OUT / "metrics.json").write_text(json.dumps(result, indent=2))
    assert not result["console"], result["console"]
    return result


def test_a_page_opened_without_a_session_signs_in_and_comes_back(report: dict[str, Any]) -> None:
    assert report["signIn"] == {"firstStatus": 401, "landedOn": "/admin/console/segments"}
    assert report["flows"]["signOut"]["status"] == 401


def test_every_page_passes_axe_and_fits_a_phone(report: dict[str, Any]) -> None:
    for name, page in report["pages"].items():
        assert page["status"] == (403 if name == "forbidden" else 200), (name, page)
        assert page["violations"] == [], (name, page["violations"])
        assert page["phoneOverflowPx"] <= 0, (name, "scrolls sideways at 375 px")
        assert (OUT / f"{name}-1280.png").stat().st_size > 0 and (OUT / f"{name}-375.png").stat().st_size > 0


def test_the_keyboard_reaches_the_content_first(report: dict[str, Any]) -> None:
    assert report["flows"]["keyboard"] == {"firstStop": "Skip to content", "focusedAfter": "main"}


def test_finding_a_person_by_email_shows_html_traits_as_text(report: dict[str, Any]) -> None:
    found = report["flows"]["findPerson"]
    assert found["path"].startswith("/admin/console/profiles/p_")
    assert found["hostileShownAsText"] and found["dialogs"] == 0


def test_building_a_segment_names_the_bad_field_then_counts_its_members(report: dict[str, Any]) -> None:
    built = report["flows"]["buildSegment"]
    assert built["refused"].startswith("400:") and "field:" in built["refused"], built
    assert "not valid JSON" in built["notJson"], built
    assert built["saved"].startswith("Saved") and built["size"] >= 1, built


def test_a_template_is_previewed_for_the_person_at_phone_width(report: dict[str, Any]) -> None:
    preview = report["flows"]["previewTemplate"]
    assert "Ada" in preview["subject"] + preview["frameText"], preview
    assert preview["frameWidth"] == 375


def test_replaying_the_days_failed_events_reports_what_happened(report: dict[str, Any]) -> None:
    result = report["flows"]["replay"]["result"]
    assert result.startswith("Replayed") and "examined: 1" in result, result


def test_a_broadcast_is_drafted_tested_scheduled_and_cancelled(report: dict[str, Any]) -> None:
    flow = report["flows"]["broadcast"]
    assert (flow["drafted"], flow["scheduled"], flow["cancelled"]) == ("draft", "scheduled", "cancelled"), flow
    assert flow["tested"].startswith("Test sent"), flow
    assert "2030-01-02T09:30" in flow["launch"], flow
    assert HOSTILE in flow["listed"] and flow["dialogs"] == 0  # the name is text in the list
    assert "Cancel broadcast" not in flow["buttonsLeft"] and "Schedule" not in flow["buttonsLeft"]


def test_an_import_is_started_by_upload_and_its_rejected_rows_have_line_numbers(report: dict[str, Any]) -> None:
    flow = report["flows"]["import"]
    assert flow["status"] == "finished" and flow["accepted"] == 2, flow
    assert flow["rejectedLines"] == ["4", "5"], flow
    assert flow["hostileShownAsText"] and flow["dialogs"] == 0


def test_the_period_of_the_charts_is_chosen_with_the_keyboard(report: dict[str, Any]) -> None:
    flow = report["flows"]["period"]
    assert (flow["from"], flow["to"]) == ("2026-01-02", "2026-02-10"), flow
    assert "2026-01-02 to 2026-02-10" in flow["heading"]


def test_an_ended_session_signs_in_again_without_losing_the_edit(report: dict[str, Any]) -> None:
    flow = report["flows"]["sessionEnded"]
    assert flow["expiredNotice"], flow
    assert flow["kept"]["id"].endswith("_kept") and flow["kept"]["description"] == "typed before the session ended"
    assert "edit is back" in flow["kept"]["note"]
    assert flow["saved"].startswith("Saved"), flow


def test_a_viewer_cannot_change_anything_and_gets_a_403_page(report: dict[str, Any]) -> None:
    flow = report["flows"]["viewer"]
    assert flow["replayDisabled"] and flow["forbidden"] == 403, flow
    assert "needs marketer" in flow["message"]
    assert report["pages"]["forbidden"]["violations"] == []
