"""Message templating: Jinja2 in an immutable sandbox, personalised from the profile dict, with safe fallbacks.

Templates live in `chalicelib/templates/`: `<id>.html.j2` (autoescaped), `<id>.txt.j2` and `<id>.sms.j2` (plain), and
`templates.json`, the catalogue of ids with their subject line (itself a Jinja string) and marketing flag. Files whose
name starts with `_` are partials (layout, macros). Jinja2 is imported on first render, not at module import, because
import time is Lambda cold-start time.

Missing data never breaks a render: undefined values are `ChainableUndefined` (`{{ traits.a.b }}` renders ""),
None renders "", and the `money` filter renders "" for non-numbers. Only real template faults (syntax, sandbox
violations, a marketing email without an unsubscribe URL) raise `TemplateRenderError`.

Money, numbers and dates are formatted by Babel (delivery/formatting.py) in the recipient's locale and each item's own
currency. Every product carries a `link` (its own http(s) URL, else the shop's home) and the cart reminder a
`cart_url` (else the shop's home): no card is ever an empty href, and link rewriting makes each one click-tracked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from chalicelib.delivery import formatting as fmt
from chalicelib.delivery.push import PushSpec, PushTooLarge, RenderedPush, check_spec
from chalicelib.profiles import view as sc  # tolerant profile views (formerly in scenarios.definitions)

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
CATALOGUE_FILE = "templates.json"
BODY_SUFFIXES = {"html": ".html.j2", "text": ".txt.j2", "sms": ".sms.j2"}
MAX_LISTED_PRODUCTS = 4
PRODUCT_LISTS = ("cart", "viewed_products", "related_products", "product")


class TemplateRenderError(Exception):
    """Rendering one message failed; the caller records a failed send for that profile only."""

    def __init__(self, template_id: str, detail: str) -> None:
        self.template_id = template_id
        self.detail = detail
        super().__init__(f"template {template_id!r}: {detail}")


@dataclass(frozen=True)
class RenderedMessage:
    """The rendered bodies; a body is None when the template has no file for it (or it was not requested)."""

    subject: str
    html: str | None
    text: str | None
    sms: str | None
    push: RenderedPush | None = None  # channel `push` only (`render_push`)


class TemplateSpec(BaseModel):
    """One catalogue entry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    subject: str = Field(default="", description="Jinja string; rendered without autoescape, on one line.")
    description: str = ""
    marketing: bool = Field(default=True, description="Marketing bodies must get unsubscribe_url and preferences_url.")
    push: PushSpec | None = Field(default=None, description="A mobile push notification: the `push` channel.")

    @model_validator(mode="after")
    def _push_fits(self) -> TemplateSpec:
        if self.push is not None:
            try:
                check_spec(self.push)
            except PushTooLarge as exc:
                raise ValueError(f"{exc.field}: {exc}") from None
        return self


class TemplateDoc(TemplateSpec):
    """A template saved at run time (admin API): the catalogue entry and its bodies in one JSON object."""

    html: str | None = Field(default=None, description="Jinja HTML body (autoescaped); with `text` for email.")
    text: str | None = Field(default=None, description="Jinja plain-text body (email alternative, sales alerts).")
    sms: str | None = Field(default=None, description="Jinja SMS body.")

    def bodies(self) -> dict[str, str]:
        return {kind: body for kind in BODY_SUFFIXES if (body := getattr(self, kind)) is not None}


# --------------------------------------------------------------------------------------------------------------------
# Catalogue
# --------------------------------------------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _catalogue(directory: str) -> dict[str, TemplateSpec]:
    raw = json.loads((Path(directory) / CATALOGUE_FILE).read_text(encoding="utf-8"))
    return {tid: TemplateSpec.model_validate(spec) for tid, spec in raw.items() if not tid.startswith("$")}


def load_catalogue(directory: str | Path = TEMPLATES_DIR) -> dict[str, TemplateSpec]:
    """Template id -> spec from `templates.json` (cached per directory)."""
    return dict(_catalogue(str(directory)))


