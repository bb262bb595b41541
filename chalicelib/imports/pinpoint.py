"""Amazon Pinpoint migration (pure): endpoint exports into people, segment-import CSVs into static segments, and
Pinpoint's Handlebars message templates into our Jinja2 templates with a report of what did not convert.

Endpoints (`create-export-job`: `.gz` files of JSON lines, one endpoint each): every endpoint becomes an `identify` of
its user (`User.UserId`) carrying its address (EMAIL -> email, SMS -> phone; APNS / GCM -> a `Device Registered` push
token of that user, permission from `OptOut` / `EndpointStatus`), user attributes, endpoint attributes and
metrics as traits, and its time zone and locale as context (what quiet hours and formatting read); an endpoint of no
user becomes one profile per channel address. `OptOut: ALL` records the channel's opt-out (source `pinpoint`, at the
endpoint's EffectiveDate) and suppresses the address; `EndpointStatus: INACTIVE` suppresses it: neither is ever
messaged. `OptOut: NONE` grants nothing: Pinpoint does not record an opt-in's source or time (rows.py's rule).
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chalicelib.imports.rows import FileError, RowError, decode, iso, parse_time
from chalicelib.tracking.identity import clean_email, clean_phone

if TYPE_CHECKING:
    from chalicelib.imports.rows import RowContext

CHANNELS = {"EMAIL": "email", "SMS": "sms"}
# Push endpoints of a user become that person's devices (profiles/devices.py); of nobody, nothing can reach them.
PUSH_PLATFORMS = {"APNS": "ios", "APNS_SANDBOX": "ios", "GCM": "android"}
_UNSUBSCRIBED = {"email": "Email Unsubscribed", "sms": "SMS Unsubscribed"}
_LOCATION_TRAITS = {"City": "city", "Country": "country", "PostalCode": "postal_code", "Region": "state"}


@dataclass
class EndpointMessages:
    messages: list[dict[str, Any]]
    suppress: list[tuple[str, str, str]] = field(default_factory=list)  # (channel, address, reason)
    notices: list[str] = field(default_factory=list)


def _scalar(value: Any) -> Any:
    """Pinpoint keeps attributes as lists of strings: one value reads as that value."""
    if isinstance(value, list) and len(value) == 1:
        return value[0]
    return value


def _section(endpoint: dict[str, Any], name: str) -> dict[str, Any]:
    value = endpoint.get(name)
    return value if isinstance(value, dict) else {}


def _device_registered(
    endpoint: dict[str, Any], platform: str, ids: dict[str, Any], at: str, message_id: str
) -> dict[str, Any]:
    """A push endpoint as the app's `Device Registered`: its token, and the notification permission Amplify kept in
    `OptOut` (`ALL`: notifications turned off) and `EndpointStatus` (`INACTIVE`: the token was refused)."""
    from chalicelib.tracking.devices import DeviceError, validate_token

    try:
        token = validate_token(platform, endpoint.get("Address"), "Address")  # type: ignore[arg-type]
    except DeviceError as exc:
        raise RowError("invalid_address", str(exc), "Address") from None
    enabled = (
        str(endpoint.get("OptOut") or "NONE").upper() != "ALL"
        and str(endpoint.get("EndpointStatus") or "ACTIVE").upper() != "INACTIVE"
    )
    return {
        **ids,
        "type": "track",
        "event": "Device Registered",
        "timestamp": at,
        "messageId": message_id,
        "context": {"device": {"token": token, "type": platform}, "source": "pinpoint"},
        "properties": {"enabled": enabled, "source": "pinpoint", "imported": True},
    }


def endpoint_messages(endpoint: dict[str, Any], line: int, ctx: RowContext) -> EndpointMessages:
    """One exported endpoint into messages and suppressions. Raises RowError."""
    channel_type = str(endpoint.get("ChannelType") or "").upper()
    if not channel_type:
        raise RowError("missing_field", "ChannelType is required", "ChannelType")
    channel = CHANNELS.get(channel_type)
    raw_address = endpoint.get("Address")
    address = None
    if channel == "email":
        address = clean_email(raw_address)
    elif channel == "sms":
        address = clean_phone(raw_address)
    if channel and raw_address and address is None:
        raise RowError("invalid_address", f"Address is not a valid {channel} address", "Address")
    user: dict[str, Any] = _section(endpoint, "User")
    user_id = str(user.get("UserId") or "").strip() or None
    out = EndpointMessages([])
    platform = PUSH_PLATFORMS.get(channel_type) if user_id else None
    if channel is None and platform is None:
        out.notices.append(f"channel_not_migrated:{channel_type[:20]}")
        if user_id is None:
            return out  # a push token of nobody: nothing of ours can reach it
    at_text = endpoint.get("EffectiveDate")
    at = parse_time(at_text, "EffectiveDate") if at_text else ctx.as_of
    ids: dict[str, Any] = {"userId": user_id} if user_id else {}
    if not user_id:
        if address is None:
            raise RowError("missing_identity", "an endpoint needs a User.UserId or an email/SMS Address", "User.UserId")
        ids["anonymousId"] = "pp-" + hashlib.sha256(f"{channel}:{address}".encode()).hexdigest()[:32]
    traits: dict[str, Any] = {}
    for source in ("Metrics", "Attributes"):
        values = endpoint.get(source)
        if isinstance(values, dict):
            traits.update({str(k): _scalar(v) for k, v in values.items()})
    attributes = user.get("UserAttributes")
    if isinstance(attributes, dict):
        traits.update({str(k): _scalar(v) for k, v in attributes.items()})  # the user's own win over the endpoint's
    location = _section(endpoint, "Location")
    for key, trait in _LOCATION_TRAITS.items():
        if location.get(key):
            traits.setdefault(trait, location[key])
    if channel == "email" and address:
        traits["email"] = address
    elif channel == "sms" and address:
        traits["phone"] = address
    demographic = _section(endpoint, "Demographic")
    context: dict[str, Any] = {"source": "pinpoint"}
    if demographic.get("Timezone"):
        context["timezone"] = str(demographic["Timezone"])
    if demographic.get("Locale"):
        context["locale"] = str(demographic["Locale"]).replace("_", "-")
    if endpoint.get("Id"):
        traits["pinpoint_endpoint_id"] = str(endpoint["Id"])[:100]
    out.messages.append(
        {
            **ids,
            "type": "identify",
            "messageId": ctx.message_id(line, "identify"),
            "traits": traits,
            "timestamp": iso(at),
            "context": context,
        }
    )
    if platform is not None:
        out.messages.append(_device_registered(endpoint, platform, ids, iso(at), ctx.message_id(line, "device")))
    if channel and address:
        if str(endpoint.get("OptOut") or "NONE").upper() == "ALL":
            out.messages.append(
                {
                    **ids,
                    "type": "track",
                    "event": _UNSUBSCRIBED[channel],
                    "timestamp": iso(at),
                    "messageId": ctx.message_id(line, f"optout-{channel}"),
                    "properties": {"channel": channel, "source": "pinpoint", "imported": True},
                }
            )
            out.suppress.append((channel, address, "pinpoint_opt_out"))
        if str(endpoint.get("EndpointStatus") or "ACTIVE").upper() == "INACTIVE":
            out.suppress.append((channel, address, "pinpoint_inactive"))
    return out


# -- segment import CSV ------------------------------------------------------------------------------------------------


def segment_header(data: bytes) -> list[str]:
    """The dot-notation header of a Pinpoint segment CSV (`ChannelType,Address,User.UserId,User.UserAttributes.x`)."""
    text = decode(data, first=True)
    [columns] = list(csv.reader([text]))
    columns = [c.strip() for c in columns]
    if "ChannelType" not in columns or not {"Address", "User.UserId"} & set(columns):
        raise FileError("invalid_header", "a Pinpoint segment CSV needs ChannelType and Address or User.UserId columns")
    return columns


def unflatten(columns: list[str], values: list[str]) -> dict[str, Any]:
    """`User.UserAttributes.plan=pro` -> {"User": {"UserAttributes": {"plan": ["pro"]}}} (attributes are lists)."""
    endpoint: dict[str, Any] = {}
    for column, value in zip(columns, values, strict=True):
        if value == "":
            continue
        parts = column.split(".")
        node = endpoint
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise RowError("invalid_header", f"{column} nests under a value", column)
        list_valued = len(parts) > 1 and parts[-2] in ("Attributes", "UserAttributes")
        node[parts[-1]] = [value] if list_valued else value
    return endpoint


def segment_trait(segment_id: str) -> str:
    return f"static_segment_{segment_id}"


def segment_row_messages(data: bytes, line: int, ctx: RowContext, segment_id: str) -> list[dict[str, Any]]:
    """One listed endpoint as a member of the static segment: its endpoint messages plus the membership trait."""
    try:
        [values] = list(csv.reader([decode(data)], strict=True))
    except (csv.Error, ValueError) as exc:
        raise RowError("invalid_csv", f"the row is not valid CSV: {exc}") from None
    if len(values) != len(ctx.header):
        raise RowError("wrong_column_count", f"expected {len(ctx.header)} columns, found {len(values)}")
    converted = endpoint_messages(unflatten(ctx.header, values), line, ctx)
    if not converted.messages:
        raise RowError("unsupported_channel", "the row names neither a user nor an email/SMS address", "ChannelType")
    identify = converted.messages[0]
    identify["traits"][segment_trait(segment_id)] = True
    return converted.messages[:1]  # a segment list makes members; it records no opt-outs


def static_segment(segment_id: str, key: str) -> dict[str, Any]:
    """The definition of a static segment: the people an imported list marked (a trait only imports set)."""
    return {
        "name": segment_id,
        "description": f"Static segment: the people listed in {key[-150:]} (imported from Pinpoint)",
        "rule": {"field": f"traits.{segment_trait(segment_id)}", "op": "eq", "value": True},
    }


# -- templates ---------------------------------------------------------------------------------------------------------

_PATHS = [
    (re.compile(r"^User\.UserAttributes\.(\w+)$"), r"traits.\1"),
    (re.compile(r"^Attributes\.(\w+)$"), r"traits.\1"),
    (re.compile(r"^Metrics\.(\w+)$"), r"traits.\1"),
    (re.compile(r"^User\.UserId$"), "profile.user_id"),
    (re.compile(r"^Address$"), "email"),
    (re.compile(r"^Demographic\.Timezone$"), "profile.demographics.timezone"),
    (re.compile(r"^Demographic\.Locale$"), "profile.demographics.locale"),
    (re.compile(r"^Location\.(City|Country|PostalCode|Region)$"), None),
    (re.compile(r"^this$"), "item"),
    (re.compile(r"^this\.(\w+)$"), r"item.\1"),
    (re.compile(r"^@index$"), "loop.index0"),
    (re.compile(r"^@first$"), "loop.first"),
    (re.compile(r"^@last$"), "loop.last"),
]
_LOCATION = {"City": "city", "Country": "country", "PostalCode": "postal_code", "Region": "state"}
_FILTER_HELPERS = {
    "upper": "upper",
    "lower": "lower",
    "capitalize": "capitalize",
    "capitalizeFirst": "capitalize",
    "trim": "trim",
    "length": "length",
}
_TAG = re.compile(r"\{\{\{\s*(.*?)\s*\}\}\}|\{\{(~?)(!--.*?--|!.*?|[#/^]?.*?)(~?)\}\}", re.S)


@dataclass
class ConvertedTemplate:
    text: str
    problems: list[str]


def _path(expression: str, problems: list[str]) -> str | None:
    expression = expression.strip()
    for pattern, replacement in _PATHS:
        match = pattern.match(expression)
        if match:
            if replacement is None:
                return f"profile.demographics.{_LOCATION[match.group(1)]}"
            return match.expand(replacement)
    if re.fullmatch(r"[A-Za-z_]\w*", expression):
        return f"traits.{expression}"  # a bare name: Pinpoint's default values and custom attributes
    problems.append(f"no equivalent for {{{{{expression}}}}}")
    return None


def convert_template(text: str) -> ConvertedTemplate:
    """A Pinpoint (Handlebars) template as a Jinja2 template, and what could not be converted (each left in place
    as a `{# unconverted: ... #}` comment, so a render never shows raw Handlebars to a customer)."""
    problems: list[str] = []
    blocks: list[str] = []
    out: list[str] = []
    position = 0
    for match in _TAG.finditer(text):
        out.append(text[position : match.start()])
        position = match.end()
        if match.group(1) is not None:  # {{{raw}}}: unescaped HTML
            path = _path(match.group(1), problems)
            out.append(f"{{{{ {path} | safe }}}}" if path else f"{{# unconverted: {match.group(0)} #}}")
            continue
        body = match.group(3).strip()
        out.append(_convert_tag(body, match.group(0), blocks, problems))
    out.append(text[position:])
    for block in reversed(blocks):
        problems.append(f"{{{{#{block}}}}} is never closed")
        out.append({"if": "{% endif %}", "unless": "{% endif %}", "each": "{% endfor %}", "with": ""}.get(block, ""))
    return ConvertedTemplate("".join(out), problems)


def _convert_tag(body: str, original: str, blocks: list[str], problems: list[str]) -> str:
    if body.startswith("!"):
        comment = body[3:-2] if body.startswith("!--") else body[1:]
        return "{# " + comment.strip().replace("#}", "# }") + " #}"
    if body.startswith("#"):
        name, _, argument = body[1:].partition(" ")
        argument = argument.strip()
        if name in ("if", "unless", "each") and argument:
            path = _path(argument, problems)
            if path is None:
                blocks.append(name)
                return "{% if false %}" if name != "each" else "{% for item in [] %}"
            blocks.append(name)
            if name == "if":
                return f"{{% if {path} %}}"
            if name == "unless":
                return f"{{% if not {path} %}}"
            return f"{{% for item in {path} %}}"
        problems.append(f"block helper {{{{#{name}}}}} has no equivalent")
        blocks.append("unsupported")
        return f"{{# unconverted: {original} #}}"
    if body.startswith("/"):
        name = body[1:].strip()
        if not blocks:
            problems.append(f"{{{{/{name}}}}} closes nothing")
            return ""
        opened = blocks.pop()
        if opened == "unsupported":
            return f"{{# unconverted: {original} #}}"
        return "{% endfor %}" if opened == "each" else "{% endif %}"
    if body == "else":
        if blocks and blocks[-1] == "each":
            return "{% else %}"
        return "{% else %}" if blocks else ""
    words = body.split()
    if len(words) == 2 and words[0] in _FILTER_HELPERS:
        path = _path(words[1], problems)
        return f"{{{{ {path} | {_FILTER_HELPERS[words[0]]} }}}}" if path else f"{{# unconverted: {original} #}}"
    if len(words) == 1:
        path = _path(words[0], problems)
        return f"{{{{ {path} }}}}" if path else f"{{# unconverted: {original} #}}"
    problems.append(f"helper {{{{{body[:60]}}}}} has no equivalent")
    return f"{{# unconverted: {original.replace('#}', '# }')} #}}"


def convert_template_document(document: dict[str, Any]) -> dict[str, Any]:
    """A Pinpoint `get-email-template` / `get-sms-template` response (or its `EmailTemplateResponse`) into our template
    body and the report. `DefaultSubstitutions` (Pinpoint's default values, a JSON text) become `| default(...)`."""
    template = document.get("EmailTemplateResponse") or document.get("SMSTemplateResponse") or document
    defaults: dict[str, Any] = {}
    if isinstance(template.get("DefaultSubstitutions"), str):
        try:
            defaults = json.loads(template["DefaultSubstitutions"])
        except ValueError:
            defaults = {}
    problems: list[str] = []
    converted: dict[str, Any] = {}
    for source, target in (("Subject", "subject"), ("HtmlPart", "html"), ("TextPart", "text"), ("Body", "text")):
        if isinstance(template.get(source), str):
            result = convert_template(template[source])
            text = result.text
            for name, value in defaults.items() if isinstance(defaults, dict) else ():
                path = _path(name, [])
                if path:
                    text = text.replace(f"{{{{ {path} }}}}", f"{{{{ {path} | default({json.dumps(str(value))}) }}}}")
            converted[target] = text
            problems += [f"{target}: {p}" for p in result.problems]
    return {"template": converted, "problems": problems, "name": template.get("TemplateName")}
