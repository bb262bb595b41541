"""Peak memory (RSS) of the ingest and scoring paths at a 1,000-record batch, each in a fresh subprocess."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _rss_mb() -> float:
    """This process image's peak RSS. `ru_maxrss` is not it: Linux carries the forked parent's high-water mark across
    `exec`, so a child of the bench (moto, every earlier section: ~300 MB) reported the parent's size whatever it
    used itself. `VmHWM` belongs to the address space, which `exec` replaces."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _child(path: str, records: int) -> dict[str, float]:
    """Runs in the subprocess: import what the Lambda imports, note RSS, run one batch, note peak RSS."""
    import boto3

    import app  # noqa: F401 - every handler, as the deployed function loads them
    from bench import scoring, workload

    boto3.session.Session().client("dynamodb", region_name="us-east-1")  # the adapters' client
    imports = _rss_mb()
    world = scoring.World()
    world.fold.config  # noqa: B018 - loaded on the first batch in Lambda too
    if path == "ingest":
        import random

        rng = random.Random(3)
        messages = [workload.message(n % 500, n, workload.NOW, rng) for n in range(records)]
        body = json.dumps({"batch": messages}).encode()
        baseline = _rss_mb()
        from chalicelib.tracking.ingest import RequestMeta

        # One request body of `records` messages (over the 500 KB API limit at 1,000: an upper bound on a request).
        result = world.ingest.ingest(world.source, json.loads(body)["batch"], None, RequestMeta(headers={}), batch=True)
        assert len(result[0]) == records
    else:
        scoring.warm_profiles(world, records // 5)
        event = scoring.stream_batch(world, scoring.Mix(records // 5, 5))
        seeded = dict(world.profiles.items)
        baseline = _rss_mb()
        world.profiles.items = seeded
        world.fold.fold_batch(event["Records"])
        assert world.fold.last_stats.profiles_written == records // 5
    return {"imports_mb": imports, "baseline_mb": baseline, "peak_mb": _rss_mb()}


def measure(path: str, records: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.memory", path, str(records)], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(quick: bool = False) -> dict[str, Any]:
    records = 100 if quick else 1000
    return {"records": records, "ingest": measure("ingest", records), "scoring": measure("scoring", records)}


if __name__ == "__main__":
    if len(sys.argv) == 3:
        import contextlib
        import io

        with contextlib.redirect_stdout(io.StringIO()):
            figures = _child(sys.argv[1], int(sys.argv[2]))
        print(json.dumps(figures))
    else:
        print(json.dumps(run(), indent=2))
