"""Jinja2 for the console's own pages: autoescape on for every template, so a trait or event value is always text."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from chalice import Response

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

# Scripts and styles only from this origin (no inline script can run even if escaping ever failed); frames only of
# our own preview routes; never framed by another site.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
# A rendered email (template preview, outbox): inline styles and remote images as the mail client would show them,
# no script at all, shown only inside a console page's sandboxed iframe.
MAIL_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src * data:; frame-ancestors 'self'; sandbox"


@cache
def environment() -> Any:
    from jinja2 import ChainableUndefined, Environment, FileSystemLoader

    env = Environment(  # noqa: S701 - autoescape is on, for every template
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        # Stored documents vary in shape (older profiles lack newer fields): a missing key renders empty, never 5xx.
        undefined=ChainableUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pretty"] = lambda value: json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False)
    env.filters["pct"] = lambda value, digits=1: "n/a" if value is None else f"{value * 100:.{digits}f}%"
    env.filters["num"] = _number
    return env


def _number(value: Any) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.0f}" if value == int(value) else f"{value:,.2f}"


def html(status: int, template: str, headers: dict[str, str] | None = None, **context: Any) -> Response:
    body = environment().get_template(template).render(**context)
    out: dict[str, str | list[str]] = {
        "Content-Type": "text/html; charset=utf-8",
        "Cache-Control": "no-store",
        "Content-Security-Policy": PAGE_CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
    }
    out.update(headers or {})
    return Response(body=body, status_code=status, headers=out)


def mail_frame(body: str) -> Response:
    headers: dict[str, str | list[str]] = {
        "Content-Type": "text/html; charset=utf-8",
        "Cache-Control": "no-store",
        "Content-Security-Policy": MAIL_CSP,
        "X-Content-Type-Options": "nosniff",
    }
    return Response(body=body, status_code=200, headers=headers)
