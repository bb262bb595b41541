"""Rewrite a marketing email's HTML for tracking: http(s) links -> signed click links, plus a 1x1 open pixel."""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Callable, Collection

# Only double- or single-quoted absolute http(s) hrefs: relative links, mailto:, tel: and anchors are left alone.
_HREF = re.compile(r"""(?P<lead>\bhref\s*=\s*)(?P<q>["'])(?P<url>https?://[^"'\s<>]+)(?P=q)""", re.IGNORECASE)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


def rewrite_html(
    html: str,
    click_url: Callable[[str], str],
    pixel_url: str | None,
    *,
    keep_prefixes: Collection[str] = (),
) -> str:
    """The HTML with every absolute http(s) `href` replaced by `click_url(original)` and the open pixel appended.

    Parameters:
        click_url: the tracking link for one original URL (the caller signs the URL into a token).
        pixel_url: the open pixel's URL, added just before `</body>` (or at the end); None adds none.
        keep_prefixes: URLs starting with one of these stay untouched (unsubscribe / preference links must work
            without our redirect and must never be followed by a scanner as a "click").
    Example:
        >>> rewrite_html('<a href="https://s.example/p">x</a>', lambda u: "T", None)
        '<a href="T">x</a>'
    """

    def replace(match: re.Match[str]) -> str:
        # Templates HTML-escape attribute values (`&amp;`); the click token must carry the real URL.
        original = html_lib.unescape(match["url"])
        if any(original.startswith(prefix) for prefix in keep_prefixes):
            return match[0]
        return f"{match['lead']}{match['q']}{html_lib.escape(click_url(original), quote=True)}{match['q']}"

    out = _HREF.sub(replace, html)
    if pixel_url:
        pixel = (
            f'<img src="{html_lib.escape(pixel_url, quote=True)}" width="1" height="1" alt="" '
            'style="display:block;width:1px;height:1px;border:0" />'
        )
        ends = list(_BODY_END.finditer(out))
        out = out[: ends[-1].start()] + pixel + out[ends[-1].start() :] if ends else out + pixel
    return out
