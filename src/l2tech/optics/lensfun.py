"""lensfun's lens models: distortion (poly3, poly5, ptlens), TCA (linear, poly3), vignetting (pa).

Pure math on NumPy arrays; no I/O. The calibration records are duck-typed (anything with
``.model`` and ``.terms``), so this module imports nothing of ours but :mod:`l2tech.errors`.

Coordinate systems
------------------
All three are centred on the lens centre; ``r`` is the distance from it.

*Pixel*: ``(x, y)`` with the origin at the centre of the top-left pixel (STYLE.md rule 11).

*Distortion / TCA ("Hugin") units*: r = 1 at half the short side of the **calibration** sensor.
The frame is measured between pixel centres: ``W' = W − 1``, ``H' = H − 1``. For a frame taken
with crop factor ``c_img``, and a calibration with crop factor ``c_cal`` and aspect ``a_cal``
(``size = min(W', H')``, ``a_img = max(W', H') / size``)::

    cc         = sqrt(a_cal² + 1) / sqrt(a_img² + 1) · c_cal / c_img
    norm_scale = 2 / size · cc                        # Hugin units per pixel
    x_n        = x · norm_scale − (W' / size · cc + center_x)
    y_n        = y · norm_scale − (H' / size · cc + center_y)

so a centred lens sits at pixel ``((W−1)/2, (H−1)/2)``, and the lens-centre offset
``center_x, center_y`` is in Hugin units. These are the conventions of lensfun 0.3.4 — the
library lensfunpy wraps, checked against it in the tests (an older 0.3.x variant used ``W``
and ``H`` and put the centre at ``W·(size−1)/(2·size)``; it is 0.25 px off against lensfunpy).

*Vignetting units*: r = 1 at the corner of the calibration sensor: ``r_v = r_n / sqrt(a_cal² + 1)``.

Model directions: every distortion and TCA formula maps the corrected (undistorted) radius
``r_u`` to the source (distorted) radius ``r_d``; correcting is a direct evaluation.

References
----------
lensfun 0.3.x ``libs/lensfun/modifier.cpp`` (normalisation, ``GetRealFocalLength``),
``mod-coord.cpp`` (``ModifyCoord_Dist_Poly3/Poly5/PTLens``, ``GetAutoScale``),
``mod-subpix.cpp`` (``ModifyCoord_TCA_Linear/Poly3``, TCA applied after distortion),
``mod-color.cpp`` (``ModifyColor_DeVignetting_PA``), ``lensfun.h.in`` (model formulas);
H. Dersch, Panorama Tools lens model (ptlens); P. d'Angelo, vignetting model (pa).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from l2tech.errors import InvalidProfileError

__all__ = [
    "vignetting_pa_held",
    "PA_CALIBRATED_RADIUS",
    "LensfunNormalization",
    "distortion_poly3",
    "distortion_poly5",
    "distortion_ptlens",
    "distortion_factor",
    "distortion_factor_derivative",
    "tca_linear",
    "tca_poly3",
    "tca_factors",
    "vignetting_pa",
    "real_focal_length_hugin",
    "fold_radius",
    "DISTORTION_FUNCTIONS",
    "TCA_FUNCTIONS",
]


# ---------------------------------------------------------------------------------------------
# model formulas (r_u -> r_d)


def distortion_poly3(r_u: np.ndarray, k1: float) -> np.ndarray:
    """lensfun poly3 distortion: ``r_d = r_u (1 − k1 + k1 r_u²)``.

    Parameters
    ----------
    r_u : ndarray, any shape, float32 or float64
        Undistorted radius, Hugin units (r = 1 at half the calibration sensor's short side).
    k1 : float

    Returns
    -------
    ndarray, same shape and dtype
        Distorted (source) radius, Hugin units.

    References
    ----------
    lensfun ``lensfun.h.in`` (``LF_DIST_MODEL_POLY3``); Imatest, "Distortion".
    """
    r = np.asarray(r_u)
    return r * (1 - k1 + k1 * r * r)


def distortion_poly5(r_u: np.ndarray, k1: float, k2: float) -> np.ndarray:
    """lensfun poly5 distortion: ``r_d = r_u (1 + k1 r_u² + k2 r_u⁴)`` (Hugin units).

    References
    ----------
    lensfun ``lensfun.h.in`` (``LF_DIST_MODEL_POLY5``).
    """
    r = np.asarray(r_u)
    r2 = r * r
    return r * (1 + k1 * r2 + k2 * r2 * r2)


def distortion_ptlens(r_u: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    """Panorama Tools distortion: ``r_d = r_u (a r_u³ + b r_u² + c r_u + 1 − a − b − c)``.

    References
    ----------
    lensfun ``lensfun.h.in`` (``LF_DIST_MODEL_PTLENS``); Panorama Tools lens correction model
    (wiki.panotools.org/Lens_correction_model).
    """
    r = np.asarray(r_u)
    return r * (((a * r + b) * r + c) * r + (1 - a - b - c))


DISTORTION_FUNCTIONS = {"poly3": distortion_poly3, "poly5": distortion_poly5, "ptlens": distortion_ptlens}


def distortion_factor(model: str, terms: Mapping[str, float], r2: np.ndarray) -> np.ndarray:
    """Radial factor ``r_d / r_u`` as a function of ``r_u²`` (so ``x_d = x_u · factor``).

    Parameters
    ----------
    model : {"poly3", "poly5", "ptlens"}
    terms : Mapping[str, float]
    r2 : ndarray
        ``r_u²`` in Hugin units.

    Returns
    -------
    ndarray, same shape and dtype as ``r2``
    """
    if model == "poly3":
        k1 = terms["k1"]
        return (1 - k1) + k1 * r2
    if model == "poly5":
        return 1 + r2 * (terms["k1"] + terms["k2"] * r2)
    if model == "ptlens":
        a, b, c = terms["a"], terms["b"], terms["c"]
        r = np.sqrt(r2)
        return ((a * r + b) * r + c) * r + (1 - a - b - c)
    raise InvalidProfileError(f"unknown lensfun distortion model {model!r}; expected poly3, poly5 or ptlens")


def distortion_factor_derivative(model: str, terms: Mapping[str, float], r: np.ndarray) -> np.ndarray:
    """``d r_d / d r_u`` at radius ``r`` (Hugin units); ≤ 0 means the image folds."""
    r = np.asarray(r, dtype=np.float64)
    if model == "poly3":
        k1 = terms["k1"]
        return 1 - k1 + 3 * k1 * r * r
    if model == "poly5":
        return 1 + 3 * terms["k1"] * r**2 + 5 * terms["k2"] * r**4
    if model == "ptlens":
        a, b, c = terms["a"], terms["b"], terms["c"]
        return 4 * a * r**3 + 3 * b * r**2 + 2 * c * r + (1 - a - b - c)
    raise InvalidProfileError(f"unknown lensfun distortion model {model!r}; expected poly3, poly5 or ptlens")


def tca_linear(r_d: np.ndarray, k: float) -> np.ndarray:
    """Linear TCA: ``r_c = k · r_d`` for the red (``kr``) or blue (``kb``) channel.

    ``r_d`` is the green channel's distorted radius (Hugin units); the result is that
    channel's source radius.

    References
    ----------
    lensfun ``lensfun.h.in`` (``LF_TCA_MODEL_LINEAR``), ``mod-subpix.cpp``.
    """
    return k * np.asarray(r_d)


def tca_poly3(r_d: np.ndarray, v: float, c: float, b: float) -> np.ndarray:
    """Poly3 TCA: ``r_c = r_d (b r_d² + c r_d + v)`` (``vr cr br`` or ``vb cb bb``).

    References
    ----------
    lensfun ``lensfun.h.in`` (``LF_TCA_MODEL_POLY3``), ``mod-subpix.cpp``; Panorama Tools
    "Tca_correct".
    """
    r = np.asarray(r_d)
    return r * ((b * r + c) * r + v)


TCA_FUNCTIONS = {"linear": tca_linear, "poly3": tca_poly3}


def tca_factors(model: str, terms: Mapping[str, float], r2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Red and blue radial factors ``r_c / r_d`` as functions of the green ``r_d²``.

    Returns
    -------
    (red, blue) : tuple of ndarray, same shape as ``r2``
    """
    if model == "linear":
        return np.full_like(r2, terms["kr"]), np.full_like(r2, terms["kb"])
    if model == "poly3":
        cr, cb = terms.get("cr", 0.0), terms.get("cb", 0.0)
        if cr == 0 and cb == 0:
            return terms["br"] * r2 + terms["vr"], terms["bb"] * r2 + terms["vb"]
        r = np.sqrt(r2)
        return (terms["br"] * r2 + cr * r + terms["vr"], terms["bb"] * r2 + cb * r + terms["vb"])
    raise InvalidProfileError(f"unknown lensfun TCA model {model!r}; expected linear or poly3")


def vignetting_pa(r: np.ndarray, k1: float, k2: float, k3: float) -> np.ndarray:
    """Vignetting falloff of the pa model: ``g = 1 + k1 r² + k2 r⁴ + k3 r⁶``.

    Parameters
    ----------
    r : ndarray
        Radius with r = 1 at the corner of the calibration sensor.

    Returns
    -------
    ndarray
        Falloff ``g``: observed = true · g, so the correction gain is ``1 / g`` (linear data).

    References
    ----------
    lensfun ``lensfun.h.in`` (``LF_VIGNETTING_MODEL_PA``), ``mod-color.cpp``; P. d'Angelo,
    "Radiometric alignment and vignetting calibration" (2007).
    """
    r2 = np.asarray(r) ** 2
    return 1 + r2 * (k1 + r2 * (k2 + r2 * k3))


#: The pa model is calibrated up to r = 1 (the calibration sensor's corner).
PA_CALIBRATED_RADIUS = 1.0


def vignetting_pa_held(r2: np.ndarray, k1: float, k2: float, k3: float, *, strength: float = 1.0,
                       hold: bool = True) -> np.ndarray:
    """pa falloff held at its calibrated edge and scaled by a strength: ``g(min(r², 1)) ** strength``.

    Beyond r = 1 (the calibration sensor's corner: a DX profile at an FX corner reaches
    r = 1.5) the polynomial is extrapolated and may reach 0 or below (infinite or negative
    gain). The falloff there is held at its value at r = 1, the edge of what was measured.

    Parameters
    ----------
    r2 : ndarray
        Squared radius, r = 1 at the calibration sensor's corner.
    k1, k2, k3 : float
        pa terms.
    strength : float
        Fraction of the correction applied, in stops: ``0`` none, ``1`` all (the gain
        ``1 / g`` becomes ``g ** -strength``).
    hold : bool
        Hold beyond r = 1 (False: lensfun's extrapolation, only the strength applied).

    Returns
    -------
    ndarray, float64
        Falloff ``g`` (> 0 wherever the calibrated field is > 0); the gain is ``1 / g``.

    References
    ----------
    lensfun ``mod-color.cpp`` (``ModifyColor_DeVignetting_PA``) for the model; holding the
    gain at the calibrated radius is l2tech's (lensfun extrapolates).
    """
    r2c = np.asarray(r2, np.float64)
    if hold:
        r2c = np.minimum(r2c, PA_CALIBRATED_RADIUS**2)
    g = 1 + r2c * (k1 + r2c * (k2 + r2c * k3))
    if strength != 1.0:
        g = np.where(g > 0, np.abs(g) ** float(strength), g)
    return g


def real_focal_length_hugin(model: str | None, terms: Mapping[str, float], focal_length_mm: float) -> float:
    """Real focal length from Hugin's definition: ``F(1−k1)`` (poly3), ``F(1−a−b−c)`` (ptlens), else F.

    References
    ----------
    lensfun ``modifier.cpp`` ``get_hugin_focal_correction``.
    """
    if model == "poly3":
        return focal_length_mm * (1 - terms["k1"])
    if model == "ptlens":
        return focal_length_mm * (1 - terms["a"] - terms["b"] - terms["c"])
    return focal_length_mm


def fold_radius(model: str, terms: Mapping[str, float], r_max: float, samples: int = 4096) -> float | None:
    """Smallest radius in ``(0, r_max]`` where ``d r_d / d r_u ≤ 0`` (the image folds), or None.

    Parameters
    ----------
    model : {"poly3", "poly5", "ptlens"}
    terms : Mapping[str, float]
    r_max : float
        Largest undistorted radius used (Hugin units), e.g. the output frame's corner.
    samples : int
        Grid size of the scan; the crossing is then refined by bisection.

    Returns
    -------
    float or None
        Hugin-unit radius of the first fold, refined to 1e-9; ``None`` if monotonic.
    """
    r = np.linspace(0.0, r_max, samples + 1)
    d = distortion_factor_derivative(model, terms, r)
    bad = np.nonzero(d <= 0)[0]
    if bad.size == 0:
        return None
    i = int(bad[0])
    if i == 0:
        return 0.0
    lo, hi = float(r[i - 1]), float(r[i])
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if float(distortion_factor_derivative(model, terms, np.array(mid))) <= 0:
            hi = mid
        else:
            lo = mid
    return hi


# ---------------------------------------------------------------------------------------------
# normalisation


@dataclass(frozen=True)
class LensfunNormalization:
    """lensfun's pixel ↔ Hugin-unit mapping for one frame (see the module docstring).

    Parameters
    ----------
    width, height : int
        Frame size in pixels (values below 2 are taken as 2, as lensfun does).
    crop_factor : float
        Crop factor of the camera that took the frame.
    calibration_crop_factor : float
        Crop factor of the calibration (``LensProfile.crop_factor``).
    calibration_aspect_ratio : float
        Aspect ratio of the calibration sensor (lensfun default 1.5).
    center_x, center_y : float
        Lens centre offset, lensfun units (``LensProfile.center_x/y``).

    References
    ----------
    lensfun 0.3.4 ``libs/lensfun/modifier.cpp``, ``lfModifier::lfModifier``.
    """

    width: int
    height: int
    crop_factor: float
    calibration_crop_factor: float
    calibration_aspect_ratio: float = 1.5
    center_x: float = 0.0
    center_y: float = 0.0

    @property
    def _wh(self) -> tuple[float, float]:
        """Frame size between pixel centres, ``(W − 1, H − 1)`` (at least 1)."""
        return float(max(int(self.width) - 1, 1)), float(max(int(self.height) - 1, 1))

    @property
    def coordinate_correction(self) -> float:
        w, h = self._wh
        a_img = max(w, h) / min(w, h)
        return (
            1.0
            / math.sqrt(a_img * a_img + 1)
            * self.calibration_crop_factor
            / self.crop_factor
            * math.sqrt(self.calibration_aspect_ratio**2 + 1)
        )

    @property
    def norm_scale(self) -> float:
        """Hugin units per pixel."""
        w, h = self._wh
        return 2.0 / min(w, h) * self.coordinate_correction

    @property
    def center_normalized(self) -> tuple[float, float]:
        """lensfun's ``CenterX, CenterY``: subtract from ``x · norm_scale`` to centre."""
        w, h = self._wh
        size = min(w, h)
        cc = self.coordinate_correction
        return w / size * cc + self.center_x, h / size * cc + self.center_y

    @property
    def center_px(self) -> tuple[float, float]:
        """The lens centre in pixels."""
        cx, cy = self.center_normalized
        ns = self.norm_scale
        return cx / ns, cy / ns

    @property
    def vignetting_scale(self) -> float:
        """Hugin units → vignetting units (r = 1 at the calibration sensor's corner)."""
        return 1.0 / math.sqrt(self.calibration_aspect_ratio**2 + 1)

    def pixel_to_normalized(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixel coordinates → Hugin units centred on the lens."""
        cx, cy = self.center_normalized
        ns = self.norm_scale
        return np.asarray(x) * ns - cx, np.asarray(y) * ns - cy

    def normalized_to_pixel(self, xn: np.ndarray, yn: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Hugin units → pixel coordinates."""
        cx, cy = self.center_normalized
        ns = self.norm_scale
        return (np.asarray(xn) + cx) / ns, (np.asarray(yn) + cy) / ns


def _terms(cal: Any) -> tuple[str, dict[str, float]] | None:
    if cal is None:
        return None
    return str(cal.model), {k: float(v) for k, v in dict(cal.terms).items()}
