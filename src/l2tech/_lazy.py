"""Lazy re-exports for package ``__init__`` modules (PEP 562 module ``__getattr__``).

A package lists its public names with the module defining each; a name is imported on first
access and then kept in the package namespace, so importing the package stays light.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any, Callable, Iterable, Mapping

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, exports: Mapping[str, str], *, eager: Iterable[str] = ()
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Module ``__getattr__`` and ``__dir__`` for a package that re-exports names lazily.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    exports : Mapping[str, str]
        Public name -> the module that defines it.
    eager : iterable of str
        Names the package defines itself (listed by ``__dir__`` too).

    Returns
    -------
    tuple of callable
        ``(__getattr__, __dir__)``, to assign in the package's namespace.

    Raises
    ------
    AttributeError
        From ``__getattr__``, for a name not in ``exports``.

    References
    ----------
    PEP 562, "Module __getattr__ and __dir__".
    """
    names = sorted({*eager, *exports})

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return list(names)

    return __getattr__, __dir__
