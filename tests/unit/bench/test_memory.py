"""The memory rows measure the child's own peak, not the bench process it was forked from."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_a_child_of_a_big_process_reports_its_own_peak_not_the_parents():
    ballast = bytearray(160 * 1024 * 1024)
    for page in range(0, len(ballast), 4096):  # touched, so it is resident in this (the parent) process
        ballast[page] = 1
    child = "from bench.memory import _rss_mb; print(_rss_mb())"
    out = subprocess.run([sys.executable, "-c", child], cwd=ROOT, capture_output=True, text=True, check=True)
    assert float(out.stdout.strip()) < 80  # a bare interpreter; ru_maxrss said >= 160 here
    del ballast
