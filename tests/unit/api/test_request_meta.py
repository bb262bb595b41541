"""Which address a request comes from: API Gateway's view of the caller, not a header the caller wrote."""

from __future__ import annotations

import pytest
from chalice.app import Request

from chalicelib.api.http import request_meta


def _request(peer: str | None, forwarded: str | None) -> Request:
    headers = {"x-forwarded-for": forwarded} if forwarded else {}
    identity = {"sourceIp": peer} if peer else {}
    return Request(
        {
            "multiValueQueryStringParameters": None,
            "headers": headers,
            "pathParameters": None,
            "requestContext": {"httpMethod": "POST", "resourcePath": "/v1/track", "identity": identity},
            "body": None,
            "isBase64Encoded": False,
            "stageVariables": None,
        }
    )


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("203.0.113.5", "198.51.100.1", "203.0.113.5"),  # a client-written header never beats API Gateway's view
        ("203.0.113.5", None, "203.0.113.5"),
        ("127.0.0.1", "198.51.100.1, 127.0.0.1", "198.51.100.1"),  # behind a local proxy (the local stack)
        ("10.0.0.8", "198.51.100.1", "198.51.100.1"),
        (None, "198.51.100.1", "198.51.100.1"),
    ],
)
def test_the_source_address_is_api_gateways_unless_a_local_proxy_forwarded_it(peer, forwarded, expected) -> None:
    assert request_meta(_request(peer, forwarded)).source_ip == expected
