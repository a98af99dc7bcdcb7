"""From pictures to lens profiles: target detection, model fitting, flat fields, TCA, reports.

Typical use::

    from l2tech.calibrate import parse_target, detect_target, read_calibration_image, fit_pinhole
    target = parse_target("checkerboard:9x6:25mm")
    views = [detect_target(read_calibration_image(p), target, name=p) for p in paths]
    camera = fit_pinhole(views, target)
    ptlens = fit_lensfun_distortion(camera, "ptlens")
"""

from l2tech.calibrate import geometry as _geometry
from l2tech.calibrate import targets as _targets
from l2tech.calibrate.geometry import *  # noqa: F403  (its __all__)
from l2tech.calibrate.targets import *  # noqa: F403  (its __all__)

__all__ = [*_targets.__all__, *_geometry.__all__]
