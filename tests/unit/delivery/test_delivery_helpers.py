"""Pure delivery helpers: SES tags and MIME (tokens and coupons: tests/unit/engagement/test_link_tokens.py)."""

from __future__ import annotations

import email
from email.policy import default as default_policy

from chalicelib.delivery.adapters.ses_email import build_mime, ses_tag
from chalicelib.delivery.ports import OutgoingEmail


def test_ses_tags_keep_only_allowed_characters() -> None:
    assert ses_tag("cart_abandonment") == "cart_abandonment"
    assert ses_tag("p_1#evt:web#m 1") == "p_1_evt_web_m_1"
    assert ses_tag("") == "_"


def test_mime_carries_both_bodies_and_our_headers() -> None:
    raw = build_mime(
        "shop@shop.example",
        OutgoingEmail(
            to="a@example.com",
            subject="Hi Ånna",
            html="<p>Hi</p>",
            text="Hi",
            message_id="m1",
            headers={"List-Unsubscribe": "<https://x/u/t>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
        ),
    )
    parsed = email.message_from_bytes(raw, policy=default_policy)
    assert parsed["Subject"] == "Hi Ånna" and parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert {p.get_content_type() for p in parsed.walk()} >= {"text/plain", "text/html"}
