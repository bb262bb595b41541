"""Pinpoint: endpoints into messages and suppressions, segment CSV headers, Handlebars templates into Jinja2."""

from __future__ import annotations

from datetime import UTC, datetime

import jinja2

from chalicelib.imports.pinpoint import convert_template, endpoint_messages, unflatten
from chalicelib.imports.rows import RowContext

CTX = RowContext("events", "jsonl", "cd" * 32, datetime(2026, 1, 1, tzinfo=UTC))


def test_an_opted_out_endpoint_is_unsubscribed_and_suppressed_and_an_inactive_one_suppressed() -> None:
    out = endpoint_messages(
        {
            "ChannelType": "EMAIL",
            "Address": "a@example.com",
            "OptOut": "ALL",
            "EndpointStatus": "INACTIVE",
            "EffectiveDate": "2024-01-01T00:00:00Z",
        },
        1,
        CTX,
    )
    assert [m.get("event") or m["type"] for m in out.messages] == ["identify", "Email Unsubscribed"]
    assert out.suppress == [
        ("email", "a@example.com", "pinpoint_opt_out"),
        ("email", "a@example.com", "pinpoint_inactive"),
    ]
    assert out.messages[1]["properties"]["source"] == "pinpoint"


def test_endpoints_of_no_user_are_one_profile_per_address() -> None:
    first = endpoint_messages({"ChannelType": "SMS", "Address": "+14155552671", "Id": "1"}, 1, CTX).messages[0]
    second = endpoint_messages({"ChannelType": "SMS", "Address": "+1 415 555 2671", "Id": "2"}, 2, CTX).messages[0]
    assert first["anonymousId"] == second["anonymousId"] and first["traits"]["phone"] == "+14155552671"


def test_segment_csv_dot_notation_unflattens_attributes_as_lists() -> None:
    assert unflatten(["User.UserId", "User.UserAttributes.plan", "Demographic.Timezone"], ["u", "pro", ""]) == {
        "User": {"UserId": "u", "UserAttributes": {"plan": ["pro"]}}
    }


def test_handlebars_variables_blocks_and_comments_convert_to_jinja_that_renders() -> None:
    source = (
        "{{! a note }}Hi {{User.UserAttributes.FirstName}}, {{#if Attributes.Points}}you have {{Attributes.Points}}"
        "{{else}}welcome{{/if}}. {{#each User.UserAttributes.Tags}}[{{this}}]{{/each}} {{{Attributes.Html}}}"
        " {{upper User.UserAttributes.FirstName}}"
    )
    result = convert_template(source)
    assert result.problems == []
    rendered = (
        jinja2.Environment(autoescape=True)
        .from_string(result.text)
        .render(traits={"FirstName": "Ann", "Points": 3, "Tags": ["a", "b"], "Html": "<b>x</b>"})
    )
    assert rendered == "Hi Ann, you have 3. [a][b] <b>x</b> ANN"


def test_what_has_no_equivalent_is_reported_and_left_as_a_comment() -> None:
    result = convert_template("{{#eq a b}}x{{/eq}} {{formatDate Date}} {{#if Attributes.A}}open")
    assert result.problems == [
        "block helper {{#eq}} has no equivalent",
        "helper {{formatDate Date}} has no equivalent",
        "{{#if}} is never closed",
    ]
    jinja2.Environment().from_string(result.text).render(traits={})  # still a valid template
