"""The jobs, built from the stages of the other packages (ARCHITECTURE.md "one spine").

- :mod:`l2tech.pipeline.recipe` — the one :class:`Recipe` (every setting, stills and video);
- :mod:`l2tech.pipeline.lens_plan` — metadata + profile + recipe → :class:`LensPlan`;
- :mod:`l2tech.pipeline.stills` — develop (RAW) and correct (developed images), file to file.

Nothing here is an algorithm of its own; each step calls the package that owns it.
"""

from __future__ import annotations

from l2tech.pipeline.lens_plan import LensPlan, plan_lens_correction
from l2tech.pipeline.recipe import CORRECTIONS, DEFAULT_FOCUS_DISTANCE_M, Recipe
from l2tech.pipeline.stills import (
    DevelopResult,
    correct_image,
    correct_image_file,
    develop,
    develop_file,
    is_raw_path,
    output_path_for,
    prefetch,
)

__all__ = ["Recipe", "CORRECTIONS", "DEFAULT_FOCUS_DISTANCE_M", "LensPlan", "DevelopResult", "plan_lens_correction",
           "develop", "develop_file", "correct_image", "correct_image_file", "is_raw_path", "output_path_for", "prefetch"]
