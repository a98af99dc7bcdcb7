"""The one :class:`Recipe`: every user setting of develop, correct and video.

Video settings wrap a Recipe (``l2tech.video``); the CLI builds one from its options.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from l2tech.errors import UsageError

__all__ = ["Recipe", "CORRECTIONS", "DEFAULT_FOCUS_DISTANCE_M"]

#: The corrections in pipeline order.
CORRECTIONS = ("vignetting", "tca", "distortion")

#: Focus distance used when the file does not give one (lensfun's own default: infinity).
DEFAULT_FOCUS_DISTANCE_M = 1000.0

@dataclass(frozen=True)
class Recipe:
    """Serialisable develop settings.

    Parameters
    ----------
    lens_correction : bool
        False skips every lens correction (``--no-lens-correction``).
    corrections : tuple of str
        Subset of :data:`CORRECTIONS` to apply (``--only``).
    camera, lens : str, optional
        Override texts for matching (``--camera``, ``--lens``).
    focal_length_mm, f_number, focus_distance_m : float, optional
        Override the shot's values (mm, f-number, metres).
    exposure_ev : float
        Exposure compensation in stops, applied to linear data.
    white_balance : {'camera', 'daylight', 'auto'}
    output_space : str
        ``srgb``, ``display-p3``, ``rec2020`` or ``adobe-rgb``.
    format : {'jpeg', 'tiff', 'png'}
    quality : int
        JPEG quality.
    bits : {8, 16}, optional
        Output bit depth (default 8 for JPEG, 16 otherwise).
    scale : float, optional
        Geometry scale; None = automatic (no empty border).
    interpolation : {'bilinear', 'bicubic', 'lanczos'}
    look : str, optional
        Name or file of a look (photo style), applied on linear data.
    lut : str, optional
        A LUT file applied as a look (``--lut``), with its input ``lut_input``
        (``"ENCODING/GAMUT"``, e.g. ``"V-Log/V-Gamut"``; default ``"sRGB/Rec.709"``).
    profile : str, optional
        A lens profile file (lensfun XML, Adobe LCP, Gyroflow JSON, OpenCV YAML/XML, DNG) that
        wins over every other source (``--profile``).
    profile_source : {'embedded', 'user', 'database'}, optional
        Use only that source (``--profile-source``); see :mod:`l2tech.profiles.sources`.
    projection : str, optional
        Projection of the corrected image (``rectilinear`` de-fishes a fisheye profile;
        ``fisheye``, ``fisheye_equisolid``, ... reproject), composed into the same remap.
    log_output : str, optional
        Write log-encoded data instead of a display image (``--log-output V-Log`` or
        ``"V-Log/V-Gamut"``): the working data is converted to the gamut and encoded with the
        curve, no ICC profile is embedded.
    """

    lens_correction: bool = True
    corrections: tuple[str, ...] = CORRECTIONS
    camera: str | None = None
    lens: str | None = None
    focal_length_mm: float | None = None
    f_number: float | None = None
    focus_distance_m: float | None = None
    exposure_ev: float = 0.0
    white_balance: str = "camera"
    output_space: str = "srgb"
    format: str = "jpeg"
    quality: int = 92
    bits: int | None = None
    scale: float | None = None
    interpolation: str = "bilinear"
    look: str | None = None
    lut: str | None = None
    lut_input: str = "sRGB/Rec.709"
    log_output: str | None = None
    profile: str | None = None
    profile_source: str | None = None
    projection: str | None = None

    def __post_init__(self) -> None:
        for name in ("exposure_ev", "scale", "focal_length_mm", "f_number", "focus_distance_m"):
            v = getattr(self, name)
            if v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
                raise UsageError(f"{name} must be a number, got {v!r}")
            try:
                object.__setattr__(self, name, float(v))  # a float from here on (a huge int overflows here)
            except OverflowError:
                raise UsageError(f"{name} must be a finite number, got an integer of {len(str(v))} digits") from None
        bad = [c for c in self.corrections if c not in CORRECTIONS]
        if bad:
            raise UsageError(f"unknown correction(s) {', '.join(bad)}; valid: {', '.join(CORRECTIONS)}")
        if self.format not in ("jpeg", "tiff", "png"):
            raise UsageError(f"unknown format {self.format!r}; valid: jpeg, tiff, png")
        if self.projection is not None:
            from l2tech.optics.projection import validate_projection

            object.__setattr__(self, "projection", validate_projection(self.projection))
        if not (np.isfinite(self.exposure_ev) and abs(self.exposure_ev) <= 16):
            raise UsageError(f"exposure must be a number of stops within ±16, got {self.exposure_ev}")
        if self.scale is not None and not (np.isfinite(self.scale) and 0.1 <= self.scale <= 10):
            raise UsageError(f"scale must be between 0.1 and 10, got {self.scale}")
        for name in ("focal_length_mm", "f_number", "focus_distance_m"):
            v = getattr(self, name)
            if v is not None and not (np.isfinite(v) and v > 0):
                raise UsageError(f"{name} must be a positive number, got {v}")

    def to_dict(self) -> dict[str, Any]:
        """The recipe as plain JSON-able data."""
        return dataclasses.asdict(self)

