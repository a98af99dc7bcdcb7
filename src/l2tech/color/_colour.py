"""Import colour-science quietly, and run its functions without stray warnings.

colour-science warns at import when SciPy is missing (a ``ColourUsageWarning``) and warns on
the logarithm of negative numbers; l2tech's tests run with warnings as errors, so every call
into colour goes through :func:`colour_module` and :func:`quiet`. Nothing is silenced globally.
"""

from __future__ import annotations

import contextlib
import warnings
from types import ModuleType
from typing import Iterator

import numpy as np

__all__ = ["colour_module", "quiet"]

_COLOUR: ModuleType | None = None


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence colour-science's usage warnings and NumPy's invalid/divide warnings locally."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            yield


def colour_module() -> ModuleType:
    """Return the ``colour`` package, imported once with its import-time warnings silenced."""
    global _COLOUR
    if _COLOUR is None:
        with quiet():
            import colour  # noqa: PLC0415 (heavy; imported at first use)
        _COLOUR = colour
    return _COLOUR
