"""Stream ARNs for event-source decorators.

Chalice needs a literal ARN when the decorator runs, but our streams are created by the merged CloudFormation template.
The deployed value is patched in the package template (see local/package.py); locally the pump matches handlers to
tables by the table name inside the ARN, so a placeholder that names the table is enough.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from chalicelib.shared.settings import table_name

PLACEHOLDER_STREAM_LABEL = "2026-01-01T00:00:00.000"


def stream_arn(logical_id: str, env_var: str) -> str:
    region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
    return os.environ.get(env_var) or (
        f"arn:aws:dynamodb:{region}:123456789012:table/{table_name(logical_id)}/stream/{PLACEHOLDER_STREAM_LABEL}"
    )


def sequence_of(record: Mapping[str, Any]) -> str:
    """A stream record's sequence number ("" when it has none)."""
    return str((record.get("dynamodb") or {}).get("SequenceNumber") or "")


def sequence_order(sequence: str) -> int:
    """A sequence number as a number, for "past the last one counted" (-1 for none). A batch marker may carry a
    suffix after `#` (the daily counters' `<sequence>#active`): it is the sequence that orders."""
    try:
        return int(sequence.split("#", 1)[0])
    except ValueError:
        return -1
