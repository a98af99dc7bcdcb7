"""Tone mapping: scene-linear light to display-linear light (the "filmic" curve) and auto-exposure.

The tone stage sits between the look (scene-linear in, scene-linear out) and the display
encoding (:mod:`l2tech.color.display`). It takes scene-linear RGB, where values above 1 are
kept, and returns display-linear RGB in [0, 1], which the display's encoding curve (sRGB,
BT.709, ...) then encodes. Without it, everything above display white is hard-clipped: a RAW
at the camera's exposure clips about 2.5 stops over middle grey, and a log clip baked to
Rec.709 loses everything above its scene-linear 1.0.

The curve, :class:`FilmicCurve`, is a spline in *stops*: scene exposure relative to middle grey
``t = log2(x / grey_scene)`` against display exposure relative to display grey
``Y = log2(y / grey_display)``:

- a straight middle part of slope ``contrast`` through ``(0, 0)`` (middle grey lands exactly on
  ``grey_display``) over ``latitude_ev`` stops centred on grey;
- a shoulder from the top of that part to display white ``(white_ev, log2(1 / grey_display))``
  and a toe from its bottom to the display's black target
  ``(black_ev, log2(BLACK_TARGET / grey_display))``, both the hyperbola
  ``g(z) = z (1 + a) / (z + a)`` (``g(0) = 0``, ``g(1) = 1``), ``a`` chosen so the slope
  joins the straight part without a kink. Their slope falls monotonically towards white
  and black but never reaches zero, so the curve is strictly increasing up to white
  (no flat, clipped run) — highlights roll off instead of clipping;
- where the toe's slope falls to 1 stop per stop (a little above ``black_ev`` with the
  defaults: -3.1 EV), the curve continues as the tangent straight line *in linear light* to
  0 at scene 0 — shadows are never lifted above the plain transfer's slope, and the curve
  is C1 everywhere; above ``white_ev`` it is 1.

The parameters are those of darktable's filmic module (contrast, latitude, white and black
relative exposure) with the meaning stated above; the spline itself is l2tech's.

References
----------
A. Pierre, "filmic rgb" (darktable 3.x user manual, module reference: filmic rgb), for the
parameter set; E. Reinhard et al., "Photographic Tone Reproduction for Digital Images",
SIGGRAPH 2002, eq. 1 (the log-average luminance used by :func:`auto_exposure_ev`);
ISO 12232:2019 (saturation-based speed: a camera meters middle grey about 0.5 EV below 18 %
of the sensor's clip — hence :data:`CAMERA_BASELINE_EV`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from l2tech.errors import UsageError

__all__ = [
    "BLACK_TARGET",
    "CAMERA_BASELINE_EV",
    "FilmicCurve",
    "TONE_CURVES",
    "ToneEncode",
    "auto_exposure_ev",
    "tone_curve",
    "tone_for_range",
]

#: Display-linear value the toe reaches at ``black_ev`` (2**-11: about one 8-bit sRGB code).
BLACK_TARGET = 2.0**-11

#: Stops a RAW at the camera's exposure is raised by the default curve: scene-linear
#: ``0.18 * 2**-0.7`` (12.3 % of the sensor's clip, where a camera's meter puts middle grey)
#: is shown as middle grey. darktable's scene-referred default exposure is the same +0.7 EV.
CAMERA_BASELINE_EV = 0.7


def _hyperbola_a(p: float) -> float:
    """``a`` of ``g(z) = z (1 + a) / (z + a)`` whose start slope ``g'(0) = (1 + a) / a`` is ``p`` (> 1)."""
    return 1.0 / (p - 1.0)


