"""Privacy: the rights of access (export) and erasure over every store that holds data about a person.

Names resolve on first use, so importing the package (or any module in it) loads nothing else (cold start).
"""

from __future__ import annotations

from chalicelib.shared.exports import lazy_exports

_PUBLIC = {
    "NotFound": "exceptions",
    "PersonalData": "ports",
    "PersonalDataStore": "ports",
    "PersonKeys": "ports",
    "PrivacyService": "rights",
}
__all__ = sorted(_PUBLIC)

__getattr__ = lazy_exports(__name__, _PUBLIC)
