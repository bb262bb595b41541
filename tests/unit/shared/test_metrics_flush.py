"""Metrics: counts are summed per flush; HTTP invocations flush at most once a minute, other invocations every time."""

from __future__ import annotations

import json
from typing import Any

import pytest
from chalice.app import Request

from chalicelib.shared import observability
from chalicelib.shared.observability import HTTP_FLUSH_SECONDS, count, observe


def _request() -> Request:
    return Request(
        {
            "httpMethod": "POST",
            "path": "/v1/track",
            "headers": {},
            "requestContext": {"requestId": "r", "httpMethod": "POST", "resourcePath": "/v1/track"},
            "multiValueQueryStringParameters": None,
            "pathParameters": None,
            "stageVariables": None,
            "body": "{}",
            "isBase64Encoded": False,
        }
    )


def _emf_lines(out: str) -> list[dict[str, Any]]:
    return [blob for line in out.splitlines() if line.startswith("{") and "_aws" in (blob := json.loads(line))]


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1_000.0]
    monkeypatch.setattr(observability.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(observability, "_last_flush", [float("-inf")])
    monkeypatch.setattr(observability, "_pending", {})
    return now


def test_http_requests_write_their_counts_summed_at_most_once_a_minute(
    clock: list[float], capsys: pytest.CaptureFixture[str]
) -> None:
    def accept(n: int) -> Any:
        return lambda _: count("EventsAccepted", n)

    observe(_request(), accept(1))  # the first request of a process flushes
    assert [line["EventsAccepted"] for line in _emf_lines(capsys.readouterr().out)] == [[1.0]]
    for n in (2, 3, 4):
        clock[0] += 10
        observe(_request(), accept(n))
    assert _emf_lines(capsys.readouterr().out) == []  # within the minute: kept
    clock[0] += HTTP_FLUSH_SECONDS
    observe(_request(), accept(5))
    assert [line["EventsAccepted"] for line in _emf_lines(capsys.readouterr().out)] == [[14.0]]  # 2+3+4+5, one value


def test_other_invocations_flush_at_their_end_with_what_http_left(
    clock: list[float], capsys: pytest.CaptureFixture[str]
) -> None:
    observe(_request(), lambda _: count("EventsAccepted", 2))
    capsys.readouterr()
    observe(_request(), lambda _: count("EventsAccepted", 3))
    observe(object(), lambda _: count("EventsScored", 7))  # a stream batch: flushed now, with the pending HTTP count
    [line] = _emf_lines(capsys.readouterr().out)
    assert line["EventsScored"] == [7.0] and line["EventsAccepted"] == [3.0]