@dataclass(frozen=True)
class FilmicCurve:
    """A filmic tone curve: scene-linear → display-linear, strictly increasing up to white.

    Parameters
    ----------
    contrast : float
        Slope of the middle part in stops of display per stop of scene (1 = the contrast of
        the plain transfer; camera JPEGs are about 1.2-1.5).
    latitude_ev : float
        Width in stops of the straight middle part, centred on middle grey.
    white_ev : float
        Scene exposure, in stops over middle grey, shown as display white (1.0).
    black_ev : float
        Scene exposure, in stops relative to middle grey (negative), shown as the display's
        black target :data:`BLACK_TARGET`.
    grey_scene : float
        Scene-linear value of middle grey (default ``0.18 * 2**-CAMERA_BASELINE_EV``).
    grey_display : float
        Display-linear value middle grey is shown at (0.18: sRGB code 118 of 255).

    Raises
    ------
    UsageError
        A parameter out of range, or a set for which the shoulder or toe would have to be
        steeper than the middle part (contrast too low for the white/black exposures).

    Notes
    -----
    Input scene-linear (any range; NaN and negative values give 0), output display-linear in
    [0, 1]. Applied per RGB channel in the output space (as darktable's filmic "no
    preservation" mode and the per-channel ACES curves do): bright saturated colours move
    towards white as they near it.
    """

    contrast: float = 1.35
    latitude_ev: float = 2.0
    white_ev: float = 4.5
    black_ev: float = -10.0
    grey_scene: float = 0.18 * 2.0**-CAMERA_BASELINE_EV
    grey_display: float = 0.18

    def __post_init__(self) -> None:
        for name in ("contrast", "latitude_ev", "white_ev", "black_ev", "grey_scene", "grey_display"):
            v = getattr(self, name)
            if not isinstance(v, (int, float, np.floating)) or not math.isfinite(v):
                raise UsageError(f"tone {name} must be a finite number, got {v!r}")
            object.__setattr__(self, name, float(v))
        if not 0.1 <= self.contrast <= 5:
            raise UsageError(f"tone contrast must be between 0.1 and 5, got {self.contrast}")
        if not 0 <= self.latitude_ev <= 8:
            raise UsageError(f"tone latitude must be between 0 and 8 stops, got {self.latitude_ev}")
        # a sensor's range spans under 20 stops; ±32 leaves room for HDR merges (darktable's
        # filmic takes white 2-8 EV and black -3 to -14 EV from grey). 1e308 overflowed the curve.
        if not self.white_ev <= 32 or not self.black_ev >= -32:
            raise UsageError(f"tone white exposure must be at most +32 EV and black exposure at least -32 EV from grey, "
                             f"got {self.white_ev:+g} and {self.black_ev:+g}")
        if not 0 < self.grey_scene <= 1 or not 0 < self.grey_display < 1:
            raise UsageError(f"grey values must be in (0, 1), got scene {self.grey_scene}, display {self.grey_display}")
        if not self.white_ev > self.latitude_ev / 2 or not self.black_ev < -self.latitude_ev / 2:
            raise UsageError(f"white exposure ({self.white_ev:+g} EV) and black exposure ({self.black_ev:+g} EV) must "
                             f"lie outside the latitude (±{self.latitude_ev / 2:g} EV around grey)")
        t1, t0 = self.latitude_ev / 2, -self.latitude_ev / 2
        yw, yb = self._display_white, self._display_black
        if not self.contrast * t1 < yw or not self.contrast * t0 > yb:
            raise UsageError(f"contrast {self.contrast:g} over a latitude of {self.latitude_ev:g} stops already "
                             f"reaches display white or black; lower the contrast or the latitude")
        p = self.contrast * (self.white_ev - t1) / (yw - self.contrast * t1)
        q = self.contrast * (t0 - self.black_ev) / (self.contrast * t0 - yb)
        if not (p > 1.0001 and q > 1.0001):
            raise UsageError(f"contrast {self.contrast:g} is too low for white {self.white_ev:+g} EV and black "
                             f"{self.black_ev:+g} EV: the shoulder or toe would be steeper than the middle; raise "
                             "the contrast, or bring white/black exposure closer to grey")

    @property
    def _display_white(self) -> float:
        return math.log2(1.0 / self.grey_display)

    @property
    def _display_black(self) -> float:
        return math.log2(BLACK_TARGET / self.grey_display)

    @property
    def _linear_toe_ev(self) -> float:
        """Scene exposure (stops) below which the curve is linear in light: where the toe's
        slope falls to 1 stop per stop (``black_ev`` when it never does)."""
        c = self.contrast
        t0 = -self.latitude_ev / 2
        y0, yb = c * t0, self._display_black
        q = c * (t0 - self.black_ev) / (y0 - yb)
        a = _hyperbola_a(q)
        # toe slope at z: (y0 - yb) / (t0 - black_ev) * g'(z), g'(z) = a (1 + a) / (z + a)**2
        z = math.sqrt(a * (1 + a) * c / q) - a
        return t0 - z * (t0 - self.black_ev) if 0 < z < 1 else self.black_ev

    @property
    def scene_white(self) -> float:
        """Scene-linear value shown as display white (``grey_scene * 2**white_ev``)."""
        return self.grey_scene * 2.0**self.white_ev

    def stops(self, t: np.ndarray) -> np.ndarray:
        """The spline in stops: display exposure ``Y`` over display grey at scene exposure ``t``.

        Parameters
        ----------
        t : ndarray, float
            Scene exposure, stops relative to middle grey (``black_ev <= t <= white_ev``;
            outside, the ends are extended flat).

        Returns
        -------
        ndarray, float64
            ``log2(y / grey_display)``.
        """
        t = np.clip(np.asarray(t, np.float64), self.black_ev, self.white_ev)
        c = self.contrast
        t1, t0 = self.latitude_ev / 2, -self.latitude_ev / 2
        yw, yb = self._display_white, self._display_black
        y1, y0 = c * t1, c * t0
        p = c * (self.white_ev - t1) / (yw - y1)
        q = c * (t0 - self.black_ev) / (y0 - yb)
        a_s, a_t = _hyperbola_a(p), _hyperbola_a(q)
        out = c * t
        zs = np.clip((t - t1) / (self.white_ev - t1), 0.0, 1.0)
        shoulder = y1 + (yw - y1) * zs * (1 + a_s) / (zs + a_s)
        zt = np.clip((t0 - t) / (t0 - self.black_ev), 0.0, 1.0)
        toe = y0 - (y0 - yb) * zt * (1 + a_t) / (zt + a_t)
        out = np.where(t > t1, shoulder, out)
        return np.where(t < t0, toe, out)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Scene-linear → display-linear.

        Parameters
        ----------
        x : ndarray, any shape, float
            Scene-linear values (1.0 = the sensor's clip at the camera's exposure).

        Returns
        -------
        ndarray, same shape, float32 for float32 input else float64
            Display-linear values in [0, 1]; NaN and values ≤ 0 give 0.
        """
        arr = np.asarray(x)
        xf = np.nan_to_num(arr.astype(np.float64), nan=0.0, posinf=np.inf, neginf=0.0)
        t_k = self._linear_toe_ev
        x_k = self.grey_scene * 2.0**t_k
        y_k = self.grey_display * 2.0 ** float(self.stops(np.float64(t_k)))
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.log2(np.maximum(xf, x_k) / self.grey_scene)
        y = self.grey_display * np.exp2(self.stops(t))
        y = np.where(xf < x_k, y_k * np.maximum(xf, 0.0) / x_k, y)
        y = np.where(xf >= self.scene_white, 1.0, np.minimum(y, 1.0))
        return y.astype(np.float32) if arr.dtype == np.float32 else y


#: Tone curves by name: ``"filmic"`` (the default curve) or ``"none"`` (the plain transfer:
#: display-linear = scene-linear, clipped at 1).
TONE_CURVES: dict[str, FilmicCurve | None] = {"filmic": FilmicCurve(), "none": None}


def tone_curve(name: str = "filmic", **params: Any) -> FilmicCurve | None:
    """The tone curve ``name`` with ``params`` changed (``contrast``, ``latitude_ev``, ``white_ev``, ...).

    Parameters
    ----------
    name : {"filmic", "none"}
    **params
        Fields of :class:`FilmicCurve` to change; None values are ignored.

    Returns
    -------
    FilmicCurve or None
        None for ``"none"`` (no tone mapping).

    Raises
    ------
    UsageError
        Unknown name or parameter, or parameters out of range.
    """
    key = str(name).strip().lower()
    if key not in TONE_CURVES:
        raise UsageError(f"unknown tone curve {name!r}; valid: {', '.join(TONE_CURVES)}")
    base = TONE_CURVES[key]
    params = {k: v for k, v in params.items() if v is not None}
    if base is None:
        return None
    bad = [k for k in params if k not in FilmicCurve.__dataclass_fields__]
    if bad:
        raise UsageError(f"unknown tone parameter(s) {', '.join(bad)}; valid: "
                         f"{', '.join(FilmicCurve.__dataclass_fields__)}")
    import dataclasses

    return dataclasses.replace(base, **params)


def tone_for_range(curve: FilmicCurve, scene_max: float) -> FilmicCurve:
    """``curve`` with its white exposure moved up so that ``scene_max`` is what reaches white.

    Used for log footage baked to a display LUT: the roll-off then spans everything the log
    curve can hold (V-Log's top code is scene-linear 46, +8.7 stops over 0.18), so the output
    keeps increasing up to the log curve's top code value. A curve whose white is already
    above ``scene_max`` is returned unchanged.

    Parameters
    ----------
    curve : FilmicCurve
    scene_max : float
        Largest scene-linear value of the source (> ``curve.grey_scene``).

    Returns
    -------
    FilmicCurve
    """
    import dataclasses

    if not scene_max > curve.grey_scene:
        raise UsageError(f"scene maximum {scene_max} must exceed middle grey {curve.grey_scene}")
    white = math.log2(scene_max / curve.grey_scene)
    return curve if white <= curve.white_ev else dataclasses.replace(curve, white_ev=white)


@dataclass(frozen=True)
class ToneEncode:
    """A display encoding with a tone curve folded in, over a scaled linear domain.

    ``ToneEncode(curve, encode, scale)(v) = encode(curve(v * scale))`` for ``v`` in [0, 1]: the
    1D table the fused develop pass samples (:func:`l2tech.correct.fused.develop_pass`) after
    its matrix, which carries ``1 / scale`` so that the pass's clip at 1 falls on the curve's
    white. Hashable (used as the pass's table cache key).

    Parameters
    ----------
    curve : FilmicCurve
    encode : callable
        The display's encoding curve (display-linear [0, 1] → encoded [0, 1]).
    scale : float
        Scene-linear value at the table's end (normally ``curve.scene_white``).
    """

    curve: FilmicCurve
    encode: Callable[[np.ndarray], np.ndarray]
    scale: float

    def __call__(self, v: np.ndarray) -> np.ndarray:
        arr = np.asarray(v)
        out = self.encode(self.curve(arr.astype(np.float64) * self.scale))
        return np.asarray(out, np.float32 if arr.dtype == np.float32 else np.float64)


def auto_exposure_ev(image: np.ndarray, curve: FilmicCurve | None = None, *, luminance: tuple[float, float, float] =
                     (0.2627, 0.6780, 0.0593), max_ev: float = 4.0, highlight_percentile: float = 99.5,
                     max_highlight_cut_ev: float = 1.0, stride: int = 4) -> float:
    """Exposure compensation, in stops, that puts the scene's log-average luminance on middle grey.

    Parameters
    ----------
    image : ndarray, shape (H, W, 3), uint16 (65535 = 1.0) or float
        Scene-linear RGB (the working space, linear BT.2020 by default).
    curve : FilmicCurve, optional
        Gives middle grey (``grey_scene``) and white (``scene_white``); default
        :class:`FilmicCurve()`.
    luminance : tuple of float
        Luminance weights of the image's RGB (default: the Y row of BT.2020,
        ITU-R BT.2020-2 Table 4).
    max_ev : float
        The result is clipped to ±``max_ev``.
    highlight_percentile : float
        Percentile of luminance that should stay below the curve's white ...
    max_highlight_cut_ev : float
        ... by pulling the exposure down by at most this many stops.
    stride : int
        Every ``stride``-th pixel of every ``stride``-th row is measured.

    Returns
    -------
    float
        Stops to add (``2**ev`` gain on linear data). Scaling the image by ``2**k`` lowers the
        result by exactly ``k`` (within the clip).

    Raises
    ------
    UsageError
        Not an ``(H, W, 3)`` image.

    Notes
    -----
    The key is the log-average luminance ``exp(mean(log(Y)))`` of Reinhard et al. (2002, eq. 1)
    over pixels with ``Y > 2**-16``; the gain puts it on ``grey_scene``. A gain that would push
    the ``highlight_percentile`` luminance past white is reduced, by at most
    ``max_highlight_cut_ev``.
    """
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise UsageError(f"image must be (H, W, 3), got {arr.shape}")
    curve = curve or FilmicCurve()
    s = max(1, int(stride))
    sub = arr[::s, ::s].reshape(-1, 3).astype(np.float64)
    if arr.dtype == np.uint16:
        sub /= 65535.0
    y = sub @ np.asarray(luminance, np.float64)
    y = y[np.isfinite(y) & (y > 2.0**-16)]
    if y.size == 0:
        return float(max_ev)
    key = float(np.exp(np.mean(np.log(y))))
    ev = math.log2(curve.grey_scene / key)
    hi = float(np.percentile(y, highlight_percentile))
    ev_hi = math.log2(curve.scene_white / hi)
    if ev > ev_hi:
        ev = max(ev_hi, ev - max_highlight_cut_ev)
    return float(np.clip(ev, -max_ev, max_ev))
