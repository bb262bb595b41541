"""Static assets served by the API: the first-party tracker, and the slot filler and in-app renderer it loads lazily."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from chalice import Blueprint, Response

bp = Blueprint(__name__)
STATIC = Path(__file__).resolve().parent.parent / "static"


@cache
def tracker_source() -> str:
    minified = STATIC / "tracker.min.js"
    path = minified if minified.exists() else STATIC / "tracker.js"
    return path.read_text(encoding="utf-8")


@bp.route("/tracker.js", methods=["GET"])
def tracker_js() -> Response:
    return Response(
        body=tracker_source(),
        status_code=200,
        headers={
            "Content-Type": "application/javascript; charset=utf-8",
            "Cache-Control": "public, max-age=3600",
            "Access-Control-Allow-Origin": "*",
        },
    )


@cache
def slots_source() -> str:
    minified = STATIC / "slots.min.js"
    path = minified if minified.exists() else STATIC / "slots.js"
    return path.read_text(encoding="utf-8")


@bp.route("/slots.js", methods=["GET"])
def slots_js() -> Response:
    return Response(
        body=slots_source(),
        status_code=200,
        headers={
            "Content-Type": "application/javascript; charset=utf-8",
            "Cache-Control": "public, max-age=3600",
            "Access-Control-Allow-Origin": "*",
        },
    )


@cache
def inapp_source() -> str:
    minified = STATIC / "inapp.min.js"
    path = minified if minified.exists() else STATIC / "inapp.js"
    return path.read_text(encoding="utf-8")


@bp.route("/inapp.js", methods=["GET"])
def inapp_js() -> Response:
    return Response(
        body=inapp_source(),
        status_code=200,
        headers={
            "Content-Type": "application/javascript; charset=utf-8",
            "Cache-Control": "public, max-age=3600",
            "Access-Control-Allow-Origin": "*",
        },
    )
