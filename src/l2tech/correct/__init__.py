"""Applying lens profiles to pixels: maps (cached), vignetting gain, remap; correct / simulate.

Pipeline order: vignetting gain on scene-linear source pixels, then one remap that composes
TCA, distortion and scale (:func:`correct`); :func:`simulate_lens` is its inverse.
"""

from __future__ import annotations

from l2tech.correct.apply import INTERPOLATIONS, LensDataWarning, correct, remap, simulate_lens
from l2tech.correct.maps import (
    CalibrationCoverageWarning,
    CorrectionMaps,
    clear_cache,
    correction_maps,
    correction_warp,
    fold_radius,
    validate_calibration,
    vignetting_gain,
)

__all__ = [
    "INTERPOLATIONS",
    "CalibrationCoverageWarning",
    "CorrectionMaps",
    "LensDataWarning",
    "clear_cache",
    "correct",
    "correction_maps",
    "correction_warp",
    "fold_radius",
    "remap",
    "simulate_lens",
    "validate_calibration",
    "vignetting_gain",
]
