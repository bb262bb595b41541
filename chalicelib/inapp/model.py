"""In-app / on-site message definitions as validated data: kind, content, targeting, dates, priority, caps, dismissal.

Stored and versioned through the definitions store (kind `in_app`), seeded by `config/in_app.json`. Validation happens
when a definition is saved, so the fetch route never meets a message it cannot serve: sizes are bounded (what a
banner can show, what an app's payload can carry) and every URL is a web or app link, never `javascript:`.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from chalicelib.definitions.exceptions import DefinitionInvalid

CONFIG_FILE = Path(__file__).resolve().parent.parent / "config" / "in_app.json"
MAX_DEFINITION_BYTES = 8 * 1024  # the whole definition as compact JSON: what one fetch may carry per message
MAX_TITLE = 120
MAX_BODY = 1000
MAX_BUTTONS = 2
MAX_CUSTOM_KEYS = 10
IMPRESSIONS_KEPT = 50  # per message and person: the cap window never needs more
_DURATION = re.compile(r"^(\d{1,4})([mhd])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}
# A URL a banner may open: https/http, a same-site path, or an app deep link (`myapp://...`). Never javascript:,
# data:, vbscript: or file: (a definition is marketer input, rendered into pages and apps).
_URL = re.compile(r"^(https?://[^\s]+|/(?!/)[^\s]*|[a-z][a-z0-9+.-]{1,30}://[^\s]+)$", re.IGNORECASE)
_REFUSED_SCHEMES = ("javascript:", "data:", "vbscript:", "file:")
Kind = Literal["banner", "modal", "card"]


def parse_period(value: str) -> timedelta:
    """`30m`, `12h`, `7d` -> timedelta (ValueError otherwise)."""
    match = _DURATION.match(value or "")
    if not match or int(match.group(1)) == 0:
        raise ValueError("a duration like 30m, 12h or 7d")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def _duration(value: str) -> str:
    parse_period(value)
    return value


def _url(value: str) -> str:
    if value.strip().lower().startswith(_REFUSED_SCHEMES) or not _URL.match(value):
        raise ValueError("a https:// URL, a /path on the site, or an app deep link (scheme://...)")
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Button(_Model):
    label: str = Field(min_length=1, max_length=40)
    url: str | None = Field(default=None, description="Where the button leads (https, /path or app deep link)")
    action: Literal["link", "dismiss"] = Field(default="link", description="`dismiss` closes the message")

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        return _url(value) if value is not None else None

    @model_validator(mode="after")
    def _link_needs_url(self) -> Button:
        if self.action == "link" and not self.url:
            raise ValueError("a link button needs 'url'")
        return self


class Trigger(_Model):
    """Shown after this event (a track event name), for `show_for` after it happened."""

    event: str = Field(min_length=1, max_length=200)
    show_for: str = Field(default="1d", description="How long the triggered message stays eligible (30m, 12h, 7d)")

    @field_validator("show_for")
    @classmethod
    def _period(cls, value: str) -> str:
        return _duration(value)


class Frequency(_Model):
    """At most `max_impressions` views per person in any `per` window (e.g. 3 a day)."""

    max_impressions: int = Field(ge=1, le=IMPRESSIONS_KEPT)
    per: str = Field(default="1d", description="The window (30m, 12h, 7d, up to 365d)")

    @field_validator("per")
    @classmethod
    def _period(cls, value: str) -> str:
        if parse_period(value) > timedelta(days=365):
            raise ValueError("at most 365d")
        return value


class Dismissal(_Model):
    """A dismissed message is never shown again to that person, unless `show_again_after` has passed since."""

    show_again_after: str | None = None

    @field_validator("show_again_after")
    @classmethod
    def _period(cls, value: str | None) -> str | None:
        return _duration(value) if value is not None else None


class InAppMessage(_Model):
    """One in-app / on-site message. Targeting: `segment` (members see it), `trigger` (shown after an event), both
    (members, after the event), or neither (only a scenario step with channel `in_app` puts it in front of someone)."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-]{0,63}$")
    name: str = Field(default="", max_length=200)
    kind: Kind
    title: str = Field(default="", max_length=MAX_TITLE)
    body: str = Field(default="", max_length=MAX_BODY)
    image_url: str | None = None
    buttons: list[Button] = Field(default_factory=list, max_length=MAX_BUTTONS)
    placement: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9_\-]{0,39}$", description="Cards only")
    custom: dict[str, str] = Field(default_factory=dict, description="Key-value data for apps (at most 10 keys)")
    segment: str | None = None
    trigger: Trigger | None = None
    start_at: datetime | None = None
    end_at: datetime | None = None
    priority: int = Field(default=0, ge=0, le=100, description="Higher first")
    frequency: Frequency | None = None
    dismissal: Dismissal = Field(default_factory=Dismissal)

    @field_validator("image_url")
    @classmethod
    def _image(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("https://"):
            raise ValueError("an https:// URL")
        return value

    @field_validator("start_at", "end_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("a date-time with a time zone (e.g. 2026-01-01T00:00:00Z)")
        return value

    @field_validator("custom")
    @classmethod
    def _custom(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > MAX_CUSTOM_KEYS or any(len(k) > 50 or len(v) > 200 for k, v in value.items()):
            raise ValueError("at most 10 keys of 50 characters, values of 200")
        return value

    @model_validator(mode="after")
    def _shape(self) -> InAppMessage:
        if not (self.title or self.body):
            raise ValueError("give 'title' or 'body'")
        if (self.kind == "card") != (self.placement is not None):
            raise ValueError("'placement' is required for a card and only for a card")
        if self.start_at and self.end_at and self.end_at <= self.start_at:
            raise ValueError("'end_at' must be after 'start_at'")
        return self

    def view(self) -> dict[str, Any]:
        """What the fetch route answers for this message (content only: targeting stays on the server)."""
        out: dict[str, Any] = {"id": self.id, "kind": self.kind, "priority": self.priority}
        for name in ("title", "body", "image_url", "placement"):
            if getattr(self, name):
                out[name] = getattr(self, name)
        if self.buttons:
            out["buttons"] = [b.model_dump(exclude_none=True) for b in self.buttons]
        if self.custom:
            out["custom"] = dict(self.custom)
        return out


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def parse_message(body: Any) -> InAppMessage:
    """The validated message; `DefinitionInvalid` naming the field (JSON path) of the first problem."""
    if not isinstance(body, dict):
        raise DefinitionInvalid("", "an in-app message is a JSON object")
    size = len(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode())
    if size > MAX_DEFINITION_BYTES:
        raise DefinitionInvalid("", f"the definition is {size} bytes; at most {MAX_DEFINITION_BYTES}")
    try:
        return InAppMessage.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        return _raise(_path(tuple(first["loc"])), str(first["msg"]).removeprefix("Value error, "))


def _raise(path: str, message: str) -> InAppMessage:
    raise DefinitionInvalid(path, message)


def packaged_message_bodies() -> dict[str, dict[str, Any]]:
    """The packaged messages (`config/in_app.json`) as JSON objects by id."""
    data = json.loads(CONFIG_FILE.read_text(encoding="utf-8"))
    return {m["id"]: m for m in data.get("messages", []) if isinstance(m, dict) and isinstance(m.get("id"), str)}
