"""l2tech: one engine for optics and digital imaging.

Lens models, lens profiles and calibration on one side; RAW development, color and video on the
other. Pure functions on NumPy arrays: images are float32 ``(H, W, 3)``, channels last, RGB,
scene-linear unless a name says otherwise.

The public names below are imported lazily so ``import l2tech`` stays light.
"""

from __future__ import annotations

from l2tech._lazy import lazy_exports

__version__ = "0.1.0"

# public name -> defining module
_EXPORTS: dict[str, str] = {
    "L2Error": "l2tech.errors",
    "LensNotFoundError": "l2tech.errors",
    "InvalidProfileError": "l2tech.errors",
    "AmbiguousMatchError": "l2tech.errors",
    "CameraBody": "l2tech.profiles.model",
    "LensProfile": "l2tech.profiles.model",
    "LensCalibration": "l2tech.profiles.model",
    "ShotMetadata": "l2tech.io.metadata",
    "read_metadata": "l2tech.io.metadata",
    "load_database": "l2tech.profiles.lensfun_xml",
    "match_lens": "l2tech.profiles.matching",
    "find_lens_profile": "l2tech.profiles.matching",
    "search_lenses": "l2tech.profiles.matching",
    "interpolate": "l2tech.profiles.interpolate",
    "correct": "l2tech.correct",
    "simulate_lens": "l2tech.correct",
    "correction_maps": "l2tech.correct",
    "vignetting_gain": "l2tech.correct",
    "decode_raw": "l2tech.raw.decode",
    "read_image": "l2tech.io.image",
    "write_image": "l2tech.io.image",
    "encode_display": "l2tech.color.display",
    "Recipe": "l2tech.pipeline",
    "develop": "l2tech.pipeline",
    "develop_file": "l2tech.pipeline",
    "correct_image": "l2tech.pipeline",
    "correct_image_file": "l2tech.pipeline",
}

__all__ = ["__version__", *_EXPORTS]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, eager=["__version__"])
