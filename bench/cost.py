"""AWS cost per million events and per 10,000 monthly active profiles, priced from the metered pipeline run
(bench/pipeline.py): every line item is a measured quantity times a dated list price (bench/prices.py).

What is measured (per workload): API requests; each function's invocations, own time and log bytes; every AWS call
each function made, priced by bench/metering.py. What is assumed (stated in the output): the in-region latency of each
AWS call (moto answers in-process), the CPU a Lambda gets at its memory size, Lambda's own log lines per invocation.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.prices import PRICE_LIST, MissingPrice, PriceBook, dates, price_book

ROOT = Path(__file__).resolve().parent.parent
WORKLOADS = {
    "1_event_per_request/realistic": "1 event/request, realistic mix",
    "1_event_per_request/1_event_per_profile": "1 event/request, 1 event/profile",
    "batches_of_20/realistic": "batches of 20, realistic mix",
    "batches_of_20/1_event_per_profile": "batches of 20, 1 event/profile",
}
# Assumed in-region latency of one call (moto answers in-process in microseconds; a Lambda waits this long on AWS).
CALL_SECONDS = {"dynamodb": 0.005, "s3": 0.020, "sqs": 0.010, "sns": 0.010, "sesv2": 0.030, "ses": 0.030}
DEFAULT_CALL_SECONDS = 0.010
FULL_VCPU_MB = 1769  # Lambda gives a function one full vCPU at 1,769 MB, proportionally less below
PLATFORM_LOG_BYTES = 300  # Lambda's START / END / REPORT lines of every invocation (measured lines are added to it)
# Resource in the templates -> the tracking endpoint it makes, in the order the README recommends them to SDKs.
TRACKING_ENDPOINTS = (("AWS::Lambda::Url", "function_url"), ("AWS::ApiGatewayV2::Api", "http"))
SPECIAL_LOGICAL_IDS = {"api_handler": "APIHandler", "admin_api": "AdminAPIHandler"}  # chalice's names for these two
EVENTS_PER_PROFILE_MONTH = 100  # per 10k monthly active profiles: events each sends in a month (assumed)
EMAILS_PER_PROFILE_MONTH = 4  # and emails each receives (assumed); both as in the earlier model, for comparison
# Line -> (price name, quantity divisor): cost = quantity / divisor * price.
LINE_PRICES = {
    "dynamodb_wru": ("dynamodb_per_million_wru", 1e6),
    "dynamodb_rru": ("dynamodb_per_million_rru", 1e6),
    "s3_put_requests": ("s3_per_1000_put_requests", 1e3),
    "s3_get_requests": ("s3_per_1000_get_requests", 1e3),
    "sqs_requests": ("sqs_per_million_requests", 1e6),
    "sns_publishes": ("sns_per_million_publishes", 1e6),
    "ses_emails": ("ses_per_1000_emails", 1e3),
    "secretsmanager_calls": ("secretsmanager_per_10k_api_calls", 1e4),
}
UNPRICED_LINES = {"s3_bytes_put"}  # a quantity kept for the report (archive bytes), billed as storage, not per call
# The sending pipeline: what a message costs beyond its provider's price (SES, SNS), whatever made it be sent. Pinpoint
# prices it the same way: events per million, messages per message. These functions work per message; the event
# sources' polling (delivery queue, SES events topic) too; and of the scenario consumer, what it writes to hand a step
# to delivery (the message record, the due store, the delivery queue).
SENDING_FUNCTIONS = {"deliver_steps", "release_due_steps", "sweep_stuck_messages", "ses_feedback"}
SENDING_EVENT_SOURCES = "(event sources: pollers, SES events)"
SENDING_RESOURCES = ("one2one-messages", "one2one-due", "SendMessageBatch", "SendMessage")
PROVIDER_LINES = ("ses_emails", "sns_publishes/Publish (deliver_steps)")


def is_sending(line: str) -> bool:
    """Whether a line item belongs to the sending pipeline (see SENDING_FUNCTIONS), provider prices included."""
    function = line.rsplit(" (", 1)[-1].rstrip(")") if line.endswith(")") else ""
    head, _, detail = line.partition("/")
    if head.startswith(("lambda_", "cloudwatch_logs")):
        function = detail.split(" ", 1)[0]
    if SENDING_EVENT_SOURCES in line or function in SENDING_FUNCTIONS:
        return True
    return function == "run_scenarios" and detail.split(" ", 1)[0].split("/", 1)[0] in SENDING_RESOURCES


def tracking_api_types(root: Path = ROOT) -> list[str]:
    """The endpoints the tracking routes have, the one the SDKs are told to use (README) first: "function_url" (a
    Lambda function URL), "http" (API Gateway HTTP API), else "rest" (the REST API Chalice generates). Read from the
    merge template and the packaging script, so the bill follows the template."""
    text = (root / "infra" / "resources.json").read_text()
    package = root / "local" / "package.py"
    text += package.read_text() if package.exists() else ""
    found = [kind for resource, kind in TRACKING_ENDPOINTS if resource in text]
    return found or ["rest"]


def tracking_api_type(root: Path = ROOT) -> str:
    """The endpoint the SDKs are told to use (see tracking_api_types): what the cost rows are priced with."""
    return tracking_api_types(root)[0]


def platform_log_bytes(functions: list[str]) -> dict[str, int]:
    """Per function, the bytes of Lambda's own START / END / REPORT lines per invocation: PLATFORM_LOG_BYTES where the
    packaged template still lets Lambda write them (no LoggingConfig, or a SystemLogLevel of INFO or DEBUG), 0 where
    its system level is WARN. The levels are read from a template patched by local/package.py, as `make package`
    patches chalice's (a function's logical id as chalice names it), so the bill follows the template."""
    from chalice.utils import to_cfn_resource_name

    from local.package import patch_template
    from local.provision import load_template

    template = load_template()
    logical_ids = {name: SPECIAL_LOGICAL_IDS.get(name) or to_cfn_resource_name(name) for name in functions}
    for logical_id in logical_ids.values():
        template["Resources"][logical_id] = {"Type": "AWS::Serverless::Function", "Properties": {}}
    resources = patch_template(template)["Resources"]
    levels = {
        name: resources[logical_id]["Properties"].get("LoggingConfig", {}) for name, logical_id in logical_ids.items()
    }
    return {
        name: 0 if config.get("SystemLogLevel") == "WARN" else PLATFORM_LOG_BYTES for name, config in levels.items()
    }


def api_price_per_request(prices: PriceBook, api_type: str) -> float:
    if api_type == "function_url":
        return 0.0  # a function URL costs only the function's own invocation
    return prices[f"apigw_{api_type}_per_million_requests"] / 1e6


def lambda_gb_seconds(memory_mb: int, invocations: int, own_seconds: float, aws_calls: dict[str, int]) -> float:
    """Billed GB-seconds: per invocation, the measured own time stretched to the CPU share the memory buys, plus the
    assumed in-region latency of its AWS calls, rounded up to the millisecond."""
    if invocations == 0:
        return 0.0
    cpu_scale = max(1.0, FULL_VCPU_MB / memory_mb)
    waiting = sum(n * CALL_SECONDS.get(service, DEFAULT_CALL_SECONDS) for service, n in aws_calls.items())
    per_invocation = (own_seconds * cpu_scale + waiting) / invocations
    return invocations * math.ceil(per_invocation * 1000) / 1000 * memory_mb / 1024


def price_workload(
    snapshot: dict[str, Any],
    memory: dict[str, int],
    prices: PriceBook,
    api_type: str,
    platform_bytes: dict[str, int] | None = None,
) -> dict[str, Any]:
    """Every line item of one workload, in dollars per million events, with its quantity per million events;
    `platform_bytes`: Lambda's own log bytes per invocation by function (platform_log_bytes; PLATFORM_LOG_BYTES for
    any function it does not name)."""
    scale = 1e6 / snapshot["events"]
    lines: dict[str, float] = {}
    quantities: dict[str, float] = {}

    def add(name: str, dollars: float, quantity: float) -> None:
        lines[name] = lines.get(name, 0.0) + dollars * scale
        quantities[name] = quantities.get(name, 0.0) + quantity * scale

    add(f"api_gateway_{api_type}", snapshot["requests"] * api_price_per_request(prices, api_type), snapshot["requests"])
    log_bytes_total = 0.0
    for function, figures in sorted(snapshot["functions"].items()):
        mb = memory.get(function, memory["default"])
        invocations = figures["invocations"]
        add(f"lambda_requests/{function}", invocations * prices["lambda_per_million_requests"] / 1e6, invocations)
        gb_s = lambda_gb_seconds(mb, invocations, figures["own_seconds"], figures["aws_calls"])
        add(f"lambda_duration/{function} ({mb} MB)", gb_s * prices["lambda_per_gb_second"], gb_s)
        log_bytes = figures["log_bytes"] + invocations * (platform_bytes or {}).get(function, PLATFORM_LOG_BYTES)
        log_bytes_total += log_bytes
        add(f"cloudwatch_logs/{function}", log_bytes / 1024**3 * prices["cloudwatch_logs_per_gb_ingested"], log_bytes)
    for row in snapshot["quantities"]:
        if row["line"] in UNPRICED_LINES:
            quantities[f"{row['line']}/{row['detail']}"] = (
                quantities.get(f"{row['line']}/{row['detail']}", 0.0) + row["quantity"] * scale
            )
            continue
        if row["line"] not in LINE_PRICES:
            raise MissingPrice(row["line"])
        price_name, divisor = LINE_PRICES[row["line"]]
        dollars = row["quantity"] / divisor * prices[price_name]
        add(f"{row['line']}/{row['detail']} ({row['function']})", dollars, row["quantity"])
    total = sum(lines.values())
    sending = sum(dollars for name, dollars in lines.items() if is_sending(name))
    providers = sum(dollars for name, dollars in lines.items() if name.startswith(PROVIDER_LINES))
    messages = sum(
        quantities.get(name, 0.0) for name in quantities if name.startswith(PROVIDER_LINES) and is_sending(name)
    )
    return {
        "events": snapshot["events"],
        "requests": snapshot["requests"],
        "profiles": snapshot["profiles"],
        "lines": dict(sorted(lines.items(), key=lambda kv: -kv[1])),
        "quantities_per_million_events": quantities,
        "log_bytes_per_event": log_bytes_total / snapshot["events"],
        "total": total,
        # Tracking, profiles, segments, predictions and triggers: what Pinpoint's per-event price stands for.
        "events_total": total - sending,
        "sending_total": sending,
        "messages_per_million_events": messages,
        # The sending pipeline per 1,000 messages, SES/SNS excluded (they are priced per message wherever one sends).
        "sending_per_1000_messages": (sending - providers) / messages * 1000 if messages else None,
        "by_kind": _by_kind(lines),
    }


def _by_kind(lines: dict[str, float]) -> dict[str, float]:
    """The same total grouped by service (the bill's sections)."""
    kinds: dict[str, float] = {}
    for name, dollars in lines.items():
        head = name.split("/", 1)[0]
        kind = {"dynamodb_wru": "dynamodb writes", "dynamodb_rru": "dynamodb reads"}.get(head, head)
        kinds[kind] = kinds.get(kind, 0.0) + dollars
    return dict(sorted(kinds.items(), key=lambda kv: -kv[1]))


def per_10k_profiles(models: dict[str, dict[str, Any]], prices: PriceBook) -> dict[str, Any]:
    """A month of 10,000 active profiles: EVENTS_PER_PROFILE_MONTH events and EMAILS_PER_PROFILE_MONTH emails each."""
    events = 10_000 * EVENTS_PER_PROFILE_MONTH
    emails = 10_000 * EMAILS_PER_PROFILE_MONTH
    ses = emails * prices["ses_per_1000_emails"] / 1000
    ours = {key: model["total"] * events / 1e6 + ses for key, model in models.items()}
    endpoints = max(0.0, 10_000 - prices["pinpoint_free_targeted_endpoints"])
    pinpoint = (
        events * prices["pinpoint_per_million_events"] / 1e6
        + endpoints * prices["pinpoint_per_targeted_endpoint"]
        + ses
    )
    segment = (
        prices["segment_team_per_month"]
        + max(0.0, 10_000 - prices["segment_team_included_mtus"]) * prices["segment_per_mtu_10k_25k"]
    )
    return {"ours": ours, "pinpoint": pinpoint, "segment_team_cdp_only": segment, "events": events, "emails": emails}


def measure(quick: bool) -> dict[str, Any]:
    """The metered pipeline, in a fresh process (its loggers must bind the counting streams; moto starts empty)."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.pipeline", *(["--quick"] if quick else [])],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600 if quick else 1800,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"bench.pipeline printed nothing: {done.stderr.strip()[-300:]}")
    document: dict[str, Any] = json.loads(lines[-1])
    if document.get("status") == "error":
        if document["reason"].startswith("UnpricedCall"):
            raise MissingPrice(document["reason"].split(": ", 1)[1])
        raise RuntimeError(document["reason"])
    return document


def run(quick: bool = False, measured: dict[str, Any] | None = None) -> dict[str, Any]:
    from bench.pipeline import function_memory_mb

    prices = price_book()
    measured = measured if measured is not None else measure(quick)
    memory = function_memory_mb()
    api_types = tracking_api_types()
    api_type = api_types[0]
    functions = sorted({name for key in WORKLOADS for name in measured[key]["functions"]})
    platform = platform_log_bytes(functions)
    models = {key: price_workload(measured[key], memory, prices, api_type, platform) for key in WORKLOADS}
    # The same events through the other tracking endpoints the template has (the HTTP API beside the function URL).
    alternatives = {
        other: {key: price_workload(measured[key], memory, prices, other, platform) for key in WORKLOADS}
        for other in api_types[1:]
    }
    return {
        "prices_as_of": min(dates().values()),
        "price_dates": dates(),
        "prices": dict(prices),
        "price_sources": {name: price.source for name, price in PRICE_LIST.items()},
        "api_type": api_type,
        "assumptions": {
            "call_latency_seconds": CALL_SECONDS,
            "lambda_cpu": f"own time x max(1, {FULL_VCPU_MB} MB / memory): a full vCPU at {FULL_VCPU_MB} MB",
            "lambda_memory_mb": memory,
            "platform_log_bytes_per_invocation": PLATFORM_LOG_BYTES,
            "platform_log_bytes_by_function": platform,
            "warm_containers": "cold starts and schedules (fixed per month, not per event) are not in the figures",
            "events_per_profile_month": EVENTS_PER_PROFILE_MONTH,
            "emails_per_profile_month": EMAILS_PER_PROFILE_MONTH,
            "storage": "DynamoDB and S3 storage (per GB-month, set by retention) are not per-event lines",
            "workload": (
                f"{measured['events_per_workload']} events per workload on moto; realistic = returning visitors with"
                " 5 events each, 1 in 10 a new sign-up (welcome email); 1 event/profile = every event a new profile"
            ),
        },
        "per_million_events": models,
        "api_types": api_types,
        "per_million_events_via": {
            other: {key: {"total": m["total"], "events_total": m["events_total"]} for key, m in by_key.items()}
            for other, by_key in alternatives.items()
        },
        "pinpoint_per_million_events": prices["pinpoint_per_million_events"],
        "per_10k_monthly_active_profiles": per_10k_profiles(models, prices),
        "measured": measured,  # the raw counts (calls, units by operation, log sample): what each line came from
    }


def line_item_table(cost: dict[str, Any]) -> str:
    """Every line item of every workload, dollars per million events (a markdown table)."""
    models = cost["per_million_events"]
    names: list[str] = []
    for model in models.values():
        names += [n for n in model["lines"] if n not in names]
    first = next(iter(models.values()))["lines"]
    names.sort(key=lambda n: -first.get(n, 0.0))
    header = "| line item ($ per 1M events) | " + " | ".join(WORKLOADS[k] for k in models) + " |"
    sep = "|---|" + "---:|" * len(models)
    rows = [
        f"| {name} | " + " | ".join(f"{models[k]['lines'].get(name, 0.0):.4f}" for k in models) + " |" for name in names
    ]
    rows.append("| **total** | " + " | ".join(f"**{models[k]['total']:.2f}**" for k in models) + " |")
    return "\n".join([header, sep, *rows])
