"""Machine or human: classify tracking-pixel opens and link clicks so only human engagement scores and reports.

Machines that fetch our pixel or follow our links without a person behind them:

- Apple Mail Privacy Protection (MPP) prefetches every image through Apple's proxy soon after delivery, whether or not
  the mail is read. Its requests carry the bare user agent `Mozilla/5.0` (real mail clients send platform tokens) and
  come from Apple's network (17.0.0.0/8 is Apple's own allocation). Either signal marks the open as a machine open.
- Security gateways and link scanners (Microsoft Defender for Office 365 Safe Links, Proofpoint, Mimecast, Barracuda,
  Cisco, ...) fetch images and follow every link at delivery time, often from Exchange Online Protection's published
  ranges, with scanner or library user agents, sometimes with HEAD requests.
- Link-preview bots (Slack, Teams, Skype, Facebook, LinkedIn, ...) when a link is pasted into a chat.
- Anything within a few seconds of delivery: a person cannot open and read that fast; a scanner always does.

Image proxies that fetch *on behalf of a reading person* are NOT machines by default: Gmail's (`GoogleImageProxy`,
`ggpht.com`) and Yahoo/AOL's (`YahooMailProxy`) fetch when the message is rendered. They are reported in `via` so
reports can show them, and `OpenRules.proxies_are_machine` flips them to machine for a stricter count. If one of them
prefetches at delivery, the timing rule catches it anyway.

Lists and ranges are data (`OpenRules`): vendors change their networks, so keep them current and override per
deployment rather than editing code. Only `human` results score: `classification.human` is the flag callers use.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property

APPLE_MPP = "apple_mpp"
SECURITY_SCANNER = "security_scanner"
MICROSOFT_SCANNER = "microsoft_scanner"
LINK_PREVIEW = "link_preview"
AUTOMATED_CLIENT = "automated_client"
IMAGE_PROXY = "image_proxy"
NO_USER_AGENT = "no_user_agent"
HEAD_REQUEST = "head_request"
TOO_FAST = "too_fast"
LINK_BURST = "link_burst"
REASON_CODES: tuple[str, ...] = (
    APPLE_MPP,
    SECURITY_SCANNER,
    MICROSOFT_SCANNER,
    LINK_PREVIEW,
    AUTOMATED_CLIENT,
    IMAGE_PROXY,
    NO_USER_AGENT,
    HEAD_REQUEST,
    TOO_FAST,
    LINK_BURST,
)

# Apple: 17.0.0.0/8 is Apple Inc.'s ARIN allocation; MPP fetches and Apple's own mail infrastructure come from it.
APPLE_NETWORKS: tuple[str, ...] = ("17.0.0.0/8",)
# Exchange Online Protection (Microsoft 365 "URLs and IP address ranges", endpoint set 9 / mail.protection.outlook.com).
# Defender for Office 365 Safe Links detonation and EOP scanning reach us from these.
MICROSOFT_NETWORKS: tuple[str, ...] = (
    "40.92.0.0/15",
    "40.107.0.0/16",
    "52.100.0.0/14",
    "104.47.0.0/17",
    "2a01:111:f400::/48",
    "2a01:111:f403::/48",
)
# Case-insensitive substrings of the user agent. Order inside a group does not matter; groups are checked in the
# order of `_ua_verdict`.
SCANNER_AGENTS: tuple[str, ...] = (
    "proofpoint",
    "urldefense",
    "mimecast",
    "barracuda",
    "ironport",
    "cisco",
    "symantec",
    "messagelabs",
    "trend micro",
    "trendmicro",
    "forcepoint",
    "sophos",
    "zscaler",
    "fireeye",
    "trellix",
    "checkpoint",
    "fortinet",
    "fortiguard",
    "paloalto",
    "vade",
    "hornetsecurity",
    "spamtitan",
    "scanner",
    "virustotal",
)
MICROSOFT_AGENTS: tuple[str, ...] = (
    "safelinks",
    "safe links",
    "microsoft office existence discovery",
    "ms-office",
    "microsoft office protocol discovery",
    "bingpreview",
)
PREVIEW_AGENTS: tuple[str, ...] = (
    "slackbot",
    "slack-imgproxy",
    "skypeuripreview",  # also Microsoft Teams' link preview
    "facebookexternalhit",
    "linkedinbot",
    "twitterbot",
    "whatsapp",
    "telegrambot",
    "discordbot",
    "embedly",
)
AUTOMATED_AGENTS: tuple[str, ...] = (
    "crawler",
    "spider",
    "headlesschrome",
    "phantomjs",
    "python-requests",
    "python-urllib",
    "aiohttp",
    "httpx",
    "curl/",
    "wget/",
    "go-http-client",
    "java/",
    "okhttp",
    "apache-httpclient",
    "libwww-perl",
    "node-fetch",
    "axios/",
)
# "bot" as a word ending (Googlebot, bingbot, Bot/1.0) but not the Cubot phone brand (same exception as `isbot`).
BOT_PATTERN = r"(?<!cu)bot(?:\b|/|_)"
PROXY_AGENTS: tuple[tuple[str, str], ...] = (  # (substring, proxy name reported in `via`)
    ("googleimageproxy", "google"),
    ("ggpht.com", "google"),
    ("yahoomailproxy", "yahoo"),
    ("aolmailproxy", "aol"),
)
APPLE_MPP_AGENTS: tuple[str, ...] = ("mozilla/5.0",)  # exact match after trimming, not a substring


@dataclass(frozen=True)
class OpenRules:
    """Tunable heuristics. Defaults: an open within 3 s or a click within 5 s of delivery is a machine.

    Why those numbers: scanners act within a second or two of delivery; a person needs to notice, open and (for a
    click) read and tap. 3 s / 5 s keeps the rare very fast human while catching the scanners. `burst_links` distinct
    links clicked within `burst_window` is a scanner walking the message (a person cannot click three different links
    inside one second)."""

    open_min_seconds: float = 3.0
    click_min_seconds: float = 5.0
    burst_window: timedelta = timedelta(seconds=1)
    burst_links: int = 3
    proxies_are_machine: bool = False
    apple_networks: tuple[str, ...] = APPLE_NETWORKS
    microsoft_networks: tuple[str, ...] = MICROSOFT_NETWORKS
    scanner_agents: tuple[str, ...] = SCANNER_AGENTS
    microsoft_agents: tuple[str, ...] = MICROSOFT_AGENTS
    preview_agents: tuple[str, ...] = PREVIEW_AGENTS
    automated_agents: tuple[str, ...] = AUTOMATED_AGENTS
    apple_mpp_agents: tuple[str, ...] = APPLE_MPP_AGENTS
    bot_pattern: str = BOT_PATTERN
    proxy_agents: tuple[tuple[str, str], ...] = PROXY_AGENTS

    @cached_property
    def _apple(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(ipaddress.ip_network(n) for n in self.apple_networks)

    @cached_property
    def _bot(self) -> re.Pattern[str]:
        return re.compile(self.bot_pattern)

    @cached_property
    def _microsoft(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(ipaddress.ip_network(n) for n in self.microsoft_networks)


DEFAULT_RULES = OpenRules()


@dataclass(frozen=True)
class OpenClass:
    """The verdict for one open: `machine` with a stable `reason` code, or human (`reason` None).

    `via` names an image proxy that fetched for a person (`google`, `yahoo`, `aol`), also for human opens."""

    machine: bool
    reason: str | None = None
    via: str | None = None

    @property
    def human(self) -> bool:
        """True when the event counts: only human opens / clicks score and enter open and click rates."""
        return not self.machine


class ClickClass(OpenClass):
    """The verdict for one click (same shape as OpenClass)."""


@dataclass(frozen=True)
class PriorClick:
    """An earlier click on the same message, for the burst rule."""

    url: str
    at: datetime


def _address(ip: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not ip:
        return None
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:17.1.2.3 behind a dual-stack load balancer
    return mapped or address


def _in(address: ipaddress.IPv4Address | ipaddress.IPv6Address | None, networks: Iterable) -> bool:
    return address is not None and any(address.version == n.version and address in n for n in networks)


def _contains(agent: str, needles: Iterable[str]) -> bool:
    return any(needle in agent for needle in needles)


def _ua_verdict(user_agent: str | None, rules: OpenRules) -> tuple[str | None, str | None]:
    """(machine reason or None, proxy name or None) from the user agent alone."""
    agent = (user_agent or "").strip().lower()
    if not agent:
        return NO_USER_AGENT, None
    if agent in rules.apple_mpp_agents:
        return APPLE_MPP, None
    via = next((name for needle, name in rules.proxy_agents if needle in agent), None)
    if _contains(agent, rules.microsoft_agents):
        return MICROSOFT_SCANNER, via
    if _contains(agent, rules.scanner_agents):
        return SECURITY_SCANNER, via
    if _contains(agent, rules.preview_agents):
        return LINK_PREVIEW, via
    if _contains(agent, rules.automated_agents) or rules._bot.search(agent):
        return AUTOMATED_CLIENT, via
    return None, via


def _network_verdict(ip: str | None, rules: OpenRules) -> str | None:
    address = _address(ip)
    if _in(address, rules._apple):
        return APPLE_MPP
    if _in(address, rules._microsoft):
        return MICROSOFT_SCANNER
    return None


def _too_fast(reference: datetime | None, at: datetime, min_seconds: float) -> bool:
    # Negative gaps count too: a scanner at the receiving gateway can fetch before SES records the delivery.
    return reference is not None and (at - reference).total_seconds() < min_seconds


def _classify(
    user_agent: str | None,
    ip: str | None,
    reference: datetime | None,
    at: datetime,
    min_seconds: float,
    method: str,
    rules: OpenRules,
) -> tuple[bool, str | None, str | None]:
    reason, via = _ua_verdict(user_agent, rules)
    if reason is None and method.strip().upper() == "HEAD":
        reason = HEAD_REQUEST  # browsers GET; link checkers HEAD to see where a link goes without loading it
    if reason is None:
        reason = _network_verdict(ip, rules)
    if reason is None and _too_fast(reference, at, min_seconds):
        reason = TOO_FAST
    if reason is None and via is not None and rules.proxies_are_machine:
        reason = IMAGE_PROXY
    return reason is not None, reason, via


def classify_open(
    user_agent: str | None,
    ip: str | None,
    delivered_at: datetime | None,
    opened_at: datetime,
    *,
    sent_at: datetime | None = None,
    method: str = "GET",
    rules: OpenRules = DEFAULT_RULES,
) -> OpenClass:
    """Machine or human for one pixel fetch.

    Parameters:
        user_agent, ip: from the pixel request (the client IP, not the load balancer's).
        delivered_at: SES Delivery time; SNS does not order notifications, so it may not be known yet: then
            `sent_at` is the reference for the timing rule (a little more lenient: sending takes a moment).
        opened_at: when the pixel was fetched (same clock family as delivered_at: UTC, aware).
    Returns OpenClass; score and count it only when `.human`.
    Example:
        >>> from datetime import UTC, datetime
        >>> t = datetime(2026, 1, 1, tzinfo=UTC)
        >>> classify_open("Mozilla/5.0", "17.58.1.2", t, t).reason
        'apple_mpp'
    """
    machine, reason, via = _classify(
        user_agent, ip, delivered_at or sent_at, opened_at, rules.open_min_seconds, method, rules
    )
    return OpenClass(machine, reason, via)


def classify_click(
    user_agent: str | None,
    ip: str | None,
    delivered_at: datetime | None,
    clicked_at: datetime,
    url: str,
    *,
    sent_at: datetime | None = None,
    method: str = "GET",
    prior_clicks: Sequence[PriorClick] = (),
    links_in_message: int | None = None,
    rules: OpenRules = DEFAULT_RULES,
) -> ClickClass:
    """Machine or human for one tracked-link click. Always redirect either way: a misjudged person must still arrive.

    Beyond the open rules: a HEAD request, or a burst, meaning `rules.burst_links` distinct links of this message
    clicked within `rules.burst_window` of this click, or every link of the message (`links_in_message` >= 2) clicked
    within that window. `prior_clicks` are the earlier clicks on the same message (any verdict).
    Example:
        verdict = classify_click(ua, ip, delivered_at, now, url, prior_clicks=previous, links_in_message=5)
        if verdict.human: record_click(...)
    """
    machine, reason, via = _classify(
        user_agent, ip, delivered_at or sent_at, clicked_at, rules.click_min_seconds, method, rules
    )
    if not machine and _is_burst(url, clicked_at, prior_clicks, links_in_message, rules):
        machine, reason = True, LINK_BURST
    return ClickClass(machine, reason, via)


def _is_burst(
    url: str, at: datetime, prior: Sequence[PriorClick], links_in_message: int | None, rules: OpenRules
) -> bool:
    window = rules.burst_window
    distinct = {url} | {c.url for c in prior if abs(at - c.at) <= window}
    if len(distinct) >= rules.burst_links:
        return True
    return links_in_message is not None and links_in_message >= 2 and len(distinct) >= links_in_message
