"""Enrichment at ingest: clock-skew fix, campaign and referrer parsing, user agent and bot detection, IP masking."""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qs, urlsplit

MAX_FUTURE_SKEW = timedelta(minutes=5)
MAX_PAST_AGE = timedelta(days=365)

UTM_FIELDS = {
    "utm_source": "source",
    "utm_medium": "medium",
    "utm_campaign": "name",
    "utm_term": "term",
    "utm_content": "content",
}

# Search engines that still pass the query in the referrer, and the parameter holding it.
SEARCH_ENGINES = {
    "google.": ("google", "q"),
    "bing.com": ("bing", "q"),
    "duckduckgo.com": ("duckduckgo", "q"),
    "search.yahoo.": ("yahoo", "p"),
    "yandex.": ("yandex", "text"),
    "baidu.com": ("baidu", "wd"),
    "ecosia.org": ("ecosia", "q"),
    "search.brave.com": ("brave", "q"),
    "yahoo.co.jp": ("yahoo_japan", "p"),
}

# The UA database recognises most crawlers ("Spider"); this catches headless browsers, monitors and HTTP libraries.
BOT_PATTERN = re.compile(
    r"bot|crawl|spider|slurp|headless|lighthouse|pingdom|uptime|monitor|curl/|wget/|python-requests|python-urllib"
    r"|httpclient|okhttp|go-http-client|java/|libwww|scrapy|phantomjs|facebookexternalhit|preview",
    re.IGNORECASE,
)


def correct_timestamp(
    received_at: datetime,
    timestamp: datetime | None,
    original_timestamp: datetime | None,
    sent_at: datetime | None,
    *,
    historical: bool = False,
) -> tuple[datetime, list[str]]:
    """Segment's skew correction: timestamp = receivedAt - (sentAt - originalTimestamp); then clamp the absurd.

    A device whose clock is hours off still orders its events correctly, because only the difference between two
    readings of that same clock is used. Times far in the future or past are not trusted: they are clamped to
    `received_at` and flagged, so folding and windows never see them.
    """
    flags: list[str] = []
    device_time = original_timestamp or timestamp
    if device_time is not None and sent_at is not None:
        try:
            ts = received_at - (sent_at - device_time)
        except OverflowError:  # readings millennia apart (year 1 vs 9999) leave datetime's range: clamp below
            ts = received_at + 2 * (MAX_FUTURE_SKEW if device_time > sent_at else -MAX_PAST_AGE)
    elif device_time is not None:
        ts = device_time
    else:
        ts = received_at
    if ts > received_at + MAX_FUTURE_SKEW:
        flags.append("timestamp_clamped_future")
        ts = received_at
    elif ts < received_at - MAX_PAST_AGE and not historical:  # an import's old orders are history, not skew
        flags.append("timestamp_clamped_past")
        ts = received_at
    return ts, flags


def campaign_from_url(url: str | None) -> dict[str, str]:
    if not url or "utm_" not in url:
        return {}
    try:
        query = parse_qs(urlsplit(url).query)
    except ValueError:
        return {}
    out = {}
    for param, field in UTM_FIELDS.items():
        values = query.get(param)
        if values and values[0].strip():
            out[field] = values[0].strip()[:200]
    return out


def referrer_info(referrer: str | None, own_host: str | None = None) -> dict[str, str]:
    """Referrer host, and the search engine and terms where the engine still passes them."""
    if not referrer:
        return {}
    try:
        parts = urlsplit(referrer)
    except ValueError:
        return {}
    host = (parts.hostname or "").lower()
    if not host or host == own_host:
        return {}
    out = {"referrer_host": host}
    for needle, (engine, param) in SEARCH_ENGINES.items():
        if needle in host:
            out["referrer_search_engine"] = engine
            terms = parse_qs(parts.query).get(param)
            if terms and terms[0].strip():
                out["referrer_search_terms"] = terms[0].strip()[:200]
            break
    return out


@lru_cache(maxsize=2048)
def parse_user_agent(user_agent: str) -> tuple[dict[str, str], bool]:
    """Browser/OS/device families and whether the agent is a known bot. Cached: batches repeat the same agents."""
    from ua_parser import parse  # lazy: loading the UA database is the most expensive step of enrichment

    result = parse(user_agent[:512])
    info: dict[str, str] = {}
    if result.user_agent:
        info["browser"] = result.user_agent.family
        if result.user_agent.major:
            info["browser_version"] = result.user_agent.major
    if result.os:
        info["os"] = result.os.family
    if result.device:
        info["device"] = result.device.family
    is_bot = bool(result.device and result.device.family == "Spider") or bool(BOT_PATTERN.search(user_agent))
    return info, is_bot


def anonymize_ip(ip: str | None) -> str | None:
    """Zero the host part (IPv4 /24, IPv6 /48) so the stored address can place a region but not a household."""
    if not ip:
        return None
    try:
        addr = ipaddress.ip_address(ip.strip())
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv4Address):
        return str(ipaddress.ip_network(f"{addr}/24", strict=False).network_address)
    if addr.ipv4_mapped:
        return str(ipaddress.ip_network(f"{addr.ipv4_mapped}/24", strict=False).network_address)
    return str(ipaddress.ip_network(f"{addr}/48", strict=False).network_address)


def enrich_context(
    context: dict[str, Any],
    properties: dict[str, Any],
    request_ip: str | None,
    request_user_agent: str | None,
) -> tuple[dict[str, Any], bool]:
    """Return an enriched copy of `context` and whether the sender is a bot. Never keeps the full IP."""
    ctx = dict(context)
    raw_page = ctx.get("page")
    page = raw_page if isinstance(raw_page, dict) else {}
    url = page.get("url") or properties.get("url")
    if not isinstance(ctx.get("campaign"), dict) or not ctx.get("campaign"):
        campaign = campaign_from_url(url if isinstance(url, str) else None)
        if campaign:
            ctx["campaign"] = campaign
    referrer = page.get("referrer") or properties.get("referrer")
    if isinstance(referrer, str):
        own_host = None
        if isinstance(url, str):
            try:
                own_host = urlsplit(url).hostname
            except ValueError:
                own_host = None
        ctx.update(referrer_info(referrer, own_host))
    ip = ctx.get("ip") if isinstance(ctx.get("ip"), str) else request_ip
    masked = anonymize_ip(ip)
    if masked:
        ctx["ip"] = masked
    else:
        ctx.pop("ip", None)
    user_agent = ctx.get("userAgent") if isinstance(ctx.get("userAgent"), str) else request_user_agent
    is_bot = False
    if user_agent:
        ctx["userAgent"] = user_agent[:512]
        info, is_bot = parse_user_agent(user_agent)
        ctx["ua"] = info
    return ctx, is_bot
