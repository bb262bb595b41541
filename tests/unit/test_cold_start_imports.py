"""Cold start is a product feature: importing the app (every handler) must not load the heavy libraries.

`make bench` measures the time; this guards the cause in the fast suite. A top-level import of the profile model in
one blueprint once took `import app` from ~55 ms to ~135 ms.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAZY = (
    "pydantic",
    "msgspec",
    "boto3",
    "botocore",
    "chalicelib.profiles.model",
    "chalicelib.profiles.codec",
    "lz4",
    "jinja2",
    "yaml",
)


def test_importing_the_app_loads_no_heavy_library() -> None:
    code = f"import sys, app; print(sorted(m for m in {LAZY!r} if m in sys.modules))"
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
