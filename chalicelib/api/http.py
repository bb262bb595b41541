"""Small helpers shared by the HTTP blueprints: JSON responses, CORS, request metadata, and the AWS-failure guard."""

from __future__ import annotations

import json
import logging
import zlib
from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any

from chalice import Response
from chalice.app import Request

if TYPE_CHECKING:
    from chalicelib.tracking.ingest import RequestMeta

log = logging.getLogger("one2one")


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    out_headers: dict[str, str | list[str]] = {"Content-Type": "application/json", "Cache-Control": "no-store"}
    out_headers.update(headers or {})
    payload = "" if status == 204 else json.dumps(body, default=str, separators=(",", ":"))
    return Response(body=payload, status_code=status, headers=out_headers)


def cors_headers(origin: str | None) -> dict[str, str]:
    """Headers that let a browser page on `origin` read the response (none without an origin)."""
    if not origin:
        return {}
    # sendBeacon sends credentials, so the allowed origin must be echoed (not "*") with Allow-Credentials.
    return {"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Credentials": "true", "Vary": "Origin"}


def preflight_response(meta: RequestMeta, allowed: bool) -> Response:
    """The answer to a CORS preflight: 204 with what the real request may carry, or 403."""
    if not allowed:
        return json_response(403, {"success": False, "error": "origin_not_allowed"})
    headers = cors_headers(meta.origin)
    headers.update(
        {
            "Access-Control-Allow-Methods": "POST, GET, OPTIONS",
            "Access-Control-Allow-Headers": meta.headers.get("access-control-request-headers")
            or "Content-Type, Authorization",
            "Access-Control-Max-Age": "86400",
        }
    )
    return json_response(204, {}, headers)


def request_meta(request: Request) -> RequestMeta:
    from chalicelib.tracking.ingest import RequestMeta  # lazy: keeps every route's cold start small

    headers = {k.lower(): v for k, v in (request.headers or {}).items()}
    peer = ((request.context or {}).get("identity") or {}).get("sourceIp")
    forwarded = headers.get("x-forwarded-for")
    # API Gateway's sourceIp is the caller as API Gateway saw it; X-Forwarded-For's first hop is whatever the client
    # wrote. Trust that header only behind a proxy on this machine or network (the local stack, a test client).
    source_ip = peer
    if forwarded and (peer is None or _private(peer)):
        source_ip = forwarded.split(",")[0].strip()
    return RequestMeta(headers=headers, query=dict(request.query_params or {}), source_ip=source_ip)


_PROXY_NETWORKS = ("127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "::1/128", "fc00::/7")


def _private(address: str) -> bool:
    """A loopback or RFC 1918 / ULA peer: a proxy of ours, whose X-Forwarded-For can be believed."""
    import ipaddress

    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(
        ip in ipaddress.ip_network(network) for network in _PROXY_NETWORKS if ip.version == (6 if ":" in network else 4)
    )


def aws_failures_as_503(func: Callable[..., Response]) -> Callable[..., Response]:
    """A storage outage is not the client's fault and must be retried, not dropped: answer 503 so every Segment SDK
    retries the request (they retry on 5xx and 429), and never leak a stack trace."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        from chalicelib.shared.faults import storage_failure_types

        unavailable = storage_failure_types()
        try:
            return func(*args, **kwargs)
        except unavailable as exc:
            log.warning("storage unavailable: %s", type(exc).__name__)
            return json_response(
                503,
                {"success": False, "error": "unavailable", "message": "storage is temporarily unavailable; retry"},
                {"Retry-After": "1"},
            )

    return wrapper


# A compressed body is refused once it inflates past this (the batch limit is 500 KB): a gzip bomb costs nothing.
MAX_DECODED_BYTES = 1024 * 1024
_GZIP_MAGIC = b"\x1f\x8b"


class BodyError(Exception):
    """A request body the API cannot read: `status` and a JSON error body naming what is wrong."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def response(self, headers: dict[str, str] | None = None) -> Response:
        return json_response(self.status, {"success": False, "error": self.code, "message": self.message}, headers)


def decoded_body(request: Request) -> bytes | str | None:
    """The request body with `Content-Encoding` undone: gzip (RudderStack's SDKs' default), deflate (zlib or raw), or
    none. Raises BodyError: 415 for another encoding, 413 past MAX_DECODED_BYTES, 400 for a body that is not what its
    encoding says. A body API Gateway already inflated (payload compression on) arrives without the magic bytes and
    is used as it is."""
    headers = {k.lower(): v for k, v in (request.headers or {}).items()}
    encoding = (headers.get("content-encoding") or "identity").strip().lower()
    raw = request.raw_body
    if encoding in ("", "identity") or not raw:
        return raw
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise BodyError(
            415, "unsupported_encoding", f"Content-Encoding {encoding!r} is not supported: use gzip or deflate"
        )
    data = raw if isinstance(raw, bytes) else raw.encode("latin-1", "replace")
    if encoding in ("gzip", "x-gzip"):
        if not data.startswith(_GZIP_MAGIC):
            return raw  # inflated upstream
        wbits = 16 + zlib.MAX_WBITS
    else:
        wbits = zlib.MAX_WBITS if len(data) > 1 and data[0] & 0x0F == 8 and int.from_bytes(data[:2]) % 31 == 0 else -15
    inflater = zlib.decompressobj(wbits)
    try:
        inflated = inflater.decompress(data, MAX_DECODED_BYTES + 1)
    except zlib.error:
        raise BodyError(400, "invalid_encoding", f"the body is not valid {encoding} data") from None
    if len(inflated) > MAX_DECODED_BYTES or inflater.unconsumed_tail:
        raise BodyError(
            413,
            "payload_too_large",
            f"the body inflates past {MAX_DECODED_BYTES // 1024} KB; the batch limit is 500 KB",
        )
    return inflated
