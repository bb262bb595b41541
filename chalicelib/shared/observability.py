"""Logs, metrics and traces (AWS Lambda Powertools), built on first use, with personal data masked out of every log.

Wiring: `bp` is a blueprint holding one Chalice middleware for every function of the app (HTTP and events). Per
invocation it sets the correlation id (API Gateway request id, else the Lambda request id), and afterwards flushes the
metrics recorded with `count(...)` as CloudWatch EMF lines. Powertools (and X-Ray) are imported inside functions so
`import app` stays cheap; the first invocation pays for it once.

Masking: emails, phone numbers and IPv4/IPv6 addresses are replaced in the message, its arguments, `extra=` fields and
appended keys, by a filter on the `one2one` logger (every module logs there) and again in the JSON formatter.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from chalice import Blueprint
from chalice.app import Request

if TYPE_CHECKING:
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

SERVICE = "one2one"
NAMESPACE = "one2one"
METRIC_NAMES = frozenset(
    {
        "EventsAccepted",
        "EventsRejected",
        "EventsScored",
        "EventsArchived",
        "ArchiveWriteFailed",
        "MessagesSent",
        "MessagesSkipped",
    }
)

EMAIL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.]*\d)")
# Candidates only: `ipaddress` decides, so clock times (`03:28:01`) and `a::b` in prose are left alone.
IPV6 = re.compile(
    r"(?<![\w:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:(?::|\b)(?:\d{1,3}\.){3}\d{1,3})?(?![\w:]|\.\d)"
)
# A run of digits with the separators people write in phone numbers; `looks_like_phone` decides.
PHONE = re.compile(r"(?<![\w\-./:#])\+?\(?\d[\d ()\-.]{6,}\d\)?(?![\w\-])")
DATE = re.compile(r"\d{4}-\d{2}-\d{2}|\d{2}:\d{2}")
# Keys Powertools itself writes; never personal, and masking them would break log queries.
OWN_KEYS = frozenset(
    {
        "level", "location", "timestamp", "service", "cold_start", "function_name", "function_memory_size",
        "function_arn", "function_request_id", "correlation_id", "xray_trace_id", "sampling_rate",
    }
)  # fmt: skip
STANDARD_RECORD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


# --- masking --------------------------------------------------------------------------------------------------------


def looks_like_phone(text: str) -> bool:
    digits = sum(c.isdigit() for c in text)
    if text.startswith("+"):
        return 8 <= digits <= 15  # E.164 allows at most 15 digits
    if DATE.search(text) or re.fullmatch(r"\d+\.\d+", text):
        return False  # dates, times and decimals are not phone numbers
    return 9 <= digits <= 15


def _ipv6(match: re.Match[str]) -> str:
    text = match.group(0)
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return text
    return "[ip]"


def _ipv4(match: re.Match[str]) -> str:
    try:
        ipaddress.IPv4Address(match.group(0))
    except ValueError:
        return match.group(0)
    return "[ip]"


def mask_text(text: str) -> str:
    """Replace emails, IP addresses and phone numbers in `text` with `[email]`, `[ip]`, `[phone]`.

    Example
    -------
    >>> mask_text("jane@example.com from 203.0.113.7 called +33 6 12 34 56 78")
    '[email] from [ip] called [phone]'
    """
    if not text:
        return text
    if "@" in text:
        text = EMAIL.sub("[email]", text)
    if ":" in text:
        text = IPV6.sub(_ipv6, text)
    if "." in text:
        text = IPV4.sub(_ipv4, text)
    return PHONE.sub(lambda m: "[phone]" if looks_like_phone(m.group(0)) else m.group(0), text)


def mask(value: Any, depth: int = 0) -> Any:
    """Masked copy of a log value: strings are masked, containers walked (to a bounded depth), the rest kept."""
    if isinstance(value, str):
        return mask_text(value)
    if depth > 8:
        return "[...]"
    if isinstance(value, dict):
        return {k: v if k in OWN_KEYS else mask(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [mask(v, depth + 1) for v in value]
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    return mask_text(str(value))  # objects are logged through str(); mask what that would show


class PiiFilter(logging.Filter):
    """Rewrites each record before any handler sees it: the formatted message and every `extra=` field, masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg, record.args = mask_text(message), ()
        for key, value in list(record.__dict__.items()):
            if key not in STANDARD_RECORD_ATTRS and key not in OWN_KEYS:
                record.__dict__[key] = mask(value)
        if record.exc_info and not record.exc_text:
            record.exc_text = mask_text(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        return True


def masking_formatter() -> LambdaPowertoolsFormatter:
    """Powertools' JSON formatter, masking the whole structured line (appended keys included) before it is written."""
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

    class MaskingFormatter(LambdaPowertoolsFormatter):
        def serialize(self, log: dict[str, Any]) -> str:  # type: ignore[override]
            return super().serialize(mask(log))

    return MaskingFormatter()


# --- the three tools, built once per process ------------------------------------------------------------------------


_LOGGER_LOCK = threading.Lock()


@cache
def get_logger() -> Any:
    """The Powertools Logger on the `one2one` logger (JSON lines, correlation id, PII masked).

    Built under a lock: `cache` does not stop two threads (chalice local, the e2e stacks) from both building one, and
    a second Powertools Logger of a configured service takes the logger's FIRST handler as its own, which is
    Chalice's plain one (app.py's `Chalice("one2one")` adds it at import): its `set_correlation_id` then fails with
    "'Formatter' object has no attribute 'append_keys'" on every request of that process."""
    with _LOGGER_LOCK:
        return _build_logger()


@cache
def _build_logger() -> Any:
    from aws_lambda_powertools import Logger

    logger = Logger(service=SERVICE, logger_formatter=masking_formatter())
    install_pii_filter()
    return logger


def install_pii_filter(name: str = SERVICE) -> None:
    target = logging.getLogger(name)
    if not any(isinstance(f, PiiFilter) for f in target.filters):
        target.addFilter(PiiFilter())


@cache
def get_metrics() -> Any:
    from aws_lambda_powertools import Metrics

    return Metrics(namespace=NAMESPACE, service=SERVICE)


@cache
def get_tracer() -> Any | None:
    """X-Ray tracing only inside Lambda with the X-Ray SDK packaged: the SDK costs ~0.3 s to import, so it is opt-in
    by adding `aws-xray-sdk` to requirements.txt (and `POWERTOOLS_TRACE_DISABLED=true` turns it off again)."""
    if not os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or os.environ.get("POWERTOOLS_TRACE_DISABLED") == "true":
        return None
    try:
        import aws_xray_sdk  # noqa: F401 - probing: Powertools' Tracer needs it
    except ImportError:
        return None
    from aws_lambda_powertools import Tracer

    return Tracer(service=SERVICE)


# Counts without a dimension, summed until the next flush: one EMF value a metric per flush, whatever the calls.
_pending: dict[str, float] = {}
_pending_lock = threading.Lock()
_last_flush = [float("-inf")]  # time.monotonic() of the last flush in this process
# HTTP invocations flush at most this often: the tracking routes take one request per event from browsers, and an EMF
# line (~200 bytes) on each cost ~$0.10 per million events in CloudWatch Logs, as much as the rest of their logs. The
# counts of a container's last minute are lost if Lambda retires it before its next request: metrics are for graphs and
# alarms; exact counts come from the fold (the console's daily series).
HTTP_FLUSH_SECONDS = 60.0


def count(name: str, value: float = 1, reason: str | None = None) -> None:
    """Record a count in namespace `one2one`, flushed at the end of the invocation, or within a minute for HTTP
    (`observe`); `reason` becomes a dimension (and its own line, at once).

    Metrics are best effort: a failure here is logged and never fails the request or the batch.
    """
    if name not in METRIC_NAMES:
        raise ValueError(f"unknown metric {name}; add it to METRIC_NAMES")
    if value <= 0:
        return
    if reason is None:
        with _pending_lock:
            _pending[name] = _pending.get(name, 0.0) + value
        return
    try:
        from aws_lambda_powertools.metrics import MetricUnit, single_metric

        # A dimension in EMF applies to the whole blob, so a per-reason count is its own line.
        with single_metric(name=name, unit=MetricUnit.Count, value=value, namespace=NAMESPACE) as metric:
            metric.add_dimension(name="service", value=SERVICE)
            metric.add_dimension(name="reason", value=reason[:100])
    except Exception:  # noqa: BLE001 - observability must never break the work it observes
        logging.getLogger(SERVICE).warning("metric %s not recorded", name, exc_info=True)


def count_ingest(status: int, body: dict[str, Any], accepted: int) -> None:
    """Tracking API counts: stored events, and refused ones by error code (a bounded set, so a fair dimension)."""
    count("EventsAccepted", accepted)
    rejected = body.get("rejected")
    if isinstance(rejected, list):
        for row in rejected:
            count("EventsRejected", 1, reason=str(row.get("error", "invalid")) if isinstance(row, dict) else "invalid")
    elif status >= 400:
        count("EventsRejected", 1, reason=str(body.get("error", "invalid")))


def count_message(sent: bool, reason: str | None = None) -> None:
    """For delivery: `MessagesSent`, or `MessagesSkipped` with why (consent, quiet hours, frequency cap, ...)."""
    if sent:
        count("MessagesSent")
    else:
        count("MessagesSkipped", reason=reason or "unspecified")


def flush_metrics(at_most_every: float = 0.0) -> None:
    """Write the summed counts as one EMF line; with `at_most_every` (seconds), only if the last flush of this process
    is at least that old (the counts wait for a later invocation)."""
    now = time.monotonic()
    with _pending_lock:
        if not _pending or now - _last_flush[0] < at_most_every:
            return
        pending = dict(_pending)
        _pending.clear()
        _last_flush[0] = now
    try:
        from aws_lambda_powertools.metrics import MetricUnit

        metrics = get_metrics()
        for name, value in pending.items():
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
        if metrics.metric_set:
            metrics.flush_metrics()
    except Exception:  # noqa: BLE001 - see count()
        logging.getLogger(SERVICE).warning("metrics not flushed", exc_info=True)


# --- the middleware -------------------------------------------------------------------------------------------------


def lambda_context_of(event: Any) -> Any:
    """HTTP requests carry it as `lambda_context` (their `context` is API Gateway's); other events as `context`."""
    context = getattr(event, "context", None)
    return getattr(event, "lambda_context", None) or (None if isinstance(context, dict) else context)


def correlation_id(event: Any) -> str | None:
    """API Gateway's request id for HTTP (what clients and access logs see), else the Lambda request id."""
    context = getattr(event, "context", None)
    if isinstance(context, dict) and context.get("requestId"):
        return str(context["requestId"])
    return getattr(lambda_context_of(event), "aws_request_id", None)


def observe(event: Any, get_response: Callable[[Any], Any]) -> Any:
    """Chalice middleware: correlation id and Lambda context on every log line, metrics flushed at the end."""
    logger = get_logger()
    logger.set_correlation_id(correlation_id(event))
    lambda_context = lambda_context_of(event)
    # Set (or clear) on every invocation: a warm process must not carry the previous invocation's keys.
    logger.append_keys(
        function_name=getattr(lambda_context, "function_name", None),
        function_request_id=getattr(lambda_context, "aws_request_id", None),
    )
    tracer = get_tracer()
    try:
        if tracer is None:
            return get_response(event)
        with tracer.provider.in_subsegment(f"## {type(event).__name__}"):
            return get_response(event)
    finally:
        flush_metrics(HTTP_FLUSH_SECONDS if isinstance(event, Request) else 0.0)


bp = Blueprint(__name__)
bp.register_middleware(observe, "all")
