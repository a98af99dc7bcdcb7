"""l2tech.color: transfer functions, gamuts, LUT files, fast LUT application, looks and baking.

Pipeline order (``docs/COLOR.md``): decode (RAW -> scene-linear, or a log clip -> decode its
curve) -> gamut to the working space -> look (scene-linear in, scene-linear out) -> output
gamut -> output encoding (display: :mod:`l2tech.color.display`; or log) -> quantise.
Nothing here imports colour-science at import time (:mod:`l2tech.color._colour` imports it at
first use, for camera log curves and camera gamuts only).
"""

from __future__ import annotations

from l2tech.color.bake import CAMERA_LIMITS, CameraLimits, ColorWarning, apply_camera_limits, bake_lut, parse_color_space
from l2tech.color.clf import ProcessList, read_clf
from l2tech.color.display import (
    DISPLAY_SPACES,
    WORKING_SPACE,
    decode_display,
    display_encode_table,
    encode_display,
    icc_profile,
    working_to_display_matrix,
)
from l2tech.color.gamut import GAMUTS, RGB_to_RGB, matrix_RGB_to_RGB, matrix_RGB_to_XYZ
from l2tech.color.looks import (
    LOOK_STAGES,
    MONO_FILTERS,
    Look,
    LookStage,
    apply_look,
    list_looks,
    load_look,
    lut_look,
    user_look_dir,
)
from l2tech.color.lut import INTERPOLATIONS, LUT1D, LUT3D, LUTSequence, apply_lut
from l2tech.color.lut_io import LUT_FORMATS, read_lut, write_lut
from l2tech.color.output import decode_input, encode_output
from l2tech.color.transfer import (
    LOG_ENCODINGS,
    Encoding,
    decode,
    encode,
    from_code_values,
    full_to_legal,
    legal_to_full,
    to_code_values,
)

__all__ = [
    "CAMERA_LIMITS",
    "CameraLimits",
    "ColorWarning",
    "apply_camera_limits",
    "bake_lut",
    "parse_color_space",
    "ProcessList",
    "read_clf",
    "DISPLAY_SPACES",
    "WORKING_SPACE",
    "decode_display",
    "display_encode_table",
    "encode_display",
    "icc_profile",
    "working_to_display_matrix",
    "GAMUTS",
    "RGB_to_RGB",
    "matrix_RGB_to_RGB",
    "matrix_RGB_to_XYZ",
    "LOOK_STAGES",
    "MONO_FILTERS",
    "Look",
    "LookStage",
    "apply_look",
    "list_looks",
    "load_look",
    "lut_look",
    "user_look_dir",
    "INTERPOLATIONS",
    "LUT1D",
    "LUT3D",
    "LUTSequence",
    "apply_lut",
    "LUT_FORMATS",
    "decode_input",
    "encode_output",
    "read_lut",
    "write_lut",
    "LOG_ENCODINGS",
    "Encoding",
    "decode",
    "encode",
    "from_code_values",
    "full_to_legal",
    "legal_to_full",
    "to_code_values",
]
