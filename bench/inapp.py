"""In-app fetch on the local stack: `GET /v1/in-app` p50 / p95 over HTTP and DynamoDB reads per call (goal p95 < 50 ms,
at most two reads). Run in a child process like bench/e2e.py: the stack sets environment variables and a clock."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BANNER = "free_shipping_banner"  # config/in_app.json: shown after a `Product Viewed`


def _request(url: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json", **(headers or {})})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


def _child(calls: int) -> dict[str, Any]:
    from local.stack import start_stack

    stack = start_stack(port=0)
    try:
        from chalicelib.shared.aws import client

        visitor = "bench-in-app"
        auth = {"Authorization": "Basic " + base64.b64encode(f"{stack.server_key}:".encode()).decode()}
        event = {"anonymousId": visitor, "event": "Product Viewed", "properties": {"product_id": "tee"}}
        _request(f"{stack.api_url}/v1/track", event, auth)
        url = f"{stack.api_url}/v1/in-app?writeKey={stack.write_key}&anonymousId={visitor}"
        origin = {"Origin": stack.api_url.rstrip("/")}  # the demo shop: the key's own site
        deadline = time.perf_counter() + 30
        while not [m for m in _request(url, headers=origin)["messages"] if m["id"] == BANNER]:
            if time.perf_counter() > deadline:
                return {"status": "n/a", "reason": "the banner never showed (the pump did not fold the view)"}
            time.sleep(0.1)
        reads: list[str] = []

        def count(event_name: str, **_: Any) -> None:
            if event_name.rsplit(".", 1)[-1] in ("GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"):
                reads.append(event_name)

        ddb_events = client("dynamodb").meta.events
        times, per_call = [], []
        for _ in range(calls):
            # The pump reads DynamoDB in the same process: count only while a request is in flight, and only
            # when the pump is idle (nothing was tracked since), so the count is the route's own.
            reads.clear()
            ddb_events.register("before-call.dynamodb.*", count)
            started = time.perf_counter()
            _request(url, headers=origin)
            times.append((time.perf_counter() - started) * 1000)
            ddb_events.unregister("before-call.dynamodb.*", count)
            per_call.append(len(reads))
    finally:
        stack.stop()
    times.sort()
    return {
        "status": "ok",
        "calls": calls,
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))], 1),
        # The definitions cache checks its revision (one GetItem) every 30 s: the max may include that one.
        "reads_per_call_median": statistics.median(per_call),
        "reads_per_call_max": max(per_call),
    }


def run(quick: bool = False) -> dict[str, Any]:
    calls = 30 if quick else 300
    try:
        out = subprocess.run(
            [sys.executable, "-m", "bench.inapp", str(calls)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120 if quick else 600,
        )
    except subprocess.TimeoutExpired:
        return {"status": "n/a", "reason": "the local stack run timed out"}
    lines = [line for line in out.stdout.splitlines() if line.startswith('{"status"')]
    if not lines:
        tail = (out.stderr.strip().splitlines() or ["no output"])[-1][:200]
        return {"status": "n/a", "reason": f"local stack failed: {tail}"}
    return json.loads(lines[-1])


def rows(result: dict[str, Any]) -> list[tuple[str, str, str, bool | None]]:
    """(figure, value, target, passed) for bench/__main__.py's table."""
    figure = "In-app fetch GET /v1/in-app over HTTP on the local stack"
    if "p95_ms" not in result:
        return [(figure, f"n/a ({result.get('reason', 'not measured')})", "p95 < 50 ms, <= 2 reads", None)]
    value = (
        f"p50 {result['p50_ms']:.1f} ms, p95 {result['p95_ms']:.1f} ms ({result['calls']} calls), "
        f"{result['reads_per_call_median']:g} reads/call (max {result['reads_per_call_max']})"
    )
    return [(figure, value, "p95 < 50 ms, <= 2 reads", result["p95_ms"] < 50 and result["reads_per_call_median"] <= 2)]


if __name__ == "__main__":
    if len(sys.argv) == 2:
        with contextlib.redirect_stdout(io.StringIO()):
            try:
                result = _child(int(sys.argv[1]))
            except Exception as error:  # noqa: BLE001 - a failure of the stack is reported as n/a, never faked
                result = {"status": "n/a", "reason": f"{type(error).__name__}: {str(error)[:200]}"}
        print(json.dumps(result))
    else:
        print(json.dumps(run(quick=True), indent=2))
