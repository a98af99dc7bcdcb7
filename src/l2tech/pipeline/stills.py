"""The stills job: develop (RAW) and correct (developed images), from file to file.

Pipeline order (one documented order; ARCHITECTURE.md "The data that flows"):

1. decode — RAW through LibRaw to scene-linear RGB in the working space (linear ITU-R BT.2020,
   D65), sensor orientation, clipped highlights clipped or rebuilt (``highlights``,
   :mod:`l2tech.raw.highlights`; rebuilt values may exceed 1.0 and the tone stage rolls them off); or a developed JPEG/TIFF/PNG decoded with its transfer function
   (from its ICC profile; sRGB when it has none) into the same working space;
1′. noise reduction (``denoise``) — luminance and chroma: on a Bayer mosaic before LibRaw
   demosaics it, under the sensor's noise model per camera and ISO (estimated from the mosaic,
   kept in a table); otherwise on the decoded linear data under a model estimated from the
   image (:mod:`l2tech.raw.denoise`);
2. exposure compensation — a gain of ``2**exposure_ev`` on linear data (plus the scene's
   auto-exposure, :func:`l2tech.color.tone.auto_exposure_ev`, with ``auto_exposure``);
3. lens correction — vignetting gain, then TCA + distortion + scale in one remap
   (:func:`l2tech.correct.correct`), at the shot's focal length, f-number and focus distance;
   keystone, straighten and crop (``keystone``, ``rotate_deg``, ``crop``;
   :mod:`l2tech.optics.perspective`) are a homography composed into the same map on the fused
   path (one resample); the staged path resamples them after the lens correction;
4. orientation — the EXIF orientation applied to the pixels (and reset to 1 in the output);
5. look — an optional photo style and/or a user's LUT, on linear data (:mod:`l2tech.color`);
6. output transform — working space to the output space, then (RAW develops) the tone curve,
   scene-linear to display-linear per channel (:mod:`l2tech.color.tone`; the filmic roll-off
   by default, ``tone="none"`` for the plain clip), the encoding curve
   (:func:`l2tech.color.display.encode_display`); or a log encoding (``log_output``, no tone);
   then, when asked (``sharpen``), capture sharpening of the encoded luminance with halo control
   (:mod:`l2tech.correct.sharpen`: after the tone curve so its halo limit is in display units,
   before quantisation; the fused pass then returns float32 for it);
7. write — quantise, embed the output space's ICC profile, carry EXIF, atomic rename.

Nothing here is an algorithm of its own; each step calls the package that owns it.
"""


from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from l2tech.pipeline.lens_plan import LensPlan, plan_lens_correction, skip_embedded_corrections
from l2tech.pipeline.recipe import Recipe

__all__ = [
    "DevelopResult",
    "develop",
    "develop_file",
    "correct_image",
    "correct_image_file",
    "develop_codes",
    "is_raw_path",
    "output_path_for",
    "prefetch",
    "RAW_FORMATS",
    "RAW_SUFFIXES",
]

# the one list of RAW formats and RAW file names (io.formats), re-exported for callers of this module
from l2tech.io.formats import RAW_FORMATS, RAW_SUFFIXES  # noqa: E402


@dataclass(frozen=True)
class DevelopResult:
    """The result of developing or correcting one file (pixels are display-encoded)."""

    input: str
    image: np.ndarray
    metadata: Any
    plan: LensPlan
    output_space: str
    warnings: tuple[str, ...] = ()
    output: str | None = None
    icc_profile: bytes | None = None
    bits: int | None = None
    dng_opcodes: tuple[str, ...] = ()
    greyscale: bool = False

    def summary(self) -> dict[str, Any]:
        """JSON-able summary of the job."""
        h, w = self.image.shape[:2]
        return {"input": self.input, "output": self.output, "size": [w, h], "output_space": self.output_space,
                "lens": self.plan.summary(), "dng_opcodes": list(self.dng_opcodes), "warnings": list(self.warnings)}



def _apply_lens(image: np.ndarray, plan: LensPlan, recipe: Recipe) -> np.ndarray:
    if not any(plan.applied.values()) and not (recipe.projection and plan.profile is not None):
        return image
    from l2tech.correct import correct

    return correct(
        image, plan.profile, plan.focal_length_mm, plan.f_number, plan.focus_distance_m,
        crop_factor=plan.crop_factor, vignetting=plan.applied["vignetting"], tca=plan.applied["tca"],
        distortion=plan.applied["distortion"], scale=recipe.scale, interpolation=recipe.interpolation,
        projection=recipe.projection, vignetting_strength=recipe.vignetting_strength,
    )


def _apply_look(image: np.ndarray, recipe: Recipe) -> np.ndarray:
    """Look and/or LUT on working-space linear data (l2tech.color; scene-linear in and out)."""
    if not (recipe.look or recipe.lut):
        return image
    from l2tech.color import apply_look, lut_look, parse_color_space

    if recipe.look:
        image = apply_look(image, recipe.look, working_space="Rec.2020")
    if recipe.lut:
        enc, gamut = parse_color_space(recipe.lut_input)
        image = apply_look(image, lut_look(recipe.lut, input_encoding=enc, input_gamut=gamut), working_space="Rec.2020")
    return image