def template_bodies(template_id: str, directory: str | Path = TEMPLATES_DIR) -> set[str]:
    """Which bodies exist on disk for the id: a subset of {'html', 'text', 'sms'}."""
    base = Path(directory)
    return {kind for kind, suffix in BODY_SUFFIXES.items() if (base / f"{template_id}{suffix}").is_file()}


def template_channels(directory: str | Path = TEMPLATES_DIR) -> dict[str, set[str]]:
    """Template id -> channels it can serve: `email` (html + text), `sms` (sms), `sales_alert` (text).

    Feed it to `load_scenarios(..., template_channels=...)` to catch an sms step pointing at an email-only template."""
    out: dict[str, set[str]] = {}
    for tid in _catalogue(str(directory)):
        bodies = template_bodies(tid, directory)
        channels: set[str] = set()
        if {"html", "text"} <= bodies:
            channels.add("email")
        if "sms" in bodies:
            channels.add("sms")
        if "text" in bodies:
            channels.add("sales_alert")
        if _catalogue(str(directory))[tid].push is not None:
            channels.add("push")
        out[tid] = channels
    return out


def packaged_template_bodies(directory: str | Path = TEMPLATES_DIR) -> dict[str, dict[str, Any]]:
    """The packaged templates as run-time definition bodies: catalogue entry plus the body files' text, by id."""
    base = Path(directory)
    out: dict[str, dict[str, Any]] = {}
    for tid, spec in _catalogue(str(directory)).items():
        doc: dict[str, Any] = spec.model_dump()
        for kind, suffix in BODY_SUFFIXES.items():
            path = base / f"{tid}{suffix}"
            if path.is_file():
                doc[kind] = path.read_text(encoding="utf-8")
        out[tid] = doc
    return out


def parse_template(body: Mapping[str, Any], directory: str | Path = TEMPLATES_DIR) -> TemplateDoc:
    """Validate one template body for the admin API: the model, at least one body, and Jinja syntax of each
    (subject included). Raises `DefinitionInvalid` naming the field (`html`, `subject`, ...) and the line."""
    from pydantic import ValidationError

    from chalicelib.definitions.exceptions import DefinitionInvalid

    push = body.get("push") if isinstance(body, Mapping) else None
    if isinstance(push, Mapping):  # the payload limits name the field that overflows (`push.body`), not `push`
        try:
            check_spec(PushSpec.model_validate(push))
        except PushTooLarge as exc:
            raise DefinitionInvalid(exc.field, str(exc)) from None
        except ValidationError:
            pass  # reported below with its own field
    try:
        doc = TemplateDoc.model_validate(body)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        raise DefinitionInvalid(".".join(str(p) for p in err["loc"]), err["msg"]) from None
    if not doc.bodies() and doc.push is None:
        raise DefinitionInvalid("html", "a template needs at least one body: html + text (email), text, sms or push")
    from jinja2 import TemplateSyntaxError

    env = _environment(str(directory))
    texts = doc.push.texts() if doc.push is not None else {}
    for field, source in [("subject", doc.subject), *doc.bodies().items(), *texts.items()]:
        try:
            env.parse(source)
        except TemplateSyntaxError as exc:
            raise DefinitionInvalid(field, f"line {exc.lineno}: {exc.message}") from None
    return doc


def build_catalogue(effective: Any) -> dict[str, TemplateSpec]:
    """The effective catalogue from `definitions.effective.Effective` items: enabled ids only; a file definition is
    its `templates.json` entry (bodies on disk), a stored one a `TemplateDoc` (bodies inline)."""
    import logging

    files = _catalogue(str(TEMPLATES_DIR))
    out: dict[str, TemplateSpec] = {}
    for item in effective:
        if not item.enabled:
            continue
        if item.origin == "file" and item.id in files:
            out[item.id] = files[item.id]
            continue
        try:
            out[item.id] = parse_template(item.body)
        except Exception as exc:  # a body saved under an older model: leave it out, keep the others
            logging.getLogger("one2one").error("definitions: template %s unusable: %s", item.id, exc)
    return out


