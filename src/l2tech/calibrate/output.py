"""Calibration results to lens profiles: lensfun XML (via :mod:`l2tech.profiles.lensfun_xml`)
and Gyroflow lens-profile JSON.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np

from l2tech.calibrate.geometry import CameraFit
from l2tech.errors import UsageError
from l2tech.profiles.model import (
    CameraBody,
    DistortionCalibration,
    LensProfile,
    TCACalibration,
    VignettingCalibration,
)

__all__ = ["split_maker_model", "build_lens_profile", "merge_lens_profiles", "write_profile_xml", "gyroflow_profile", "write_gyroflow_json"]


def split_maker_model(name: str, default_maker: str = "Generic") -> tuple[str, str]:
    """``"Panasonic Lumix S 20-60/F3.5-5.6"`` → ``("Panasonic", "Lumix S 20-60/F3.5-5.6")``."""
    parts = str(name).strip().split(None, 1)
    if not parts:
        raise UsageError("empty camera or lens name")
    if len(parts) == 1:
        return default_maker, parts[0]
    return parts[0], parts[1]


def build_lens_profile(
    lens_name: str,
    mount: str,
    *,
    crop_factor: float,
    aspect_ratio: float,
    lens_type: str = "rectilinear",
    distortion: Sequence[DistortionCalibration] = (),
    tca: Sequence[TCACalibration] = (),
    vignetting: Sequence[VignettingCalibration] = (),
    source: str = "calibrate",
) -> LensProfile:
    """A :class:`LensProfile` from calibration points (focal range from the points).

    Raises
    ------
    UsageError
        No mount, or a non-positive crop factor / aspect ratio.
    """
    if not mount:
        raise UsageError("a lens profile needs a mount name (--mount)")
    if not (crop_factor > 0 and aspect_ratio > 0):
        raise UsageError(f"crop factor and aspect ratio must be positive (got {crop_factor}, {aspect_ratio})")
    maker, model = split_maker_model(lens_name)
    focals = [c.focal_length_mm for c in (*distortion, *tca, *vignetting)]
    apertures = [v.f_number for v in vignetting]
    return LensProfile(
        maker=maker, model=model, mounts=(mount,), crop_factor=float(crop_factor), aspect_ratio=float(aspect_ratio),
        lens_type=lens_type, focal_min_mm=min(focals, default=0.0), focal_max_mm=max(focals, default=0.0),
        aperture_min=min(apertures, default=None), aperture_max=max(apertures, default=None),
        distortion=tuple(sorted(distortion, key=lambda c: c.focal_length_mm)),
        tca=tuple(sorted(tca, key=lambda c: c.focal_length_mm)),
        vignetting=tuple(sorted(vignetting, key=lambda c: (c.focal_length_mm, c.f_number, c.focus_distance_m))),
        source=source,
    )


def merge_lens_profiles(base: LensProfile, new: LensProfile) -> LensProfile:
    """Merge calibration points of the same lens; points of ``new`` replace those of ``base``
    at the same focal length (and f-number / distance for vignetting).

    Raises
    ------
    UsageError
        The crop factors or aspect ratios differ by more than 1 % (points from different
        sensors cannot share one lens entry).
    """
    if abs(base.crop_factor - new.crop_factor) > 0.01 * new.crop_factor or abs(base.aspect_ratio - new.aspect_ratio) > 0.01 * new.aspect_ratio:
        raise UsageError(
            f"lens {new.name!r}: existing entry has crop factor {base.crop_factor:g}, aspect {base.aspect_ratio:g}; "
            f"new points have {new.crop_factor:g}, {new.aspect_ratio:g}; use another output file"
        )
    d = {c.focal_length_mm: c for c in base.distortion}
    d.update({c.focal_length_mm: c for c in new.distortion})
    t = {c.focal_length_mm: c for c in base.tca}
    t.update({c.focal_length_mm: c for c in new.tca})
    v = {(c.focal_length_mm, c.f_number, c.focus_distance_m): c for c in base.vignetting}
    v.update({(c.focal_length_mm, c.f_number, c.focus_distance_m): c for c in new.vignetting})
    merged = build_lens_profile(
        new.name if new.model.lower().startswith(new.maker.lower()) else f"{new.maker} {new.model}",
        new.mounts[0] if new.mounts else (base.mounts[0] if base.mounts else ""),
        crop_factor=new.crop_factor, aspect_ratio=new.aspect_ratio, lens_type=new.lens_type,
        distortion=list(d.values()), tca=list(t.values()), vignetting=list(v.values()), source=new.source,
    )
    return replace(merged, maker=new.maker, model=new.model)


def write_profile_xml(
    path: str | os.PathLike,
    lens: LensProfile,
    camera: CameraBody | None = None,
    *,
    update: bool = False,
) -> LensProfile:
    """Write a lensfun XML file (database version 1) with the lens (and camera), atomically.

    Parameters
    ----------
    path : path-like
    lens : LensProfile
    camera : CameraBody, optional
    update : bool
        When the file exists, keep its other entries and merge this lens's calibration points
        into its entry of the same maker and model.

    Returns
    -------
    LensProfile
        The lens as written (merged when ``update``).

    Raises
    ------
    UsageError, OutputError, InvalidProfileError
        From :func:`l2tech.profiles.lensfun_xml.write_lensfun_xml` / ``parse_lensfun_xml``.
    """
    from l2tech.profiles.lensfun_xml import parse_lensfun_xml, write_lensfun_xml

    p = Path(path)
    lenses: list[LensProfile] = []
    cameras: list[CameraBody] = []
    out_lens = lens
    if update and p.exists():
        old = parse_lensfun_xml(p, source_prefix="user")
        for ol in old.lenses:
            if (ol.maker.lower(), ol.model.lower()) == (lens.maker.lower(), lens.model.lower()):
                out_lens = merge_lens_profiles(ol, lens)
            else:
                lenses.append(ol)
        cameras = [c for c in old.cameras if camera is None or (c.maker, c.model) != (camera.maker, camera.model)]
    lenses.append(out_lens)
    if camera is not None:
        cameras.append(camera)
    write_lensfun_xml(p, lenses, cameras)
    return out_lens


def gyroflow_profile(
    fit: CameraFit,
    *,
    camera_brand: str = "",
    camera_model: str = "",
    lens_model: str = "",
    crop_factor: float | None = None,
    focal_length_mm: float | None = None,
) -> dict:
    """A Gyroflow lens-profile dictionary from an OpenCV fit.

    Gyroflow's ``distortion_model`` null/absent means OpenCV fisheye (k1..k4); a pinhole fit
    is written as ``"opencv_standard"`` with OpenCV's coefficient order.

    References
    ----------
    Gyroflow ``src/core/lens_profile.rs`` (``LensProfile`` fields).
    """
    w, h = fit.image_size
    d = {
        "name": " ".join(x for x in (camera_brand, camera_model, lens_model) if x),
        "camera_brand": camera_brand,
        "camera_model": camera_model,
        "lens_model": lens_model,
        "calib_dimension": {"w": int(w), "h": int(h)},
        "orig_dimension": {"w": int(w), "h": int(h)},
        "calibrated_by": "l2 calibrate",
        "fisheye_params": {
            "RMS_error": float(fit.rms),
            "camera_matrix": np.asarray(fit.K, float).tolist(),
            "distortion_coeffs": [float(x) for x in fit.dist],
        },
        "num_images": len(fit.view_names),
        "official": False,
    }
    if fit.model == "pinhole":
        d["distortion_model"] = "opencv_standard"
    if crop_factor:
        d["crop_factor"] = float(crop_factor)
    if focal_length_mm:
        d["focal_length"] = float(focal_length_mm)
    return d


def write_gyroflow_json(path: str | os.PathLike, profile: dict, *, overwrite: bool = False) -> None:
    """Write a Gyroflow lens profile atomically (temp file in the folder, then rename)."""
    from l2tech.io.atomic import atomic_output

    with atomic_output(path, overwrite=overwrite) as tmp:
        Path(tmp).write_text(json.dumps(profile, indent=2), encoding="utf-8")