def _quantize(encoded: np.ndarray, dtype: Any) -> np.ndarray:
    """Float encoded values to ``dtype`` codes (float32 passes through)."""
    if np.dtype(dtype) == np.float32:
        return encoded
    from l2tech.io.image import quantize

    return quantize(encoded, 8 if np.dtype(dtype) == np.uint8 else 16)


def _sharpen(encoded: np.ndarray, recipe: Recipe, plan: LensPlan, sensor_size: tuple[int, int]) -> np.ndarray:
    """Capture sharpening of the display-encoded image (l2tech.correct.sharpen), sized to the shot:
    the aperture's diffraction on the sensor's pixel pitch (from the crop factor's diagonal)."""
    from l2tech.correct.sharpen import capture_sharpen_sigma, unsharp_mask

    sigma = recipe.sharpen_radius_px
    if sigma is None:
        crop = getattr(plan, "crop_factor", None)
        pitch = 43.267 / crop * 1000.0 / float(np.hypot(*sensor_size)) if crop else None
        sigma = capture_sharpen_sigma(plan.f_number, pitch)
    return unsharp_mask(encoded, sigma, recipe.sharpen, halo=recipe.sharpen_halo)


def _exposure_ev(image: np.ndarray, recipe: Recipe, curve: Any, to_working: np.ndarray | None = None) -> float:
    """The recipe's exposure compensation, plus the auto-exposure of ``image`` when asked.

    ``to_working`` is the camera → working matrix when ``image`` holds camera RGB: the
    luminance is then measured with the working space's Y row carried back to camera RGB
    (``Y = wᵀ M c = (Mᵀ w)ᵀ c``).
    """
    if not recipe.auto_exposure:
        return recipe.exposure_ev
    from l2tech.color.tone import FilmicCurve, auto_exposure_ev

    kw = {}
    if to_working is not None:
        kw["luminance"] = tuple(float(v) for v in np.asarray(to_working, np.float64).T @ np.array([0.2627, 0.6780, 0.0593]))
    return recipe.exposure_ev + auto_exposure_ev(image, curve or FilmicCurve(grey_scene=0.18, white_ev=np.log2(1 / 0.18)), **kw)


#: Pixels per band of rows of the staged path's tone curve (its temporaries: ~30 MB).
_TONE_BAND_PIXELS = 1 << 17


