"""Frame fit: the zoom a correction uses (auto-scale) and how it reads beyond the frame.

The front door of :mod:`l2tech.correct` for auto-scale. The search itself — lensfun's
``GetAutoScale`` rule over eight directions — is lens math and lives in
:func:`l2tech.optics.compose.auto_scale`; this module decides, for every caller (stills,
projection changes, video), which scale is used and which border rule follows from it.

References
----------
lensfun 0.3.x ``libs/lensfun/mod-coord.cpp`` (``GetAutoScale``).
"""

from __future__ import annotations

from l2tech.errors import InvalidProfileError
from l2tech.optics import compose

__all__ = ["frame_fit", "edge_border"]


def frame_fit(warp: compose.Warp, scale: float | None = None) -> tuple[float, float | None]:
    """The zoom to correct with and the auto-scale of a correction warp.

    Parameters
    ----------
    warp : l2tech.optics.compose.Warp
        The correction geometry at scale 1 (:func:`l2tech.correct.maps.correction_warp`).
    scale : float, optional
        The caller's zoom (> 1 enlarges); default the auto-scale.

    Returns
    -------
    used : float
        ``scale``, or the auto-scale when ``scale`` is None.
    auto : float or None
        The smallest zoom that leaves no empty border; None when it cannot be found and the
        caller gave a scale.

    Raises
    ------
    InvalidProfileError
        ``scale`` is None and the auto-scale cannot be found (the corrected image never
        reaches the frame edge in some direction).

    Notes
    -----
    No fold check here: callers check the warp at the scale they use (``warp.fold_check``),
    and :func:`l2tech.optics.compose.render_maps` does so before building maps.
    """
    try:
        auto: float | None = compose.auto_scale(warp)
    except InvalidProfileError:
        if scale is None:
            raise
        auto = None
    return (auto if scale is None else float(scale)), auto


def edge_border(scale: float, auto_scale: float | None) -> str:
    """How a correction at ``scale`` reads pixels beyond the source frame.

    Parameters
    ----------
    scale : float
        The zoom used.
    auto_scale : float or None
        The frame's auto-scale (:func:`frame_fit`), None when unknown.

    Returns
    -------
    str
        ``"replicate"`` (edge values) when the zoom is at least the auto-scale, so the map stays
        inside the frame and only rounding reaches past its edge; ``"constant"`` (0) otherwise,
        which shows the empty border of a zoom-out. The 0.2 % tolerance admits an auto-scale
        recomputed on a slightly different frame.
    """
    return "replicate" if auto_scale is not None and scale >= auto_scale / 1.002 else "constant"
