"""From pictures to lens profiles: target detection, model fitting, flat fields, TCA, reports.

Typical use::

    from l2tech.calibrate import parse_target, detect_target, read_calibration_image, fit_pinhole
    target = parse_target("checkerboard:9x6:25mm")
    views = [detect_target(read_calibration_image(p), target, name=p) for p in paths]
    camera = fit_pinhole(views, target)
    ptlens = fit_lensfun_distortion(camera, "ptlens")
"""

from l2tech.calibrate.geometry import (
    LENSFUN_DISTORTION_TERMS,
    CameraFit,
    LensfunDistortionFit,
    corner_coverage,
    fit_fisheye,
    fit_lensfun_distortion,
    fit_pinhole,
    fit_radial_model,
    lensfun_norm_px,
    pose_tilts_deg,
    radial_model_basis,
)
from l2tech.calibrate.targets import (
    Detection,
    Target,
    board_points,
    detect_target,
    iter_video_frames,
    parse_target,
    read_calibration_image,
)

__all__ = [
    "Target",
    "Detection",
    "parse_target",
    "board_points",
    "detect_target",
    "read_calibration_image",
    "iter_video_frames",
    "CameraFit",
    "LensfunDistortionFit",
    "LENSFUN_DISTORTION_TERMS",
    "fit_pinhole",
    "fit_fisheye",
    "fit_lensfun_distortion",
    "fit_radial_model",
    "radial_model_basis",
    "lensfun_norm_px",
    "pose_tilts_deg",
    "corner_coverage",
]
