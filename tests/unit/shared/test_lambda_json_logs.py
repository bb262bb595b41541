"""The app's log lines under Lambda's advanced logging controls (local/package.logging_config: JSON format, the
application level in AWS_LAMBDA_LOG_LEVEL): every warning and error reaches stdout exactly once, as one JSON object
whose "level" Lambda filters by and whose message is the text (not JSON encoded twice), and none also goes to the
runtime's own root handler. Run in a fresh interpreter with the variables Lambda sets: the logger is per process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

CODE = """
import logging, sys
# The Python runtime's root handler in JSON mode (awslambdaric installs one before it imports the handler's module).
class RuntimeHandler(logging.Handler):
    def emit(self, record):
        sys.stdout.write("RUNTIME " + record.getMessage() + "\\n")
logging.getLogger().addHandler(RuntimeHandler())
import app
from chalicelib.shared.observability import get_logger
log = get_logger()
log.debug("a debug line")
log.info("an info line")
log.warning("a warning for a@b.example")
log.error("an error line")
logging.getLogger("one2one").warning("a stdlib warning")
logging.getLogger("one2one.tracking").error("a child logger's error")
app.app.log.error("Caught exception for path %s", "/v1/track")  # what Chalice logs for an unhandled error
"""


def test_warnings_and_errors_reach_stdout_once_as_json_lines_lambda_can_filter() -> None:
    env = {
        **os.environ,
        "AWS_LAMBDA_FUNCTION_NAME": "one2one-prod-APIHandler",
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_LAMBDA_LOG_LEVEL": "INFO",
        "POWERTOOLS_LOG_LEVEL": "DEBUG",  # a stage's level: Lambda's (INFO) wins, as it filters anyway
        "POWERTOOLS_SERVICE_NAME": "one2one",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", CODE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]

    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert not [line for line in lines if line.startswith("RUNTIME")]  # nothing also went to the root handler
    records = [json.loads(line) for line in lines]  # every line is one JSON object: no plain duplicate
    assert [(r["level"], r["message"]) for r in records] == [
        ("INFO", "an info line"),
        ("WARNING", "a warning for [email]"),
        ("ERROR", "an error line"),
        ("WARNING", "a stdlib warning"),
        ("ERROR", "a child logger's error"),
        ("ERROR", "Caught exception for path /v1/track"),
    ]
