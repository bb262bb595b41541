"""The Powertools logger is built once per process even when threads ask for it at the same moment (chalice local and
the e2e stacks serve requests on threads): a second one would take Chalice's plain handler as its own and fail every
request's `set_correlation_id`. Run in a fresh interpreter: the logger is per process and must not be rebuilt here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

CODE = """
import threading, time
import app  # Chalice("one2one") adds its plain stdout handler first, as in Lambda
from chalicelib.shared import observability

slow = observability.masking_formatter
def masking_formatter():
    time.sleep(0.05)  # widen the window in which a second thread could also build a logger
    return slow()
observability.masking_formatter = masking_formatter

barrier, got = threading.Barrier(8), []
def ask():
    barrier.wait()
    got.append(observability.get_logger())
threads = [threading.Thread(target=ask) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
assert len({id(logger) for logger in got}) == 1, "several loggers built"
got[0].set_correlation_id("abc")  # fails with a plain Formatter as the logger's handler
print("ok")
"""


def test_threads_asking_at_once_share_one_logger_whose_correlation_id_works() -> None:
    done = subprocess.run([sys.executable, "-c", CODE], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-2000:]
