"""Applying lens profiles to pixels: maps (cached), vignetting gain, resampling; correct / simulate.

Pipeline order: vignetting gain on scene-linear source pixels, then one resampling that
composes TCA, distortion and scale (:func:`correct`); :func:`simulate_lens` is its inverse.

Modules: :mod:`~l2tech.correct.apply` (``correct``, ``simulate_lens``: what to do),
:mod:`~l2tech.correct.maps` (inverse maps and gain fields, cached),
:mod:`~l2tech.correct.frame_fit` (auto-scale, border rule),
:mod:`~l2tech.correct.resample` (the only place pixels are resampled),
:mod:`~l2tech.correct.dng_opcodes` (DNG opcode lists applied to pixels).
"""

from __future__ import annotations

from l2tech.correct.apply import INTERPOLATIONS, LensDataWarning, correct, remap, simulate_lens
from l2tech.correct.frame_fit import edge_border, frame_fit
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
    "edge_border",
    "fold_radius",
    "frame_fit",
    "remap",
    "simulate_lens",
    "validate_calibration",
    "vignetting_gain",
]
