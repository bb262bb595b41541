"""A package's public face resolved on first use (PEP 562): importing a wing loads none of its modules."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any


def lazy_exports(package: str, public: Mapping[str, str]) -> Callable[[str], Any]:
    """The module `__getattr__` of `package`: each public name is looked up in its module the first time it is read.

    Example
    -------
    >>> _PUBLIC = {"PrivacyService": "rights", "NotFound": "exceptions"}
    >>> __all__ = sorted(_PUBLIC)
    >>> __getattr__ = lazy_exports(__name__, _PUBLIC)
    """

    def __getattr__(name: str) -> Any:
        if name in public:
            return getattr(import_module(f"{package}.{public[name]}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
