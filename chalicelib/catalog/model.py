"""The catalog's product: what a shop says it sells, validated (prices, ISO 4217 currencies, URLs on the shop's hosts).

The catalog is authoritative for a product's name, price, currency, URL, image and stock: events still carry product
data (a `Product Viewed` names what the visitor saw), but mail built at send time prefers the catalog's fields. Pure:
no I/O; `catalog.service` stores what `validate_product` accepts.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from chalicelib.catalog.exceptions import ProductError

__all__ = ["CURRENCIES", "Availability", "PricePoint", "Product", "Variant", "in_stock", "site_of", "validate_product"]

# ISO 4217 active codes (2024), fund and precious-metal codes left out: a shop prices in money.
_CODES = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD CAD CDF CHF "
    "CLP CNY COP CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL "
    "HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL "
    "MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON "
    "RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS "
    "UAH UGX USD UYU UZS VED VES VND VUV WST XAF XCD XOF XPF YER ZAR ZMW ZWL"
)
CURRENCIES = frozenset(_CODES.split(" "))
Availability = Literal["in_stock", "out_of_stock", "preorder", "discontinued"]
MAX_VARIANTS = 100
MAX_PRICE_HISTORY = 50  # enough for a 30-day reference price at several changes a day; the item stays ~5 KB
# Ids go into keys and URL paths: no '/', '#' or control characters.
_ID = re.compile(r"^[^\x00-\x1f\x7f\s/#][^\x00-\x1f\x7f/#]{0,199}$")


class _Model(BaseModel):
    # A feed's typo (`prize`) must be refused, not silently dropped.
    model_config = ConfigDict(extra="forbid", frozen=True)


def _currency(value: Any) -> Any:
    if value is None:
        return None
    code = str(value).strip().upper()
    if code not in CURRENCIES:
        raise ValueError(f"unknown currency {value!r} (ISO 4217, e.g. USD, EUR, JPY)")
    return code


class Variant(_Model):
    """A purchasable variant (size, colour); price, currency and URL default to the product's."""

    id: str = Field(pattern=_ID.pattern)
    sku: str | None = Field(default=None, max_length=200)
    name: str | None = Field(default=None, max_length=500)
    price: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    currency: str | None = None
    stock: int | None = Field(default=None, ge=0)
    availability: Availability | None = None
    url: str | None = Field(default=None, max_length=2048)
    image: str | None = Field(default=None, max_length=2048)
    options: dict[str, str] = Field(default_factory=dict, max_length=10)

    _currency = field_validator("currency", mode="before")(_currency)


class PricePoint(_Model):
    at: str
    price: float
    currency: str


class Product(_Model):
    """One product as the catalog keeps it. `stock` None means the shop does not count it (availability decides)."""

    id: str = Field(pattern=_ID.pattern)
    sku: str | None = Field(default=None, max_length=200)
    name: str = Field(min_length=1, max_length=500)
    url: str | None = Field(default=None, max_length=2048)
    image: str | None = Field(default=None, max_length=2048)
    price: float = Field(ge=0, allow_inf_nan=False)
    currency: str
    category: str | None = Field(default=None, max_length=200)
    brand: str | None = Field(default=None, max_length=200)
    stock: int | None = Field(default=None, ge=0)
    availability: Availability | None = None
    updated_at: str | None = None
    variants: list[Variant] = Field(default_factory=list, max_length=MAX_VARIANTS)

    _currency = field_validator("currency", mode="before")(_currency)

    @field_validator("updated_at", mode="before")
    @classmethod
    def _iso(cls, value: Any) -> Any:
        if value is None or value == "":
            return None
        try:
            parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise ValueError("updated_at must be an ISO-8601 timestamp") from None
        parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    @property
    def available(self) -> bool:
        return in_stock(self.stock, self.availability)


def in_stock(stock: int | None, availability: str | None) -> bool:
    """Whether a product can be bought now: a counted stock above zero (unless marked out or discontinued), or, when
    the shop does not count, `in_stock` / `preorder`."""
    if availability in ("out_of_stock", "discontinued"):
        return False
    if stock is not None:
        return stock > 0
    return availability in (None, "in_stock", "preorder")


def site_of(url: str) -> str | None:
    """`scheme://host[:port]` of an http(s) URL, lower-cased; None for anything else."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url.strip())
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return None
    return f"{parts.scheme}://{parts.hostname}{port}".lower()


def _check_url(field: str, value: str | None, sites: frozenset[str]) -> None:
    if value is None:
        return
    site = site_of(value)
    if site is None:
        raise ProductError(field, "must be an http(s) URL")
    if "*" not in sites and site not in sites:
        allowed = ", ".join(sorted(sites)) or "none configured (ONE2ONE_CATALOG_HOSTS)"
        raise ProductError(field, f"host {site} is not one of the shop's sites ({allowed})")


def validate_product(raw: Any, sites: frozenset[str] | set[str], *, product_id: str | None = None) -> Product:
    """The product `raw` describes, or ProductError naming the first thing wrong.

    `sites` are the origins (`https://shop.example`) product and image URLs may point at: mail links to them, so a
    URL elsewhere is refused rather than stored. `product_id` (from a path) must agree with `raw["id"]` if given.

    Example:
        validate_product({"id": "p1", "name": "Tee", "price": 19, "currency": "EUR"}, {"https://shop.example"})
    """
    if not isinstance(raw, dict):
        raise ProductError("", "a product is a JSON object")
    data = {k: v for k, v in raw.items() if v is not None and v != ""}
    if product_id is not None:
        if "id" in data and str(data["id"]) != product_id:
            raise ProductError("id", f"the body's id {data['id']!r} is not the path's {product_id!r}")
        data["id"] = product_id
    try:
        product = Product.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        field = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in err["loc"]).replace(".[", "[")
        raise ProductError(field or "", err["msg"].removeprefix("Value error, ")) from None
    allowed = frozenset(s.rstrip("/").lower() for s in sites)
    _check_url("url", product.url, allowed)
    _check_url("image", product.image, allowed)
    for n, variant in enumerate(product.variants):
        _check_url(f"variants[{n}].url", variant.url, allowed)
        _check_url(f"variants[{n}].image", variant.image, allowed)
    return product
