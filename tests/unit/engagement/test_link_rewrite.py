"""Link rewriting for tracked marketing mail, and direct preference overrides applied before the guards."""

from __future__ import annotations

from chalicelib.delivery.sending import apply_preferences
from chalicelib.engagement.link_rewrite import rewrite_html


def test_absolute_links_are_rewritten_and_entities_decoded_but_unsubscribe_links_are_kept() -> None:
    html = (
        "<body><a href=\"https://s.example/p?a=1&amp;b=2\">x</a> <a href='http://s.example/q'>y</a>"
        '<a href="mailto:a@b.c">m</a><a href="#top">t</a><a href="https://api.example/u/TOKEN">u</a></body>'
    )
    seen: list[str] = []

    def click(url: str) -> str:
        seen.append(url)
        return f"https://api.example/t/c/{len(seen)}"

    out = rewrite_html(html, click, "https://api.example/t/o/P.gif", keep_prefixes=("https://api.example/u/",))
    assert seen == ["https://s.example/p?a=1&b=2", "http://s.example/q"]
    assert 'href="https://api.example/t/c/1"' in out and "href='https://api.example/t/c/2'" in out
    assert 'href="mailto:a@b.c"' in out and 'href="#top"' in out and 'href="https://api.example/u/TOKEN"' in out
    assert out.endswith('<img src="https://api.example/t/o/P.gif" width="1" height="1" alt="" '
                        'style="display:block;width:1px;height:1px;border:0" /></body>')  # fmt: skip


def test_no_body_tag_appends_the_pixel_and_no_pixel_url_adds_none() -> None:
    assert rewrite_html("<p>hi</p>", str, "https://x/t/o/1.gif").endswith('border:0" />')
    assert rewrite_html("<p>hi</p>", str, None) == "<p>hi</p>"


def test_a_newer_direct_opt_out_wins_over_the_folded_consent_and_an_older_one_does_not() -> None:
    profile = {"consent": {"email": {"status": "opted_in", "at": "2026-03-01T00:00:00.000Z"}}}
    newer = {"email": {"status": "opted_out", "at": "2026-03-02T00:00:00.000Z"}}
    older = {"email": {"status": "opted_out", "at": "2026-02-01T00:00:00.000Z"}}
    assert apply_preferences(profile, newer, "email")["consent"]["email"]["status"] == "opted_out"
    assert apply_preferences(profile, older, "email")["consent"]["email"]["status"] == "opted_in"
    topics = apply_preferences(profile, {"email#offers": {"status": "opted_out", "at": "x"}}, "email")
    assert topics["consent"]["topics"]["offers"]["status"] == "opted_out"
    assert profile["consent"]["email"]["status"] == "opted_in"  # the input is not mutated
