"""Fault injection for tests: make a seeded share of the app's AWS calls fail, through botocore's event hooks.

Two layers, because botocore's own retries (standard mode, 5 attempts) sit between them:

- `layer="send"` hooks `before-send`, which runs once per HTTP attempt *inside* botocore's retry loop. A throttling or
  500 answer (or a read timeout) there is what AWS does on a bad day; botocore retries it with back-off, so the app only
  sees it when every attempt failed. This layer tests that our client config absorbs transient faults.
- `layer="call"` hooks `before-call`, which runs once per API call *outside* the retry loop. A fault there reaches the
  app as if botocore had given up: this layer tests the app's own handling (503 to the client, batchItemFailures to the
  stream, idempotent retries).

Only the app's cached clients (`shared.aws.client`) are hooked; the test's and the pump's clients stay healthy.

    with FaultInjector(rate=0.1, seed=7, layer="call") as faults:
        ...  # exercise the app
    faults.stats  # {"calls": ..., "injected": ..., "by_kind": {...}, "by_operation": {...}}
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError, ReadTimeoutError

Kind = Literal["throttle", "internal", "timeout"]
THROTTLE_CODE = {"dynamodb": "ProvisionedThroughputExceededException"}  # other services say ThrottlingException


@dataclass
class FaultStats:
    calls: int = 0
    injected: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    by_operation: Counter[str] = field(default_factory=Counter)


class FaultInjector:
    """Fails `rate` of the matching calls (deterministic for a seed and a call order) until uninstalled.

    Parameters
    ----------
    rate: share of calls (or HTTP attempts, for `layer="send"`) that fail.
    seed: the random seed; the same seed and the same sequence of calls fail the same calls.
    services: botocore service names whose app clients are hooked, e.g. ("dynamodb", "ses", "sns", "sqs").
    layer: "call" (after botocore's retries: the app sees every fault) or "send" (below them).
    kinds: which failures to draw from, uniformly.
    operations: only these operation names (e.g. {"PutItem"}); None means all.
    """

    def __init__(
        self,
        rate: float,
        seed: int,
        services: tuple[str, ...] = ("dynamodb",),
        layer: Literal["call", "send"] = "call",
        kinds: tuple[Kind, ...] = ("throttle", "internal", "timeout"),
        operations: set[str] | None = None,
    ) -> None:
        self.rate = rate
        self.random = random.Random(seed)
        self.services = services
        self.layer = layer
        self.kinds = kinds
        self.operations = operations
        self.stats = FaultStats()
        self._lock = threading.Lock()
        self._hooks: list[tuple[Any, str, Any]] = []

    # -- the hooks -------------------------------------------------------------------------------------------------

    def _draw(self, service: str, operation: str) -> Kind | None:
        if self.operations is not None and operation not in self.operations:
            return None
        with self._lock:
            self.stats.calls += 1
            if self.random.random() >= self.rate:
                return None
            kind = self.random.choice(self.kinds)
            self.stats.injected += 1
            self.stats.by_kind[kind] += 1
            self.stats.by_operation[f"{service}.{operation}"] += 1
            return kind

    def _error(self, service: str, kind: Kind) -> tuple[int, str]:
        if kind == "throttle":
            return 400, THROTTLE_CODE.get(service, "ThrottlingException")
        return 500, "InternalServerError"

    def _before_call(self, service: str) -> Any:
        def hook(model: Any, **_: Any) -> None:
            kind = self._draw(service, model.name)
            if kind is None:
                return
            if kind == "timeout":
                raise ReadTimeoutError(endpoint_url=f"https://{service}.injected")
            status, code = self._error(service, kind)
            raise ClientError(
                {"Error": {"Code": code, "Message": "injected fault"}, "ResponseMetadata": {"HTTPStatusCode": status}},
                model.name,
            )

        return hook

    def _before_send(self, service: str) -> Any:
        def hook(request: Any, **_: Any) -> AWSResponse | None:
            operation = (request.context or {}).get("operation_name") or "?"
            kind = self._draw(service, operation)
            if kind is None:
                return None
            if kind == "timeout":
                raise ReadTimeoutError(endpoint_url=request.url)
            status, code = self._error(service, kind)
            body = f'{{"__type":"com.amazonaws.{service}#{code}","message":"injected fault"}}'.encode()
            headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-ErrorType": code}
            return AWSResponse(request.url, status, headers, _Raw(body))

        return hook

    # -- install / uninstall ---------------------------------------------------------------------------------------

    def install(self) -> FaultInjector:
        from chalicelib.shared.aws import client

        for service in self.services:
            events = client(service).meta.events
            service_id = client(service).meta.service_model.service_id.hyphenize()
            event = f"{'before-call' if self.layer == 'call' else 'before-send'}.{service_id}"
            handler = self._before_call(service) if self.layer == "call" else self._before_send(service)
            # unique_id: botocore keeps handlers weakly by default; a closure would vanish at once.
            unique_id = f"fault-injector-{id(self)}-{service}"
            events.register_first(event, handler, unique_id=unique_id)
            self._hooks.append((events, event, unique_id))
        return self

    def uninstall(self) -> None:
        for events, event, unique_id in self._hooks:
            events.unregister(event, unique_id=unique_id)
        self._hooks.clear()

    def __enter__(self) -> FaultInjector:
        return self.install()

    def __exit__(self, *_: Any) -> None:
        self.uninstall()


class _Raw:
    """The minimal urllib3-like body AWSResponse reads from."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, *_: Any, **__: Any) -> Any:
        yield self._body

    def read(self, *_: Any) -> bytes:
        body, self._body = self._body, b""
        return body


class ProviderFaults:
    """Fails `rate` of one provider operation's calls on the app's own client (seeded): throttled or an internal error
    before the request, a timeout, or a response lost after the provider accepted it (`lost` names those calls'
    targets, which the app never heard were accepted: the crash window exactly-once sending must survive).

    `operation` is botocore's `<service>.<Operation>`; `target` names the call from its parameters (None: a call that
    is not faulted nor counted); `throttle` and `internal` are the provider's (error code, HTTP status)."""

    def __init__(
        self,
        rate: float,
        seed: int,
        *,
        client: Any,
        operation: str,
        target: Any,
        throttle: tuple[str, int],
        internal: tuple[str, int],
    ) -> None:
        self.rate = rate
        self.random = random.Random(seed)
        self.calls = 0
        self.by_kind: Counter[str] = Counter()
        self.lost: list[str] = []
        self._client, self._operation, self._target = client, operation, target
        self._errors = {"throttle": throttle, "internal": internal}
        self._host = f"https://{operation.split('.', 1)[0]}.injected"
        self._lock = threading.Lock()
        self._hooks: list[tuple[str, str]] = []

    def _params(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["one2one_target"] = self._target(params)

    def _before(self, model: Any, context: dict[str, Any], **_: Any) -> None:
        if context.get("one2one_target") is None:
            return
        with self._lock:
            self.calls += 1
            if self.random.random() >= self.rate:
                return
            kind = self.random.choice(PROVIDER_FAULT_KINDS)
            self.by_kind[kind] += 1
        if kind == "lost_response":
            context["one2one_lose_response"] = True
        elif kind == "timeout":
            raise ReadTimeoutError(endpoint_url=self._host)
        else:
            code, status = self._errors[kind]
            raise ClientError(
                {"Error": {"Code": code, "Message": "injected fault"}, "ResponseMetadata": {"HTTPStatusCode": status}},
                model.name,
            )

    def _after(self, context: dict[str, Any], **_: Any) -> None:
        if context.get("one2one_lose_response"):
            self.lost.append(context["one2one_target"])
            raise ReadTimeoutError(endpoint_url=self._host)

    def __enter__(self) -> ProviderFaults:
        events = self._client().meta.events
        for stage, handler in (
            ("provide-client-params", self._params),
            ("before-call", self._before),
            ("after-call", self._after),
        ):
            event, unique_id = f"{stage}.{self._operation}", f"provider-faults-{id(self)}-{stage}"
            events.register_first(event, handler, unique_id=unique_id)
            self._hooks.append((event, unique_id))
        return self

    def __exit__(self, *_: Any) -> None:
        for event, unique_id in self._hooks:
            self._client().meta.events.unregister(event, unique_id=unique_id)
        self._hooks.clear()


PROVIDER_FAULT_KINDS = ("throttle", "internal", "timeout", "lost_response")
