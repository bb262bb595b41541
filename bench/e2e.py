"""End to end on the local stack: a tracked `Signed Up` to the welcome email in the outbox, real clock, no waits."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "chalicelib" / "config" / "scenarios"


def immediate_email_scenario() -> str | None:
    """The id of an enabled scenario that a `Signed Up` event starts with an email as its first step, if any."""
    for path in sorted(SCENARIOS.glob("*.json")):
        spec = json.loads(path.read_text())
        when, steps = spec.get("when", {}), spec.get("steps") or []
        if spec.get("enabled", True) is False or when.get("event") != "Signed Up" or not steps:
            continue
        first = steps[0]
        if first.get("type") == "send" and first.get("channel") == "email":
            return str(spec.get("id") or path.stem)
    return None


def _request(url: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json", **(headers or {})})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


def outbox_messages(stack: Any) -> list[dict[str, Any]]:
    """`GET /local/outbox` when the stack serves it, else the same view read straight from moto's SES/SNS store."""
    try:
        return _request(f"{stack.api_url}/local/outbox?token={stack.admin_token}").get("messages", [])
    except urllib.error.HTTPError as error:
        if error.code != 404:
            raise
    from chalicelib.delivery.adapters.moto_outbox import MotoOutbox

    return MotoOutbox(stack.moto_url).messages()


def _one_run(stack: Any, index: int, timeout: float) -> float | None:
    email = f"bench-e2e-{index}-{uuid.uuid4().hex[:8]}@example.com"
    user = f"bench-e2e-{uuid.uuid4().hex[:12]}"
    auth = {"Authorization": "Basic " + base64.b64encode(f"{stack.server_key}:".encode()).decode()}
    batch = {
        "batch": [
            {"type": "identify", "userId": user, "traits": {"email": email, "firstName": "Bench"}},
            {"type": "track", "userId": user, "event": "Email Subscribed", "properties": {"source": "bench"}},
            {"type": "track", "userId": user, "event": "Signed Up", "properties": {"method": "email"}},
        ]
    }
    from chalicelib.tracking.identity import profile_id_for

    admin = {"Authorization": f"Bearer {os.environ.get('ONE2ONE_LOCAL_ADMIN_TOKEN', 'local-admin-token')}"}
    messages_url = f"{stack.api_url}/admin/profiles/{profile_id_for('user', user)}/messages"
    start = time.perf_counter()
    _request(f"{stack.api_url}/v1/batch", batch, auth)
    # The timed signal is the message record turning `sent`: it is written right after SES accepted the email, i.e.
    # once moto holds it in its outbox. Polling the outbox itself (moto's data.json: every table, every run) would
    # load the two cores it shares with the stack and measure the polling, not the product; the outbox is checked
    # for every run's email afterwards instead.
    while time.perf_counter() - start < timeout:
        records = _request(messages_url, headers=admin).get("messages", [])
        if any(r.get("status") == "sent" for r in records):
            return time.perf_counter() - start
        time.sleep(0.01)
    return None


def _child(runs: int, first_timeout: float) -> dict[str, Any]:
    scenario = immediate_email_scenario()
    if scenario is None:
        return {"status": "n/a", "reason": "no scenario sends an email as the first step after `Signed Up`"}
    os.environ["ONE2ONE_LOCAL_TOOLS"] = "1"
    from local.stack import start_stack

    stack = start_stack(port=0)
    try:
        latencies = []
        emails: list[str] = []
        for index in range(runs):
            latency = _one_run(stack, index, first_timeout if index == 0 else 10.0)
            if latency is None:
                return {
                    "status": "n/a",
                    "reason": f"no email in the outbox within {first_timeout if index == 0 else 10.0:.0f} s of the"
                    f" tracked event, run {index}, scenario {scenario}",
                    "completed_runs": len(latencies),
                }
            latencies.append(latency)
            emails.append(f"bench-e2e-{index}-")
        delivered = {to for m in outbox_messages(stack) for to in (m.get("to") or [])}
        missing = [prefix for prefix in emails if not any(to.startswith(prefix) for to in delivered)]
        if missing:
            return {"status": "n/a", "reason": f"{len(missing)} runs marked sent but missing from the outbox"}
        personalize = _personalize_latency(stack, 20 if runs < 10 else 200)
    finally:
        stack.stop()
    latencies.sort()
    return {
        "status": "ok",
        "scenario": scenario,
        "runs": runs,
        "pump_interval_seconds": 0.1,
        "p50_seconds": statistics.median(latencies),
        "p95_seconds": latencies[min(len(latencies) - 1, int(round(0.95 * (len(latencies) - 1))))],
        "max_seconds": latencies[-1],
        "personalize": personalize,
    }


def _personalize_latency(stack: Any, calls: int) -> dict[str, Any]:
    """`GET /v1/personalize` over HTTP on the local stack (the browser key, a visitor with history, three slots):
    p50 / p95 in ms. The local stack is `chalice local` in one process beside moto, so this is an upper bound of
    the function's own time, not API Gateway's."""
    visitor = "bench-personalize"
    auth = {"Authorization": "Basic " + base64.b64encode(f"{stack.server_key}:".encode()).decode()}
    _request(
        f"{stack.api_url}/v1/track",
        {"anonymousId": visitor, "event": "Product Viewed", "properties": {"product_id": "tee", "category": "shirts"}},
        auth,
    )
    url = f"{stack.api_url}/v1/personalize?writeKey={stack.write_key}&anonymousId={visitor}&slots=hero,recs,banner"
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        _request(url, headers={"Origin": stack.api_url.rstrip("/")})  # the demo shop: the key's own site
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {
        "calls": calls,
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))], 1),
    }


def run(quick: bool = False) -> dict[str, Any]:
    runs = 3 if quick else 100
    try:
        out = subprocess.run(
            [sys.executable, "-m", "bench.e2e", str(runs), "3" if quick else "30"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60 if quick else 900,
        )
    except subprocess.TimeoutExpired:
        return {"status": "n/a", "reason": "the local stack run timed out"}
    lines = [line for line in out.stdout.splitlines() if line.startswith('{"status"')]
    if not lines:
        tail = (out.stderr.strip().splitlines() or ["no output"])[-1][:200]
        return {"status": "n/a", "reason": f"local stack failed: {tail}"}
    return json.loads(lines[-1])


if __name__ == "__main__":
    if len(sys.argv) == 3:
        with contextlib.redirect_stdout(io.StringIO()):
            try:
                result = _child(int(sys.argv[1]), float(sys.argv[2]))
            except Exception as error:  # noqa: BLE001 - any failure of the stack is reported as n/a, never faked
                result = {"status": "n/a", "reason": f"{type(error).__name__}: {str(error)[:200]}"}
        print(json.dumps(result))
    else:
        print(json.dumps(run(quick=True), indent=2))
