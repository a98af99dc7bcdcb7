"""Lens maps for a clip: a calibration made at one frame size, applied to video frames of another.

A lens calibrated in pixels (OpenCV pinhole, OpenCV fisheye / Kannala–Brandt as in Gyroflow
profiles) holds its camera matrix ``K`` for the calibration frame ``Wc × Hc``
(``calib_dimension``). A video mode records a *region* of that frame, resampled to the video
size: a 16:9 mode of a 4:3 sensor is a centred band of full width, scaled down. This module
makes that mapping explicit (:class:`FrameFit`):

- default: the largest centred region of the calibration frame with the video's aspect ratio,
  scaled uniformly to the video size (``s = W / w_region = H / h_region``);
- override: any region ``(x0, y0, w, h)`` in calibration pixels (``calib_crop``), for modes that
  crop off-centre or bin unevenly.

The camera matrix for the video frame is then ``fx' = s fx``, ``fy' = s fy``,
``cx' = s (cx − x0 + ½) − ½``, ``cy' = s (cy − y0 + ½) − ½`` (pixel centres at integer
coordinates, OpenCV's convention). Distortion coefficients are unchanged: they act on
coordinates normalised by the focal length.

The correction maps themselves come from :mod:`l2tech.optics` (``correction_map_opencv``,
``correction_map_kannala_brandt`` with an output projection); nothing here re-derives lens
math.

References
----------
OpenCV ``calib3d`` (pinhole camera model, ``initUndistortRectifyMap``; ``cv::fisheye``);
Gyroflow ``src/core/lens_profile.rs`` (``calib_dimension``, ``fisheye_params``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

from l2tech.errors import UsageError

__all__ = ["FrameFit", "fit_calibration_to_frame", "camera_matrix_for_frame", "output_camera_matrix", "pixel_lens_map",
           "build_lens_pipeline", "PIXEL_MODELS"]

#: Pixel-based distortion model families this module builds maps for.
PIXEL_MODELS = ("opencv_fisheye", "opencv")


@dataclass(frozen=True)
class FrameFit:
    """Where a video frame lies in the calibration frame.

    Parameters
    ----------
    calib_size : tuple of int
        ``(Wc, Hc)`` of the calibration frame, pixels.
    region : tuple of float
        ``(x0, y0, w, h)``: the part of the calibration frame the video records, calibration
        pixels (edges, not centres: the full frame is ``(0, 0, Wc, Hc)``).
    frame_size : tuple of int
        ``(W, H)`` of the video frame, pixels.
    """

    calib_size: tuple[int, int]
    region: tuple[float, float, float, float]
    frame_size: tuple[int, int]

    @property
    def scale_x(self) -> float:
        """Video pixels per calibration pixel, horizontally."""
        return self.frame_size[0] / self.region[2]

    @property
    def scale_y(self) -> float:
        """Video pixels per calibration pixel, vertically."""
        return self.frame_size[1] / self.region[3]

    def describe(self) -> str:
        """One line for reports (``l2 video --json``, ``l2 lens match``)."""
        x0, y0, w, h = self.region
        return (
            f"calibration {self.calib_size[0]}x{self.calib_size[1]} -> frame {self.frame_size[0]}x{self.frame_size[1]}: "
            f"region x={x0:g} y={y0:g} w={w:g} h={h:g} (calibration px), scale {self.scale_x:.6g} x {self.scale_y:.6g}"
        )


def fit_calibration_to_frame(
    calib_size: tuple[int, int],
    frame_size: tuple[int, int],
    calib_crop: Sequence[float] | None = None,
) -> FrameFit:
    """Decide which region of the calibration frame a video frame shows.

    Parameters
    ----------
    calib_size : tuple of int
        ``(Wc, Hc)`` of the calibration, pixels (Gyroflow ``calib_dimension``).
    frame_size : tuple of int
        ``(W, H)`` of the video frame, pixels.
    calib_crop : sequence of 4 float, optional
        ``(x0, y0, w, h)`` region in calibration pixels; default: the largest centred region
        with the frame's aspect ratio.

    Returns
    -------
    FrameFit

    Raises
    ------
    UsageError
        Non-positive sizes, or a region outside the calibration frame.

    Examples
    --------
    A 4000×3000 (4:3) calibration on an 854×480 (16:9) proxy: the full width, a centred band
    2248.24 px high (4000 · 480 / 854).

    >>> fit = fit_calibration_to_frame((4000, 3000), (854, 480))
    >>> [round(v, 2) for v in fit.region]
    [0.0, 375.88, 4000.0, 2248.24]
    """
    wc, hc = (float(calib_size[0]), float(calib_size[1]))
    w, h = (float(frame_size[0]), float(frame_size[1]))
    if min(wc, hc, w, h) <= 0:
        raise UsageError(f"sizes must be positive; got calibration {calib_size}, frame {frame_size}")
    if calib_crop is None:
        aspect = w / h
        if wc / hc >= aspect:  # calibration wider than the frame: crop the sides
            rh, rw = hc, hc * aspect
        else:  # calibration taller: crop top and bottom
            rw, rh = wc, wc / aspect
        region = ((wc - rw) / 2.0, (hc - rh) / 2.0, rw, rh)
    else:
        if len(calib_crop) != 4:
            raise UsageError(f"calib_crop must be (x0, y0, w, h); got {tuple(calib_crop)}")
        x0, y0, rw, rh = (float(v) for v in calib_crop)
        if rw <= 0 or rh <= 0 or x0 < 0 or y0 < 0 or x0 + rw > wc + 1e-6 or y0 + rh > hc + 1e-6:
            raise UsageError(f"calib_crop {tuple(calib_crop)} is not inside the {int(wc)}x{int(hc)} calibration frame")
        region = (x0, y0, rw, rh)
    return FrameFit((int(calib_size[0]), int(calib_size[1])), region, (int(frame_size[0]), int(frame_size[1])))


def camera_matrix_for_frame(K: np.ndarray, fit: FrameFit) -> np.ndarray:
    """The camera matrix of the video frame, from the calibration's ``K`` and a :class:`FrameFit`.

    Parameters
    ----------
    K : ndarray, shape (3, 3)
        Camera matrix at the calibration size, pixels.
    fit : FrameFit

    Returns
    -------
    ndarray, shape (3, 3), float64

    Notes
    -----
    ``cx' = s (cx − x0 + ½) − ½`` keeps OpenCV's convention (pixel centres at integers); with
    the full frame as region it equals :func:`l2tech.optics.opencv.scale_camera_matrix`.
    """
    K = np.asarray(K, dtype=np.float64)
    if K.shape != (3, 3):
        raise UsageError(f"K must be 3x3; got {K.shape}")
    sx, sy = fit.scale_x, fit.scale_y
    x0, y0 = fit.region[0], fit.region[1]
    out = np.eye(3)
    out[0, 0] = K[0, 0] * sx
    out[1, 1] = K[1, 1] * sy
    out[0, 1] = K[0, 1] * sx
    out[0, 2] = sx * (K[0, 2] - x0 + 0.5) - 0.5
    out[1, 2] = sy * (K[1, 2] - y0 + 0.5) - 0.5
    return out


def output_camera_matrix(K: np.ndarray, fit: FrameFit, *, out_size: tuple[int, int] | None = None,
                         zoom: float = 1.0) -> np.ndarray:
    """Camera matrix of the corrected output of :func:`pixel_lens_map` (its rectilinear view).

    Parameters
    ----------
    K : ndarray, shape (3, 3)
        Camera matrix at the calibration size.
    fit : FrameFit
        How the calibration frame maps onto the video frame.
    out_size : tuple of int, optional
        ``(W, H)`` of the output; default the video frame size.
    zoom : float
        Output focal length over the lens's.

    Returns
    -------
    ndarray, shape (3, 3), float64
        ``fx·zoom, fy·zoom`` of the frame's camera matrix; the principal point the frame's own
        when the output is the frame at zoom 1, else the output's centre.
    """
    Kf = camera_matrix_for_frame(K, fit)
    w, h = out_size or fit.frame_size
    new_K = np.array(
        [[Kf[0, 0] * zoom, 0.0, (w - 1) / 2.0], [0.0, Kf[1, 1] * zoom, (h - 1) / 2.0], [0.0, 0.0, 1.0]]
    )
    if (w, h) == fit.frame_size and zoom == 1.0:
        new_K[0, 2], new_K[1, 2] = Kf[0, 2], Kf[1, 2]
    return new_K


def pixel_lens_map(
    model: str,
    K: np.ndarray,
    terms: Mapping[str, float],
    fit: FrameFit,
    *,
    projection: str = "rectilinear",
    out_size: tuple[int, int] | None = None,
    zoom: float = 1.0,
) -> np.ndarray:
    """Inverse map correcting a pixel-calibrated lens on video frames.

    Parameters
    ----------
    model : str
        ``"opencv_fisheye"`` (Kannala–Brandt: ``k1..k4``) or ``"opencv"`` (pinhole:
        ``k1, k2, p1, p2, k3...``).
    K : ndarray, shape (3, 3)
        Camera matrix at the calibration size.
    terms : Mapping[str, float]
        Distortion coefficients by name.
    fit : FrameFit
        How the calibration frame maps onto the video frame.
    projection : str
        Output projection (fisheye model only; default ``"rectilinear"``: de-fishing).
    out_size : tuple of int, optional
        ``(W, H)`` of the output; default the video frame size.
    zoom : float
        Output focal length over the lens's focal length (< 1 shows more of the field).

    Returns
    -------
    ndarray, shape (H_out, W_out, 2), float32
        Source ``(x, y)`` in video-frame pixels; NaN where a ray has no image.

    Raises
    ------
    UsageError
        Unknown model, non-positive zoom.
    InvalidProfileError
        The distortion folds within the output (from :mod:`l2tech.optics`).
    """
    key = model.lower()
    if key not in PIXEL_MODELS:
        raise UsageError(f"unknown pixel lens model {model!r}; valid: {', '.join(PIXEL_MODELS)}")
    if not zoom > 0:
        raise UsageError(f"zoom must be > 0; got {zoom}")
    Kf = camera_matrix_for_frame(K, fit)
    w, h = out_size or fit.frame_size
    new_K = output_camera_matrix(K, fit, out_size=out_size, zoom=zoom)
    if key == "opencv_fisheye":
        from l2tech.optics.kannala_brandt import correction_map_kannala_brandt

        return correction_map_kannala_brandt(w, h, Kf, terms, new_K, output_projection=projection)
    if projection.lower() != "rectilinear":
        raise UsageError("the OpenCV pinhole model is rectilinear; --projection applies to fisheye profiles")
    from l2tech.optics.opencv import correction_map_opencv

    if (w, h) != fit.frame_size:
        raise UsageError("output size must equal the frame size for the pinhole model")
    return correction_map_opencv(w, h, Kf, terms, new_K)


def build_lens_pipeline(
    frame_size: tuple[int, int],
    *,
    map_xy: np.ndarray | None = None,
    gain: np.ndarray | None = None,
    look: Callable[[np.ndarray], np.ndarray] | None = None,
    interpolation: str = "bilinear",
    out_size: tuple[int, int] | None = None,
):
    """A :class:`~l2tech.video.pipeline.FramePipeline` for frames of ``frame_size``.

    Thin convenience over the constructor (kept for the CLI and scripts); see
    :class:`~l2tech.video.pipeline.FramePipeline` for the parameters.
    """
    from l2tech.video.pipeline import FramePipeline

    return FramePipeline(frame_size, map_xy=map_xy, gain=gain, look=look, interpolation=interpolation,
                         out_size=out_size)


@dataclass(frozen=True)
class LensSetup:
    """The geometry and gain built for one clip, with a description for reports.

    ``map_xy`` is ``(H, W, 2)`` or ``(H, W, 3, 2)`` float32 (or ``None``), ``gain`` is
    ``(H_in, W_in)`` float32 (or ``None``), ``description`` lines say which profile, which
    frame fit and which output projection were used; ``border`` is how pixels beyond the source
    are read (``"constant"``: black, ``"replicate"``: edge values, as the stills engine does
    when the map stays inside the frame). ``camera_matrix`` (3, 3) is the pinhole camera of the
    corrected output when it is rectilinear (what video stabilisation rotates), else ``None``.
    """

    map_xy: np.ndarray | None
    gain: np.ndarray | None
    description: tuple[str, ...]
    border: str = "constant"
    camera_matrix: np.ndarray | None = None


def lens_setup_pixel_model(
    frame_size: tuple[int, int],
    model: str,
    K: np.ndarray,
    terms: Mapping[str, float],
    calib_size: tuple[int, int] | None = None,
    *,
    calib_crop: Sequence[float] | None = None,
    projection: str | None = None,
    out_size: tuple[int, int] | None = None,
    zoom: float = 1.0,
    source: str = "",
) -> LensSetup:
    """Build the correction map of a pixel-calibrated lens (OpenCV pinhole or fisheye) for a clip.

    Parameters
    ----------
    frame_size : tuple of int
        ``(W, H)`` of the clip.
    model, K, terms
        As :func:`pixel_lens_map`.
    calib_size : tuple of int, optional
        ``(Wc, Hc)`` of the calibration; default the frame size.
    calib_crop, projection, out_size, zoom
        As :func:`fit_calibration_to_frame` and :func:`pixel_lens_map`; ``projection`` defaults
        to ``"rectilinear"``.
    source : str
        Profile name or file, for the description.

    Returns
    -------
    LensSetup
    """
    fit = fit_calibration_to_frame(calib_size or frame_size, frame_size, calib_crop)
    proj = projection or "rectilinear"
    m = pixel_lens_map(model, K, terms, fit, projection=proj, out_size=out_size, zoom=zoom)
    terms_s = ", ".join(f"{k}={v:.6g}" for k, v in terms.items())
    desc = (
        f"lens: {source or model} ({model}: {terms_s})",
        fit.describe(),
        f"output: {m.shape[1]}x{m.shape[0]} {proj}, zoom {zoom:g}",
        *frame_fit_warnings(fit, calib_crop is not None),
    )
    cam = output_camera_matrix(K, fit, out_size=out_size, zoom=zoom) if proj.lower() == "rectilinear" else None
    return LensSetup(m, None, desc, camera_matrix=cam)


def frame_fit_warnings(fit: FrameFit, crop_given: bool) -> tuple[str, ...]:
    """``warning: ...`` lines when a calibration does not fit a clip as it is.

    A calibration of another aspect ratio is applied to its centred region of the clip's aspect
    (a 4:3 calibration on a 16:9 mode: the camera is assumed to read a centred band, which is
    not true of every mode); a clip larger than its calibration is an upscaled calibration. No
    warning when ``--calib-crop`` says which region the clip shows.
    """
    out = []
    (wc, hc), (w, h) = fit.calib_size, fit.frame_size
    if not crop_given and abs((wc / hc) / (w / h) - 1.0) > 0.01:
        out.append(f"warning: the profile was calibrated at {wc}x{hc} (aspect {wc / hc:.3f}), the clip is {w}x{h} "
                   f"(aspect {w / h:.3f}): assumed to show the centred {fit.region[2]:g}x{fit.region[3]:g} region of "
                   "the calibration frame; give --calib-crop if this video mode reads another region")
    if fit.region[2] < w - 0.5 or fit.region[3] < h - 0.5:
        out.append(f"warning: the clip ({w}x{h}) has more pixels than the calibrated region ({fit.region[2]:g}x"
                   f"{fit.region[3]:g}): the calibration is scaled up {w / fit.region[2]:.3g}x")
    return tuple(out)
