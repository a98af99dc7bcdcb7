"""l2tech.video: the stills engine (maps, gains, looks, LUTs) on video clips, with PyAV.

Public API
----------
- :func:`process_video` — decode → per-frame pipeline → encode, audio/data/metadata copied,
  trimming, decode-error policy, atomic output (:mod:`l2tech.video.transcode`).
- :class:`FramePipeline` — maps, vignetting gain and look built once per clip
  (:mod:`l2tech.video.pipeline`).
- :func:`probe_video`, :func:`check_video_file`, :class:`VideoInfo`, :class:`VideoLimits` —
  header checks before decoding (:mod:`l2tech.video.probe`).
- :class:`ColorTags`, :func:`frame_to_rgb`, :func:`rgb_to_frame` — Y'CbCr ↔ R'G'B' with the
  stream's matrix and range (:mod:`l2tech.video.colortags`).
- :func:`build_lens_pipeline` — a pipeline from a lens profile for a clip's frame size
  (:mod:`l2tech.video.lens`).

See docs/VIDEO.md for the pipeline order and how a calibration is mapped onto a video frame.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "process_video": "l2tech.video.transcode",
    "EncodeOptions": "l2tech.video.transcode",
    "VideoReport": "l2tech.video.transcode",
    "FramePipeline": "l2tech.video.pipeline",
    "scale_map": "l2tech.video.pipeline",
    "probe_video": "l2tech.video.probe",
    "check_video_file": "l2tech.video.probe",
    "VideoInfo": "l2tech.video.probe",
    "VideoLimits": "l2tech.video.probe",
    "ColorTags": "l2tech.video.colortags",
    "resolve_color_tags": "l2tech.video.colortags",
    "frame_to_rgb": "l2tech.video.colortags",
    "rgb_to_frame": "l2tech.video.colortags",
    "build_lens_pipeline": "l2tech.video.lens",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'l2tech.video' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