def catalogue_channels(
    catalogue: Mapping[str, TemplateSpec], directory: str | Path = TEMPLATES_DIR
) -> dict[str, set[str]]:
    """Template id -> channels it can serve (as `template_channels`), for an effective catalogue."""
    out: dict[str, set[str]] = {}
    for tid, spec in catalogue.items():
        bodies = set(spec.bodies()) if isinstance(spec, TemplateDoc) else template_bodies(tid, directory)
        channels: set[str] = set()
        if {"html", "text"} <= bodies:
            channels.add("email")
        if "sms" in bodies:
            channels.add("sms")
        if "text" in bodies:
            channels.add("sales_alert")
        if spec.push is not None:
            channels.add("push")
        out[tid] = channels
    return out


def known_templates(directory: str | Path = TEMPLATES_DIR) -> set[str]:
    """Ids in the catalogue (what scenarios may reference)."""
    return set(_catalogue(str(directory)))


# --------------------------------------------------------------------------------------------------------------------
# Context
# --------------------------------------------------------------------------------------------------------------------


def format_money(value: Any, currency: str | None = "USD", locale: str = fmt.DEFAULT_LOCALE) -> str:
    """`1200, "JPY"` -> `¥1,200`; `12.5, "USD"` -> `$12.50`; `89, "EUR", "ja"` -> `€89.00`; non-numbers -> ""
    (Babel: the locale's pattern, the currency's own symbol and minor units)."""
    return fmt.format_money(value, currency, locale)


def safe_url(value: Any) -> str:
    """The URL when it is http(s), else "" (product URLs come from tracked events, i.e. from the browser)."""
    if isinstance(value, str) and value.strip().lower().startswith(("https://", "http://")):
        return value.strip()
    return ""


def catalog_fields(stored: Any) -> dict[str, Any]:
    """What templates take from the catalog for one product (`catalog.StoredProduct`): the authoritative fields."""
    product = stored.product
    fields = {
        "product_id": product.id,
        "name": product.name,
        "price": product.price,
        "currency": product.currency,
        "url": product.url,
        "image_url": product.image,
        "stock": product.stock,
        "in_stock": product.available,
        "brand": product.brand,
        "category": product.category,
    }
    return {k: v for k, v in fields.items() if v is not None}


def _product(item: Mapping[str, Any], catalog: Mapping[str, Any] | None = None) -> dict[str, Any]:
    known = (catalog or {}).get(str(item.get("product_id")))
    if isinstance(known, Mapping):  # the catalog wins over what an event said about the product
        item = {**item, **known}
    price = sc.to_number(item.get("price"))
    qty = sc.to_number(item.get("quantity"))
    quantity = int(qty) if qty is not None and qty > 0 else 1
    return {
        **item,
        "product_id": item.get("product_id"),
        "name": item.get("name") or item.get("title") or "",
        "price": price,
        "quantity": quantity,
        "url": item.get("url") or "",
        "image_url": item.get("image_url") or "",
        "line_total": price * quantity if price is not None else None,
    }


