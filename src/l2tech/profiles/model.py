"""Data records of lens profiles: bodies, lenses and their calibrations.

These are frozen records (STYLE.md rule 1). Model terms are named as in their source format
(lensfun: ``k1`` / ``a, b, c`` / ``kr, kb`` / ``vr, cr, br, vb, cb, bb``; OpenCV: ``k1..k6, p1,
p2, s1..s4``). The normalisation of each family is defined once in :mod:`l2tech.optics`.

References
----------
lensfun ``include/lensfun/lensfun.h.in`` (lfLensCalibDistortion, lfLensCalibTCA,
lfLensCalibVignetting, lfLens, lfCamera).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

__all__ = [
    "CameraBody",
    "DistortionCalibration",
    "TCACalibration",
    "VignettingCalibration",
    "LensProfile",
    "LensCalibration",
]


@dataclass(frozen=True)
class CameraBody:
    """A camera body.

    Parameters
    ----------
    maker, model : str
        As in the lensfun database (EXIF spelling), e.g. ``"Panasonic"``, ``"DC-S5"``.
    mount : str
        Lens mount name, e.g. ``"Leica L"``.
    crop_factor : float
        Sensor diagonal of 35 mm full frame (43.27 mm) over this sensor's diagonal.
    variant : str
        Optional variant text.
    aliases : tuple of str
        Other spellings (lensfun's localised ``<model lang=..>`` names).
    source : str
        Where the record came from (``"lensfun:<file>"``, ``"user:<file>"``).
    """

    maker: str
    model: str
    mount: str
    crop_factor: float
    variant: str = ""
    aliases: tuple[str, ...] = ()
    source: str = ""


@dataclass(frozen=True)
class DistortionCalibration:
    """One distortion calibration point.

    Parameters
    ----------
    model : str
        ``"poly3"``, ``"poly5"``, ``"ptlens"`` (lensfun), or another family registered in
        :mod:`l2tech.optics`.
    focal_length_mm : float
        Focal length of the calibration point, mm.
    terms : Mapping[str, float]
        Model coefficients (``k1`` for poly3; ``k1, k2`` for poly5; ``a, b, c`` for ptlens).
    real_focal_mm : float or None
        lensfun's ``real-focal`` attribute when given.
    """

    model: str
    focal_length_mm: float
    terms: Mapping[str, float]
    real_focal_mm: float | None = None


@dataclass(frozen=True)
class TCACalibration:
    """One transverse chromatic aberration calibration point.

    ``model`` is ``"linear"`` (terms ``kr, kb``) or ``"poly3"`` (terms ``vr, cr, br, vb, cb,
    bb``), focal length in mm.
    """

    model: str
    focal_length_mm: float
    terms: Mapping[str, float]


@dataclass(frozen=True)
class VignettingCalibration:
    """One vignetting calibration point (lensfun ``pa``: terms ``k1, k2, k3``).

    ``focus_distance_m`` is the focus distance in metres (lensfun's ``distance``; large values
    such as 1000 mean infinity).
    """

    model: str
    focal_length_mm: float
    f_number: float
    focus_distance_m: float
    terms: Mapping[str, float]


@dataclass(frozen=True)
class LensProfile:
    """A lens with its calibrations, whatever the source format.

    Parameters
    ----------
    maker, model : str
        Lens maker and model, e.g. ``"Panasonic"``, ``"Lumix S 20-60/F3.5-5.6"``.
    mounts : tuple of str
        Mounts the lens fits.
    crop_factor : float
        Crop factor of the calibration sensor.
    aspect_ratio : float
        Aspect ratio (long/short) of the calibration sensor; lensfun's default is 1.5.
    center_x, center_y : float
        Lens centre offset in lensfun units (the smaller image dimension spans 2).
    lens_type : str
        Projection: ``"rectilinear"``, ``"fisheye"`` (equidistant), ``"panoramic"``,
        ``"equirectangular"``, ``"fisheye_orthographic"``, ``"fisheye_stereographic"``,
        ``"fisheye_equisolid"``, ``"fisheye_thoby"``.
    focal_min_mm, focal_max_mm : float
        Focal range in mm (equal for primes).
    aperture_min, aperture_max : float or None
        Widest and narrowest f-number when known.
    distortion, tca, vignetting : tuple
        Calibration points.
    source : str
        Where the record came from (``"lensfun:slr-canon.xml"``, ``"user:/path/lens.xml"``).
    aliases : tuple of str
        Other spellings of the model.
    extra : Mapping[str, object]
        Family-specific data (e.g. ``calib_width_px`` for pixel-based models).
    """

    maker: str
    model: str
    mounts: tuple[str, ...] = ()
    crop_factor: float = 1.0
    aspect_ratio: float = 1.5
    center_x: float = 0.0
    center_y: float = 0.0
    lens_type: str = "rectilinear"
    focal_min_mm: float = 0.0
    focal_max_mm: float = 0.0
    aperture_min: float | None = None
    aperture_max: float | None = None
    distortion: tuple[DistortionCalibration, ...] = ()
    tca: tuple[TCACalibration, ...] = ()
    vignetting: tuple[VignettingCalibration, ...] = ()
    source: str = ""
    aliases: tuple[str, ...] = ()
    extra: Mapping[str, object] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """``maker + " " + model`` unless the model already starts with the maker."""
        if self.model.lower().startswith(self.maker.lower()):
            return self.model
        return f"{self.maker} {self.model}".strip()


@dataclass(frozen=True)
class LensCalibration:
    """A profile's calibration interpolated at one shot's settings.

    Any of ``distortion``, ``tca``, ``vignetting`` is ``None`` when the profile has no data
    for it (or the settings are too far from any vignetting sample).
    """

    profile: LensProfile
    focal_length_mm: float
    f_number: float | None
    focus_distance_m: float | None
    distortion: DistortionCalibration | None
    tca: TCACalibration | None
    vignetting: VignettingCalibration | None
