"""Pure lens math: coordinate normalisations, model families, inverse-map composition.

No I/O and no file formats here (ARCHITECTURE.md). Modules:

- :mod:`l2tech.optics.lensfun` — lensfun's distortion (poly3, poly5, ptlens), TCA (linear,
  poly3) and vignetting (pa) models and its pixel ↔ normalised coordinate systems;
- :mod:`l2tech.optics.compose` — the geometry-model registry (``GEOMETRY_MODELS``, complete
  as soon as the module is imported: it lists every family itself), warps, lensfun-style
  auto-scale and the composition of one inverse map per channel;
- other families (OpenCV pinhole, Kannala–Brandt, Adobe LCP, DNG warps, projections) live in
  their own modules; ``compose`` names their builders in ``GEOMETRY_MODELS``.

Nothing here resamples pixels: that is :mod:`l2tech.correct.resample`'s job.

Submodules are imported on demand so ``import l2tech.optics`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["lensfun", "compose"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
