"""Cold start: import time of `app.py` with every handler, in fresh interpreters, beside a bare `import boto3`."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PROBE = "import time, sys; t = time.perf_counter(); import {module}; sys.stdout.write(repr(time.perf_counter() - t))"


def import_seconds(module: str) -> float:
    """Seconds to import `module` in a fresh interpreter (`-B`: no bytecode writes; caches are already warm)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT")}
    out = subprocess.run(
        [sys.executable, "-B", "-c", PROBE.format(module=module)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def heaviest_imports(module: str = "app", top: int = 8) -> list[tuple[str, float]]:
    """`python -X importtime`: the top-level packages that cost the most (cumulative), to show what to make lazy."""
    out = subprocess.run(
        [sys.executable, "-B", "-X", "importtime", "-c", f"import {module}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    parsed = []
    for line in out.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            name = parts[2].rstrip()
            parsed.append((len(name) - len(name.lstrip()), name.strip(), int(parts[1]) / 1e6))
    top_level = min((depth for depth, name, _ in parsed if name == module), default=1)
    rows = [(name, seconds) for depth, name, seconds in parsed if depth == top_level + 2]  # what `module` imports
    return sorted(rows, key=lambda r: -r[1])[:top]


def run(quick: bool = False) -> dict[str, Any]:
    runs = 3 if quick else 11
    import_seconds("app")  # warm the bytecode and file caches once
    app_times, boto_times = [], []
    for _ in range(runs):  # interleaved, so a busy moment on the machine hits both
        app_times.append(import_seconds("app"))
        boto_times.append(import_seconds("boto3"))
    app_median, boto_median = statistics.median(app_times), statistics.median(boto_times)
    return {
        "runs": runs,
        "import_app_seconds": app_median,
        "import_boto3_seconds": boto_median,
        "ratio": app_median / boto_median,
        "heaviest_top_level_imports": heaviest_imports() if not quick else [],
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