def build_context(profile: Mapping[str, Any], extra_context: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The variables templates see. From the profile: `first_name` ("" when unknown: templates use `greeting`),
    `last_name`, `email`, `traits`, `stage`, `scores`, `cart` (items with `line_total`), `cart_totals` (one per
    currency), `cart_currency` (None for a mixed cart), `cart_total`, `viewed_products` (recent first, not in the cart,
    at most 4), `profile`, `locale` / `lang` and `greeting` ("Hi Anna," / "Hi,"). From the caller (`extra_context`,
    which wins on clashes): `related_products`, `coupon_code`, `unsubscribe_url`, `preferences_url`, `currency` (the
    shop's, for items that name none), `locale`, `default_locale`, `shop_url`, `cart_url`, step `params`, anything
    else. Every listed product gets `currency` and `link` (its URL, else `shop_url`); `cart_url` falls back to
    `shop_url`. Where `extra_context["catalog"]` (product id -> `catalog_fields`) has a product, its name, price, URL
    and image win over what events said about it; a catalog trigger's product is `product`."""
    extra = dict(extra_context or {})
    catalog = extra.get("catalog") if isinstance(extra.get("catalog"), Mapping) else None
    traits = sc.traits(profile)
    cart = [_product(i, catalog) for i in sc.cart_items(profile)]
    in_cart = {str(i["product_id"]) for i in cart}
    seen: set[str] = set()
    viewed: list[dict[str, Any]] = []
    for item in sc.viewed_products(profile):
        pid = str(item.get("product_id"))
        if pid in in_cart or pid in seen or not (item.get("name") or item.get("title")):
            continue  # a product we cannot name is worse than no product in a personal email
        seen.add(pid)
        viewed.append(_product(item, catalog))
    last = traits.get("lastName") or traits.get("last_name") or sc.demographics(profile).get("last_name")
    locale = fmt.recipient_locale(profile, extra, str(extra.get("default_locale") or fmt.DEFAULT_LOCALE))
    first = sc.first_name(profile, fallback="")
    context: dict[str, Any] = {
        "profile": dict(profile),
        "traits": traits,
        "first_name": first,
        "last_name": last if isinstance(last, str) else "",
        "email": sc.email_address(profile) or "",
        "stage": sc.stage(profile) or "",
        "scores": profile.get("scores") if isinstance(profile.get("scores"), dict) else {},
        "cart": cart,
        "viewed_products": viewed[:MAX_LISTED_PRODUCTS],
        "related_products": [],
        "coupon_code": "",
        "currency": traits.get("currency") if isinstance(traits.get("currency"), str) else "USD",
        "unsubscribe_url": "",
        "preferences_url": "",
        "shop_url": "",
        "cart_url": "",
        # Dates a template may show (formatted with the `date` filter in the recipient's locale); "" when unknown.
        "last_seen": _text(sc.computed(profile).get("last_seen")),
        "last_order_at": _text(sc.computed(profile).get("last_order_at")),
    }
    if isinstance(extra.get("related_products"), list):
        extra["related_products"] = [
            _product(p, catalog) for p in extra["related_products"][:MAX_LISTED_PRODUCTS] if isinstance(p, Mapping)
        ]
    if isinstance(extra.get("product"), Mapping):
        extra["product"] = _product(extra["product"], catalog)
    context.update(extra)
    _finish_links_and_money(context)
    context["locale"] = locale
    context["lang"] = fmt.language(locale)
    context["greeting"] = fmt.greeting(first, locale)
    return context


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _finish_links_and_money(context: dict[str, Any]) -> None:
    """Each product's currency (its own, else the shop's) and link (its URL, else the shop's home); the cart's
    per-currency totals; `cart_url` falling back to the shop's home. Runs after the caller's values are in."""
    shop_url = safe_url(context.get("shop_url"))
    context["shop_url"] = shop_url
    context["cart_url"] = safe_url(context.get("cart_url")) or shop_url
    default_currency = fmt.currency_code(context.get("currency"), "USD")
    context["currency"] = default_currency
    for key in PRODUCT_LISTS:
        items = context.get(key)
        if isinstance(items, dict):  # one product (a catalog trigger's `product`)
            items = [items]
        if not isinstance(items, list):
            continue
        for item in items:
            if isinstance(item, dict):
                item["currency"] = fmt.currency_code(item.get("currency"), default_currency)
                item["link"] = safe_url(item.get("url")) or shop_url
    totals: dict[str, float] = {}
    for item in context["cart"]:
        if item.get("line_total") is not None:
            totals[item["currency"]] = totals.get(item["currency"], 0.0) + item["line_total"]
    context["cart_totals"] = [{"currency": code, "amount": amount} for code, amount in totals.items()]
    currencies = {item["currency"] for item in context["cart"]}
    mixed = len(currencies) > 1  # amounts in different currencies are never added up
    context["cart_currency"] = None if mixed else next(iter(currencies), default_currency)
    context["cart_total"] = None if mixed else sum(totals.values())


# --------------------------------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _environment(directory: str) -> Any:
    """One sandboxed environment per templates directory, built on first use (jinja2 import is deferred to here)."""
    from jinja2 import (
        ChainableUndefined,
        ChoiceLoader,
        DictLoader,
        FileSystemLoader,
        Undefined,
        pass_context,
        select_autoescape,
    )
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    @pass_context
    def money(ctx: Any, value: Any, currency: str | None = None) -> str:
        if isinstance(value, Undefined):  # float(Undefined) raises; a missing price renders as nothing
            return ""
        code = currency if isinstance(currency, str) and currency else ctx.get("currency")
        return format_money(value, code or "USD", _locale(ctx))

    @pass_context
    def number(ctx: Any, value: Any) -> str:
        return "" if isinstance(value, Undefined) else fmt.format_number(value, _locale(ctx))

    @pass_context
    def date(ctx: Any, value: Any, style: str = "medium") -> str:
        return "" if isinstance(value, Undefined) else fmt.format_date(value, _locale(ctx), style)

    @pass_context
    def totals(ctx: Any, value: Any) -> str:
        rows = [t for t in value if isinstance(t, Mapping)] if isinstance(value, list) else []
        return fmt.format_totals(rows, _locale(ctx))

    @pass_context
    def ui_text(ctx: Any, key: str, **values: Any) -> str:
        return fmt.ui(_locale(ctx), key, **{k: str(v) for k, v in values.items()})

    env = ImmutableSandboxedEnvironment(
        # Stored templates' bodies first, under names made of their content hash (so a new body is a new name and
        # no cached compiled template goes stale); they can still extend or include the packaged partials.
        loader=ChoiceLoader([DictLoader(_stored_sources(directory)), FileSystemLoader(directory)]),
        # Only HTML bodies are escaped; text/SMS/subject must keep "&" and "<" as typed.
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False, default=False),
        undefined=ChainableUndefined,
        finalize=lambda value: "" if value is None else value,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters["money"] = money
    env.filters["number"] = number
    env.filters["date"] = date
    env.filters["totals"] = totals
    env.filters["safe_url"] = safe_url
    env.globals["t"] = ui_text  # the layout's words in the recipient's language: {{ t("unsubscribe") }}
    return env


_WS = re.compile(r"\s+")


@lru_cache(maxsize=8)
def _stored_sources(directory: str) -> dict[str, str]:
    return {}


def _stored_name(directory: str, kind: str, source: str) -> str:
    import hashlib

    name = f"@stored/{hashlib.sha256(source.encode()).hexdigest()[:24]}{BODY_SUFFIXES[kind]}"
    _stored_sources(directory).setdefault(name, source)
    return name


def _locale(ctx: Any) -> str:
    value = ctx.get("locale")
    return value if isinstance(value, str) and value else fmt.DEFAULT_LOCALE


def render(
    template_id: str,
    profile: Mapping[str, Any],
    extra_context: Mapping[str, Any] | None = None,
    *,
    channel: str | None = None,
    marketing: bool | None = None,
    templates_dir: str | Path = TEMPLATES_DIR,
    catalogue: Mapping[str, TemplateSpec] | None = None,
) -> RenderedMessage:
    """Render the subject and bodies of `template_id` for one profile.

    Parameters
    ----------
    channel: `email` renders subject + html + text, `sms` the sms body, `sales_alert` subject + text; None renders
        every body that exists.
    catalogue: the effective catalogue (files overlaid by stored definitions); default: `templates.json`.
    marketing: overrides the catalogue flag; marketing email needs non-empty `unsubscribe_url` and `preferences_url`
        in `extra_context` (the List-Unsubscribe header and the footer link come from them).

    Raises
    ------
    TemplateRenderError for an unknown template, a missing requested body, a template fault or a marketing email
    without unsubscribe links.

    Example:
        msg = render("cart_reminder", profile, {"unsubscribe_url": u, "preferences_url": p, "currency": "JPY"},
                     channel="email")
    """
    if channel == "push":
        push = render_push(template_id, profile, extra_context, templates_dir=templates_dir, catalogue=catalogue)
        return RenderedMessage(subject=push.title, html=None, text=push.body, sms=None, push=push)
    directory = str(templates_dir)
    spec = (catalogue if catalogue is not None else _catalogue(directory)).get(template_id)
    if spec is None:
        raise TemplateRenderError(template_id, "unknown template")
    inline = spec.bodies() if isinstance(spec, TemplateDoc) else None
    bodies = set(inline) if inline is not None else template_bodies(template_id, directory)
    wanted = {"email": {"html", "text"}, "sms": {"sms"}, "sales_alert": {"text"}}.get(channel or "", bodies)
    missing = wanted - bodies
    if missing:
        raise TemplateRenderError(template_id, f"no {'/'.join(sorted(missing))} body for channel {channel!r}")
    is_marketing = spec.marketing if marketing is None else marketing
    context = build_context(profile, extra_context)
    if is_marketing and channel in (None, "email") and wanted & {"html", "text"}:
        for key in ("unsubscribe_url", "preferences_url"):
            if not context.get(key):
                raise TemplateRenderError(template_id, f"marketing message needs {key}")
    context["marketing"] = is_marketing

    from jinja2 import TemplateError  # already imported by _environment; cheap

    env = _environment(directory)
    try:
        subject = ""
        if spec.subject and channel != "sms":
            subject = _WS.sub(" ", env.from_string(spec.subject).render(context)).strip()
        out: dict[str, str | None] = {"html": None, "text": None, "sms": None}
        for kind in sorted(wanted):
            name = (
                _stored_name(directory, kind, inline[kind])
                if inline is not None
                else f"{template_id}{BODY_SUFFIXES[kind]}"
            )
            out[kind] = env.get_template(name).render(context).strip() + "\n"
        if out["sms"] is not None:
            out["sms"] = out["sms"].strip()
    except TemplateError as exc:
        raise TemplateRenderError(template_id, f"{type(exc).__name__}: {exc}") from exc
    except Exception as exc:  # a filter or a value's __str__ blew up: still only this profile's message fails
        raise TemplateRenderError(template_id, f"{type(exc).__name__}: {exc}") from exc
    return RenderedMessage(subject=subject, html=out["html"], text=out["text"], sms=out["sms"])


def clear_caches() -> None:
    """Forget cached catalogues and environments (tests, local hot reload)."""
    _catalogue.cache_clear()
    _environment.cache_clear()
    _stored_sources.cache_clear()


def render_push(
    template_id: str,
    profile: Mapping[str, Any],
    extra_context: Mapping[str, Any] | None = None,
    *,
    templates_dir: str | Path = TEMPLATES_DIR,
    catalogue: Mapping[str, TemplateSpec] | None = None,
) -> RenderedPush:
    """Render the template's push texts for one profile (the same context and sandbox as the other bodies; one
    line each, as a notification shows them). TemplateRenderError when the template has no push entry."""
    directory = str(templates_dir)
    spec = (catalogue if catalogue is not None else _catalogue(directory)).get(template_id)
    if spec is None or spec.push is None:
        raise TemplateRenderError(template_id, "no push notification in this template")
    from jinja2 import TemplateError

    env = _environment(directory)
    context = build_context(profile, extra_context)

    def fill(source: str) -> str:
        return _WS.sub(" ", env.from_string(source).render(context)).strip() if source else ""

    push = spec.push
    try:
        return RenderedPush(
            title=fill(push.title),
            body=fill(push.body),
            deep_link=fill(push.deep_link),
            image_url=safe_url(fill(push.image_url)),
            badge=push.badge,
            sound=push.sound,
            data={key: fill(value) for key, value in push.data.items()},
        )
    except TemplateError as exc:
        raise TemplateRenderError(template_id, f"push: {exc}") from exc
