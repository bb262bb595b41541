"""Privacy: the rights of access (export) and erasure over every store that holds data about a person.

Names resolve on first use, so importing the package (or any module in it) loads nothing else (cold start).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_PUBLIC = {
    "NotFound": "exceptions",
    "PersonalData": "ports",
    "PersonalDataStore": "ports",
    "PersonKeys": "ports",
    "PrivacyService": "rights",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(import_module(f"{__name__}.{_PUBLIC[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