def _encode_output(image: np.ndarray, recipe: Recipe, space: str, tone: Any = None) -> tuple[np.ndarray, str, bytes | None]:
    """Output transform: display space with its ICC profile, or a log encoding (no ICC).

    ``tone`` (a :class:`l2tech.color.tone.FilmicCurve`) maps each channel, after the matrix to
    the output space, from scene-linear to display-linear before the encoding curve: the same
    order as the fused pass (matrix, clip at the curve's white, tone + encoding table).
    """
    from l2tech.color.display import encode_display as output_transform
    from l2tech.color.display import icc_profile

    if tone is not None and not recipe.log_output:
        from l2tech.color.display import working_to_display_matrix

        m = working_to_display_matrix(space).astype(np.float32).T
        # per band of rows: the curve's float64 temporaries cost ~230 bytes per pixel of what it
        # is given (a 24 MP frame peaked at 5.9 GB); per pixel, so the bands change no value
        display_linear = np.empty(image.shape, np.float32)
        rows = max(1, _TONE_BAND_PIXELS // max(1, image.shape[1]))
        for r in range(0, image.shape[0], rows):
            display_linear[r : r + rows] = tone(np.ascontiguousarray(image[r : r + rows], np.float32) @ m)
        return output_transform(display_linear, space, working_space=space), space, icc_profile(space)

    if recipe.log_output:
        from l2tech.color import encode_output, parse_color_space

        from l2tech.color import encode

        enc, gamut = parse_color_space(recipe.log_output)
        x = encode_output(np.ascontiguousarray(image), f"{enc}/{gamut}", working_space="Rec.2020")
        # codes below the curve's black are negative linear light (outside the output gamut)
        black = float(encode(np.float32(0.0), enc))
        return np.clip(x, black, 1.0).astype(np.float32), f"{enc}/{gamut}", None
    return output_transform(np.ascontiguousarray(image), space), space, icc_profile(space)


def _read_meta(path: Path) -> tuple[Any, list[str]]:
    from l2tech.errors import InputNotFoundError
    from l2tech.io.metadata import read_metadata

    if not path.is_file():
        raise InputNotFoundError("file not found" if not path.exists() else "not a file", path=path)

    meta = read_metadata(path)
    return meta, list(getattr(meta, "warnings", ()))


def develop(path: str | os.PathLike, recipe: Recipe = Recipe(), *, db: Any = None) -> DevelopResult:
    """Develop a RAW file: decode, exposure, lens correction, orientation, look, output transform.

    Parameters
    ----------
    path : path-like
        A RAW file LibRaw decodes.
    recipe : Recipe
    db : LensDatabase, optional

    Returns
    -------
    DevelopResult
        ``image`` is display-encoded float32 ``(H, W, 3)`` in ``recipe.output_space``, upright.

    Raises
    ------
    L2Error
        Typed errors from decoding (EmptyFileError, UnsupportedFormatError, CorruptInputError,
        LimitExceededError, DecodeError) and matching (LensNotFoundError).

    Notes
    -----
    Without a look, LUT or log output and with bilinear sampling, the develop runs as one fused
    pass over LibRaw's 16-bit output (:mod:`l2tech.correct.fused`); LibRaw demosaics in a
    background thread while the lens plan, its coarse map and the compiled kernel are made
    ready. Otherwise the stages run one by one on float32 frames. Both give the same image
    (within one 8-bit code; tests/test_develop_fused.py).
    """
    return _develop(Path(path), recipe, db, np.float32)


def _fused_ok(recipe: Recipe) -> bool:
    """The fused pass covers this recipe (looks, LUTs, log output and other kernels are staged)."""
    return not (recipe.look or recipe.lut or recipe.log_output) and str(recipe.interpolation).lower() == "bilinear"


def _frame(plan: LensPlan, recipe: Recipe, width: int, height: int, orientation: int = 1) -> Any:
    """Keystone + straighten + crop of the recipe as a FrameTransform of the sensor-oriented
    ``width × height`` lens-corrected image (None when none is asked).

    The angle and the aspect are as the upright picture shows them: for an orientation that
    turns the picture a quarter (EXIF 5-8) the aspect is inverted, for a mirrored one (2, 4, 5,
    7) the angle's sign. Keystone points are pixels of the file's stored (sensor) grid.
    """
    if not (recipe.keystone or recipe.rotate_deg or recipe.crop):
        return None
    from l2tech.errors import UsageError
    from l2tech.optics.perspective import PerspectiveError, frame_transform, parse_aspect

    persp = (list(recipe.keystone[0::2]), list(recipe.keystone[1::2])) if recipe.keystone else None
    angle = -recipe.rotate_deg if orientation in (2, 4, 5, 7) else recipe.rotate_deg
    try:
        aspect = parse_aspect(recipe.crop, width, height) if recipe.crop else None
        if aspect is not None and orientation in (5, 6, 7, 8) and str(recipe.crop).lower() not in ("original", "orig", "free"):
            aspect = 1.0 / aspect
        return frame_transform(width, height, perspective=persp, rotate_deg=angle, aspect=aspect,
                               focal_length_mm=plan.focal_length_mm, crop_factor=plan.crop_factor or 1.0)
    except PerspectiveError as exc:
        raise UsageError(str(exc)) from None


def _lens_grid(plan: LensPlan, recipe: Recipe, width: int, height: int, orientation: int = 1) -> Any:
    """The plan's correction (and the recipe's frame) as a coarse grid map (identity when nothing is applied)."""
    from l2tech.correct.fused import frame_grid_map, grid_map, identity_grid_map

    frame = _frame(plan, recipe, width, height, orientation)
    if plan.profile is None or not (any(plan.applied.values()) or recipe.projection):
        return identity_grid_map(width, height) if frame is None else frame_grid_map(frame, width, height)
    from l2tech.profiles.interpolate import interpolate

    from l2tech.correct.apply import with_vignetting_strength

    cal = with_vignetting_strength(interpolate(plan.profile, plan.focal_length_mm, plan.f_number, plan.focus_distance_m),
                                   recipe.vignetting_strength)
    return grid_map(cal, width, height, crop_factor=plan.crop_factor, vignetting=plan.applied["vignetting"],
                    tca=plan.applied["tca"], distortion=plan.applied["distortion"], scale=recipe.scale,
                    projection=recipe.projection, frame=frame)


def _apply_geometry(image: np.ndarray, plan: LensPlan, recipe: Recipe, orientation: int) -> np.ndarray:
    """Lens correction and the recipe's frame on a float image (the staged path).

    With a frame and bilinear sampling, the lens map and the frame go through the fused pass's
    grid as one map (one resample, the same geometry as the fused develop; the pass's clip
    at 0 drops negative, out-of-gamut values); otherwise the lens correction, then the frame.
    """
    if not _frame_asked(recipe):
        return _apply_lens(image, plan, recipe)
    if str(recipe.interpolation).lower() != "bilinear":
        return _apply_frame(_apply_lens(image, plan, recipe), plan, recipe, orientation)
    from l2tech.correct.fused import _linear, develop_pass

    grid = _lens_grid(plan, recipe, image.shape[1], image.shape[0], orientation)
    # the pass clips at 1 after its vignetting gain: leave room for the gain (identity table, exact)
    top = 16.0 * (max(float(np.nanmax(image)), 1.0) if image.size else 1.0)
    out = develop_pass(np.ascontiguousarray(image, np.float32), grid, np.eye(3) / top, np.eye(3), _linear,
                       dtype=np.float32)
    return out * np.float32(top)


def _frame_asked(recipe: Recipe) -> bool:
    return bool(recipe.keystone or recipe.rotate_deg or recipe.crop)


def _apply_frame(image: np.ndarray, plan: LensPlan, recipe: Recipe, orientation: int) -> np.ndarray:
    """The recipe's frame (keystone/straighten/crop) on the lens-corrected image (staged path)."""
    frame = _frame(plan, recipe, image.shape[1], image.shape[0], orientation)
    if frame is None:
        return image
    from l2tech.correct.resample import remap_planes

    gx, gy = np.meshgrid(np.arange(frame.width, dtype=np.float64), np.arange(frame.height, dtype=np.float64))
    sx, sy = frame.apply(gx, gy)
    return remap_planes(image, [np.stack([sx, sy], -1).astype(np.float32)], interpolation=recipe.interpolation)


def _develop(p: Path, recipe: Recipe, db: Any, dtype: Any, *, prefetch_next: Any = None) -> DevelopResult:
    """develop() returning ``dtype`` pixels (float32 encoded values, or uint8/uint16 codes)."""
    from l2tech.errors import InputNotFoundError
    from l2tech.io.image import apply_orientation

    if not p.is_file():
        raise InputNotFoundError("file not found" if not p.exists() else "not a file", path=p)
    # DNG opcode lists 1-3 are applied during decode (the DNG's own correction). When the user
    # asks for another profile source, list 3 (the lens warps/vignetting) is left out so the lens
    # is not corrected twice.
    dng_lists = (1, 2) if (recipe.profile or recipe.profile_source) else (1, 2, 3)
    fused = _fused_ok(recipe)
    job, size = _decode_job(p, recipe, fused, dng_lists)
    try:
        # LibRaw releases the GIL: it demosaics on one core while this thread reads the
        # metadata, plans the lens correction, builds its map and loads the kernel.
        meta, warns = _read_meta(p)
        plan = plan_lens_correction(meta, recipe, db=db)
        grid = None
        if fused:
            from l2tech.correct.fused import warm_up

            warm_up(dtype)
            if _wait_for_size(job, size):
                grid = _lens_grid(plan, recipe, *size[0][0], orientation=getattr(meta, "orientation", 1))
    except BaseException:
        job.cancel()
        _wait_quietly(job)
        raise
    raw = job.result()
    for nxt in [prefetch_next] if isinstance(prefetch_next, (str, os.PathLike)) else (prefetch_next or ()):
        prefetch(nxt, recipe)
    warns += list(raw.warnings)
    final = skip_embedded_corrections(plan, raw.opcodes_applied)
    orientation = raw.orientation if raw.orientation != 1 else getattr(meta, "orientation", 1)
    curve = recipe.tone_curve() if not recipe.log_output else None
    src = raw.image
    if recipe.auto_tca and recipe.lens_correction:
        from l2tech.calibrate.tca import estimate_tca_from_image
        from l2tech.pipeline.lens_plan import with_estimated_tca

        if raw.tca_estimate is not None:  # measured on the Bayer mosaic, before denoising and demosaicing
            final = with_estimated_tca(final, raw.tca_estimate.kr, raw.tca_estimate.kb)
        else:
            step = max(1, int(max(src.shape[:2]) // 2000))  # a ≤ 2000 px view is plenty for a radial scale
            view = np.ascontiguousarray(src[::step, ::step], np.float32) * np.float32(1 / 65535 if src.dtype == np.uint16 else 1)
            final = with_estimated_tca(final, *estimate_tca_from_image(view))
    if recipe.denoise > 0 and raw.noise_model is None:
        # a file whose mosaic was not denoised before demosaicing (a linear DNG, not a Bayer
        # sensor): on the linear data, before anything resamples or mixes it (the noise model
        # holds there)
        from l2tech.raw.denoise import denoise, estimate_noise_model

        src = denoise(src, estimate_noise_model(src), luma=recipe.denoise, chroma=recipe.denoise)
    if fused and (src.dtype == np.uint16 or ((recipe.highlights != "clip" or recipe.denoise > 0) and src.dtype == np.float32)):
        from l2tech.color.display import DISPLAY_SPACES, icc_profile, working_to_display_matrix
        from l2tech.correct.fused import develop_pass

        H, W = src.shape[:2]
        if (grid is None or final is not plan or grid.source_size != (W, H)
                or (_frame_asked(recipe) and orientation != getattr(meta, "orientation", 1))):
            grid = _lens_grid(final, recipe, W, H, orientation)
        space = DISPLAY_SPACES[recipe.output_space]
        # LibRaw leaves the camera → working matrix to the fused pass (one matrix per pixel either way)
        to_working = np.eye(3) if raw.camera_to_working is None else raw.camera_to_working
        gain = to_working * 2.0**_exposure_ev(src, recipe, curve, raw.camera_to_working)
        encode, inv_gamma = space.encode, (1.0 / space.gamma if space.gamma else 0.0)
        if curve is not None:
            # the tone curve is folded into the pass's 1D table: the matrix carries 1 / white,
            # so the pass's clip at 1 falls on the curve's white (l2tech.color.tone.ToneEncode)
            from l2tech.color.tone import ToneEncode

            gain = gain / curve.scene_white
            encode, inv_gamma = ToneEncode(curve, space.encode, curve.scene_white), 0.0
        sharpen = recipe.sharpen > 0
        codes = develop_pass(src, grid, gain, working_to_display_matrix(recipe.output_space), encode,
                             inv_gamma=inv_gamma, dtype=np.float32 if sharpen else dtype)
        image = apply_orientation(codes, orientation)
        if sharpen:
            image = _quantize(_sharpen(image, recipe, final, (W, H)), dtype)
        return DevelopResult(str(p), image, meta, final, recipe.output_space, tuple(warns + list(final.warnings)),
                             icc_profile=icc_profile(recipe.output_space), dng_opcodes=tuple(raw.opcodes_applied))
    image = src
    if image.dtype == np.uint16:
        image = image.astype(np.float32) * np.float32(1.0 / 65535.0)
    ev = _exposure_ev(image, recipe, curve, raw.camera_to_working)
    if ev:
        image = image * np.float32(2.0**ev)
    image = _apply_geometry(image, final, recipe, orientation)
    if raw.camera_to_working is not None:  # the lens was corrected on the camera's colour planes
        # to the working space; values outside its gamut stay (clipped by the output encoding, as
        # in the fused pass, which folds this matrix into its output matrix)
        image = image @ raw.camera_to_working.T.astype(np.float32)
    image = apply_orientation(image, orientation)
    image = _apply_look(image, recipe)
    encoded, space_name, icc = _encode_output(image, recipe, recipe.output_space, tone=curve)
    if recipe.sharpen > 0 and not recipe.log_output:
        encoded = _sharpen(encoded, recipe, final, src.shape[1::-1])
    encoded = _quantize(encoded, dtype)
    return DevelopResult(str(p), encoded, meta, final, space_name, tuple(warns + list(final.warnings)), icc_profile=icc,
                         dng_opcodes=tuple(raw.opcodes_applied))


#: Background threads decode RAW files (LibRaw is single-threaded and releases the GIL): a
#: single develop decodes while the lens plan is made; a batch decodes the next files, one per
#: core, while this one is corrected and encoded (:func:`prefetch`).
_DECODER: Any = None
_DECODE_THREADS = 2
#: Decodes started ahead by :func:`prefetch`, by (path, decode settings); at most a few.
_PENDING: dict[tuple, tuple[Any, tuple]] = {}
_MAX_PENDING = 2


def _decoder() -> Any:
    global _DECODER
    if _DECODER is None:
        from concurrent.futures import ThreadPoolExecutor

        _DECODER = ThreadPoolExecutor(min(_DECODE_THREADS, os.cpu_count() or 1), thread_name_prefix="l2-decode")
    return _DECODER


def _decode_key(p: Path, recipe: Recipe, fused: bool, dng_lists: tuple[int, ...]) -> tuple:
    try:
        st = p.stat()
        stamp = (st.st_size, st.st_mtime_ns)
    except OSError:
        stamp = None
    return (str(p.resolve()), stamp, recipe.white_balance, fused, dng_lists, recipe.highlights, recipe.demosaic, recipe.denoise,
            recipe.auto_tca and recipe.lens_correction)


def _camera_noise_model(p: Path) -> Any:
    """For ``decode_raw(noise_model=...)``: the sensor noise model of the file's camera and ISO
    from l2tech's table (estimated from this file's mosaic and stored when the table has none);
    estimated from the mosaic alone when the file names no camera or ISO."""

    def lookup(estimate: Any) -> Any:
        from l2tech.io.metadata import read_metadata
        from l2tech.raw.denoise import cached_noise_model

        try:
            meta = read_metadata(p)
        except Exception:  # noqa: BLE001 - the develop reads and reports the metadata itself
            return estimate()
        camera = " ".join(x for x in (meta.make, meta.model) if x)
        if not camera or not meta.iso:
            return estimate()
        return cached_noise_model(camera, meta.iso, estimate)[0]

    return lookup


def _decode_job(p: Path, recipe: Recipe, fused: bool, dng_lists: tuple[int, ...]) -> tuple[Any, tuple]:
    """The decode of ``p``: one started ahead by :func:`prefetch`, or a new one."""
    from l2tech.raw.decode import decode_raw

    hit = _PENDING.pop(_decode_key(p, recipe, fused, dng_lists), None)
    if hit is not None:
        return hit
    import threading

    size: list[tuple[int, int]] = []
    known = threading.Event()  # set when the size is reported or the decode ends (either way)

    def on_size(w: int, h: int) -> None:
        size.append((w, h))
        known.set()

    job = _decoder().submit(decode_raw, p, white_balance=recipe.white_balance, dng_opcodes=dng_lists, as_uint16=fused,
                            camera_rgb=True, on_size=on_size, highlights=recipe.highlights, cfa_denoise=recipe.denoise,
                            noise_model=_camera_noise_model(p) if recipe.denoise > 0 else None,
                            estimate_tca=recipe.auto_tca and recipe.lens_correction, demosaic=recipe.demosaic)
    job.add_done_callback(lambda _job: known.set())
    return job, (size, known)


def prefetch(path: str | os.PathLike, recipe: Recipe = Recipe()) -> None:
    """Start decoding ``path`` in the background for a later :func:`develop` / :func:`develop_file`.

    A batch calls it with the next file before developing the current one: LibRaw then
    demosaics the next file on one core while the current one is corrected and encoded. Errors
    surface when the file is developed. At most two decodes are held ahead; an older unused one
    is dropped.
    """
    p = Path(path)
    if not p.is_file():
        return
    dng_lists = (1, 2) if (recipe.profile or recipe.profile_source) else (1, 2, 3)
    fused = _fused_ok(recipe)
    key = _decode_key(p, recipe, fused, dng_lists)
    if key in _PENDING:
        return
    while len(_PENDING) >= _MAX_PENDING:
        old, _ = _PENDING.pop(next(iter(_PENDING)))
        old.cancel()
    _PENDING[key] = _decode_job(p, recipe, fused, dng_lists)


def _wait_quietly(job: Any) -> None:
    """Let a decode that is no longer wanted finish (its errors are not this file's errors)."""
    try:
        job.result()
    except BaseException:  # noqa: BLE001 - the caller is already raising its own error
        pass


def _wait_for_size(job: Any, size: tuple[list, Any]) -> bool:
    """Wait until the decode has reported the frame size (or ended); True when it is known."""
    sizes, known = size
    known.wait()
    return bool(sizes)


def _icc_ok(icc: bytes) -> bool:
    """True when LittleCMS can parse the ICC profile."""
    import io

    from PIL import ImageCms

    try:
        ImageCms.ImageCmsProfile(io.BytesIO(icc))
        return True
    except (OSError, ImageCms.PyCMSError, ValueError):
        return False


def _space_from_icc(icc: bytes | None) -> str:
    """Output-space name of an embedded ICC profile (by its description), sRGB by default."""
    if not icc:
        return "srgb"
    from l2tech.color.display import DISPLAY_SPACES as OUTPUT_SPACES
    from l2tech.color.display import icc_profile

    for name in OUTPUT_SPACES:
        if icc == icc_profile(name):
            return name
    text = icc[:4096].decode("latin-1").lower()
    if "p3" in text:
        return "display-p3"
    if "2020" in text:
        return "rec2020"
    if "adobe rgb" in text or "adobergb" in text:
        return "adobe-rgb"
    return "srgb"


def _l2tech_output_reason(meta: Any, recipe: Recipe) -> str | None:
    """Why a picture is an l2tech output this run must not correct again, or None.

    Its XMP record (:func:`l2tech.io.provenance.l2tech_record`) says what it corrected: it is
    skipped when the run asks for one of those corrections, or when the record lists none and
    no look either (an output where nothing was there to correct). A picture ``l2 lut apply``
    only put a look on (a ``Look``, no correction) has had no lens correction yet. A run asking
    only for corrections the output did not make (``--only``) goes ahead; what it made is not
    made again (:func:`~l2tech.pipeline.lens_plan.skip_corrections_done` reads the same record).
    Without a record, EXIF ``Software`` "l2tech ..." (an editor or re-save dropped the XMP) says
    it is one, unless it names ``lut apply``.
    """
    record = dict(getattr(meta, "l2tech_record", ()) or ())
    if record:
        done = {c.strip() for c in (record.get("Corrections") or "").split(",") if c.strip()}
        if (done & set(recipe.corrections)) or (not done and "Look" not in record):
            return f"l2tech {record.get('Version', '?')}, corrected: {record.get('Corrections') or 'nothing'}"
        return None
    software = str(getattr(meta, "software", None) or "")
    if software.startswith("l2tech") and not software.endswith("(lut apply)"):
        return f"its Software tag says '{software}'; its XMP record is gone, so what it corrected is not known"
    return None


def correct_image(path: str | os.PathLike, recipe: Recipe = Recipe(), *, db: Any = None,
                  max_decode_errors: int = 0) -> DevelopResult:
    """Lens-correct a developed JPEG/TIFF/PNG: linearise with its transfer function, correct, re-encode.

    The image is linearised with the curve of its embedded ICC profile's space (sRGB when it
    has none), corrected in linear light, and re-encoded in the same space; the original ICC
    profile is kept. Raises as :func:`develop`; a JPEG whose data the decoder reports damaged
    raises :class:`~l2tech.errors.CorruptInputError` unless ``max_decode_errors`` is 1 or more
    (``--max-decode-errors``; then it is corrected with a warning), see
    :func:`l2tech.io.image.read_image`.
    """
    from l2tech.io.image import apply_orientation, read_image
    from l2tech.color.display import decode_display as output_to_working

    from l2tech.errors import UnsupportedFormatError
    from l2tech.io.formats import sniff_format

    from l2tech.errors import InputNotFoundError

    p = Path(path)
    if not p.is_file():
        raise InputNotFoundError("file not found" if not p.exists() else "not a file", path=p)
    kind = sniff_format(p)
    if kind not in ("jpeg", "tiff", "png"):
        hint = "; use `l2 develop` for RAW files" if kind in RAW_FORMATS else ""
        raise UnsupportedFormatError(f"not a developed image (the file is {kind.upper()}){hint}", path=p)
    meta, warns = _read_meta(p)
    if not recipe.force:
        why = _l2tech_output_reason(meta, recipe)
        if why:
            from l2tech.errors import AlreadyProcessedError

            raise AlreadyProcessedError(f"already an l2tech output ({why}); not corrected twice; --force corrects it "
                                        "again", path=p)
    dec = read_image(p, max_decode_errors=max_decode_errors)
    for msg in dec.decode_errors:
        warns.append(f"{p}: damaged {dec.format.upper()} data accepted (--max-decode-errors {max_decode_errors}): "
                     f"the decoder reports '{msg}'; part of the image is filled in")
    if dec.icc_profile and not _icc_ok(dec.icc_profile):
        warns.append(f"{p}: embedded ICC profile is corrupt; dropped, pixels read as sRGB")
        dec = dataclasses.replace(dec, icc_profile=None)
    space = _space_from_icc(dec.icc_profile)
    image = output_to_working(dec.pixels, space)
    dec = dataclasses.replace(dec, pixels=image[:0])  # the encoded frame is not needed any more (memory model)
    plan = plan_lens_correction(meta, recipe, db=db)
    if dec.greyscale and plan.applied.get("tca"):
        plan = dataclasses.replace(plan, applied={**plan.applied, "tca": False},
                                   reasons={**plan.reasons, "tca": "greyscale image: no colour fringes to correct"})
    if recipe.exposure_ev:
        image = image * np.float32(2.0**recipe.exposure_ev)
    image = _apply_geometry(image, plan, recipe, getattr(meta, "orientation", 1))
    image = apply_orientation(image, getattr(meta, "orientation", 1))
    image = _apply_look(image, recipe)
    encoded, out_space, icc = _encode_output(image, recipe, space)
    return DevelopResult(str(p), encoded, meta, plan, out_space, tuple(warns + list(plan.warnings)),
                         icc_profile=dec.icc_profile if icc is not None else None, bits=dec.bits if dec.bits in (8, 16) else 16,
                         greyscale=dec.greyscale)


def output_path_for(path: str | os.PathLike, output: str | os.PathLike | None, fmt: str, *, many: bool) -> Path:
    """Where the output of ``path`` goes: a folder (``-o DIR/`` or several inputs), a file, or beside the input."""
    from l2tech.io.image import IMAGE_FORMATS

    p = Path(path)
    ext = IMAGE_FORMATS[fmt]
    if output is None:
        return p.with_name(p.stem + "_l2" + ext)
    o = Path(output)
    if os.path.isdir(o) or str(output).endswith(os.sep) or many:
        return o / (p.stem + ext)
    return o


def _write(result: DevelopResult, out: Path, recipe: Recipe, *, overwrite: bool, fmt: str) -> list[str]:
    from l2tech.io.image import write_image

    plan = result.plan
    meta = result.metadata
    overrides: dict[str, str] = {}
    # the source's own lens name is kept; a lens the file does not name (D30 "16-35mm", --lens)
    # is written so the image still says which lens it was corrected for. A compact's built-in
    # lens (LensMatch.built_in) is not: lensfun's entry name ("Canon PowerShot SX60 HS &
    # compatibles") is a database key, not a lens model; the XMP record names the profile used.
    if (plan.lens and not getattr(meta, "lens_model", None) and not getattr(plan.match, "built_in", False)
            and getattr(plan.match, "method", "override") in ("exact", "alias", "override")):
        overrides["Exif.Photo.LensModel"] = plan.lens
        if plan.profile is not None and plan.profile.maker:
            overrides["Exif.Photo.LensMake"] = plan.profile.maker
    if plan.lens and recipe.lens and getattr(meta, "lens_model", None) != plan.lens:
        overrides["Exif.Photo.LensModel"] = plan.lens  # the user named the lens: say so
    defaults: dict[str, str] = {}
    focal, fnum = getattr(meta, "focal_length_mm", None), getattr(meta, "f_number", None)
    if focal:  # e.g. a CRW's focal length, read from its maker notes
        defaults["Exif.Photo.FocalLength"] = f"{round(focal * 100)}/100"
    if fnum:
        defaults["Exif.Photo.FNumber"] = f"{round(fnum * 100)}/100"
    iso = getattr(meta, "iso", None)
    if iso:  # a CRW's ISO, read from its ShotInfo (exiv2 makes no EXIF ISO for it)
        defaults["Exif.Photo.ISOSpeedRatings"] = str(int(iso))
    exposure = getattr(meta, "exposure_time_s", None)
    if exposure and getattr(meta, "format", None) == "crw":
        # exiv2 makes a CRW's EXIF ExposureTime from the ShotInfo code read unsigned (the D30's
        # 5 s as "1 s"); the reader's value (io.metadata._canon_shot_info_exposure) replaces it
        from fractions import Fraction

        t = Fraction(exposure).limit_denominator(100000)
        overrides["Exif.Photo.ExposureTime"] = f"{t.numerator}/{t.denominator}"
    bits = recipe.bits or (result.bits if fmt != "jpeg" and result.bits else None)
    from l2tech import __version__

    overrides["Exif.Image.Software"] = f"l2tech {__version__}"
    return write_image(out, result.image, format=fmt, quality=recipe.quality, bits=bits, icc_profile=result.icc_profile,
                       exif_source=result.input, exif_overrides=overrides, exif_defaults=defaults,
                       xmp_overrides=l2tech_xmp_record(result, recipe), color_space_srgb=result.output_space == "srgb",
                       greyscale=result.greyscale, overwrite=overwrite)


def recipe_hash(recipe: Recipe) -> str:
    """SHA-256 (hex) of the recipe's settings as canonical JSON (sorted keys): equal settings, equal hash."""
    import hashlib
    import json

    text = json.dumps(recipe.to_dict(), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def l2tech_xmp_record(result: DevelopResult, recipe: Recipe) -> dict[str, str]:
    """l2tech's XMP record of what it did to one output (namespace :data:`l2tech.io.provenance.L2TECH_XMP_NS`).

    Properties: ``Tool`` (``l2tech``), ``Version``, ``Profile`` (the lens profile's name, empty
    when none), ``ProfileSource`` (``database``, ``user (mine.xml)``, ``embedded``, ``file (NAME)``, ...),
    ``Corrections`` (applied, comma-separated, pipeline order), ``NotCorrected``
    (``correction: reason`` lines for the ones skipped), ``RecipeHash`` (:func:`recipe_hash`)
    and ``SourceSoftware`` (the input's ``Software``, which the output's replaces). A later
    ``l2 correct`` reads it and does not correct the file twice.
    """
    from l2tech.io.provenance import L2TECH_XMP_PREFIX, l2tech_record_fields, profile_source_label
    from l2tech.pipeline.recipe import CORRECTIONS

    plan = result.plan
    rec = l2tech_record_fields(
        profile=plan.lens,
        profile_source=(profile_source_label(plan.sources.get("profile"), plan.sources.get("profile_origin"))
                        if plan.profile is not None else None),
        corrections=[c for c in CORRECTIONS if plan.applied.get(c)],
        not_corrected={c: plan.reasons.get(c, "") for c in CORRECTIONS if not plan.applied.get(c)},
        recipe_hash=recipe_hash(recipe), source_software=getattr(result.metadata, "software", None))
    return {f"Xmp.{L2TECH_XMP_PREFIX}.{k}": v for k, v in rec.items()}


def develop_file(path: str | os.PathLike, output: str | os.PathLike, recipe: Recipe = Recipe(), *, overwrite: bool = False,
                 db: Any = None, prefetch_next: Any = None) -> DevelopResult:
    """:func:`develop` then write ``output`` atomically (ICC embedded, EXIF carried, orientation 1).

    The pixels are quantised in the fused pass itself (8 bits for JPEG, else ``recipe.bits``
    or 16): no float frame is made on that path. ``prefetch`` names the file a batch develops
    next (``prefetch_next``, a path or a sequence of paths, at most two used): their decodes
    start as soon as this one's is done (:func:`prefetch`).
    """
    bits = 8 if recipe.format == "jpeg" else (recipe.bits or 16)
    res = _develop(Path(path), recipe, db, np.uint8 if bits == 8 else np.uint16, prefetch_next=prefetch_next)
    w = _write(res, Path(output), recipe, overwrite=overwrite, fmt=recipe.format)
    return dataclasses.replace(res, output=str(output), warnings=res.warnings + tuple(w))


def correct_image_file(path: str | os.PathLike, output: str | os.PathLike, recipe: Recipe = Recipe(), *, overwrite: bool = False,
                       db: Any = None, fmt: str | None = None, max_decode_errors: int = 0) -> DevelopResult:
    """:func:`correct_image` then write ``output`` atomically, in the input's format unless ``fmt`` is given."""
    res = correct_image(path, recipe, db=db, max_decode_errors=max_decode_errors)
    by_suffix = {".jpg": "jpeg", ".jpeg": "jpeg", ".tif": "tiff", ".tiff": "tiff", ".png": "png"}
    fmt = fmt or by_suffix.get(Path(output).suffix.lower()) or _sniff_format(path)
    w = _write(res, Path(output), recipe, overwrite=overwrite, fmt=fmt)
    return dataclasses.replace(res, output=str(output), warnings=res.warnings + tuple(w))


def develop_codes(path: str | os.PathLike, recipe: Recipe = Recipe(), *, bits: int = 8, db: Any = None) -> DevelopResult:
    """The integer code values :func:`develop_file` / :func:`correct_image_file` write, without writing.

    A RAW file is developed (:func:`develop`'s pass, quantised inside the fused kernel as
    :func:`develop_file` does); a developed JPEG/TIFF/PNG is corrected (:func:`correct_image`)
    and quantised as :func:`l2tech.io.image.write_image` does. The local web preview shows
    these codes, so what it shows is what a lossless output (PNG/TIFF) of the same recipe and
    bit depth holds, pixel for pixel.

    Parameters
    ----------
    path : path-like
    recipe : Recipe
    bits : {8, 16}
    db : LensDatabase, optional

    Returns
    -------
    DevelopResult
        ``image`` is ``(H, W, 3)`` uint8 (bits=8) or uint16 display-encoded code values.

    Raises
    ------
    UsageError
        ``bits`` not 8 or 16.
    L2Error
        As :func:`develop` and :func:`correct_image`.
    """
    from l2tech.errors import UsageError
    from l2tech.io.formats import sniff_format
    from l2tech.io.image import quantize

    if bits not in (8, 16):
        raise UsageError(f"bit depth must be 8 or 16, got {bits}")
    p = Path(path)
    if p.is_file() and sniff_format(p) in ("jpeg", "tiff", "png"):
        res = correct_image(p, recipe, db=db)
        return dataclasses.replace(res, image=quantize(res.image, bits), bits=bits)
    res = _develop(p, recipe, db, np.uint8 if bits == 8 else np.uint16)
    return dataclasses.replace(res, bits=bits)


def _sniff_format(path: str | os.PathLike) -> str:
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    return "tiff"


def is_raw_path(path: str | os.PathLike) -> bool:
    """True when the file name has a RAW extension (the format itself is checked from magic bytes later)."""
    return Path(path).suffix.lower() in RAW_SUFFIXES


