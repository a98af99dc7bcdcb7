"""LUT objects (1D, 3D, sequences) and their fast application.

A :class:`LUT3D` holds a table indexed ``[r, g, b]`` (colour-science's convention) over an
input domain; :meth:`LUT3D.apply` interpolates trilinearly or tetrahedrally with numba kernels,
chunk by chunk so memory stays bounded, on float32 ``(..., 3)`` arrays of any size. A
:class:`LUT1D` is per channel, linear interpolation. A :class:`LUTSequence` chains steps (e.g.
a Resolve ``.cube`` shaper + cube). :func:`apply_lut` adds an optional *shaper* (a log
encoding name or a LUT1D) for LUTs whose input is log-encoded or scene-linear beyond 1.

Signal state: a LUT maps whatever encoding it was built for; the caller is responsible for
feeding that encoding (see ``docs/COLOR.md``).

References
----------
colour-science ``colour/io/luts/lut.py`` (LUT1D/LUT3D semantics, domain handling) and
``colour/algebra/interpolation.py`` (table interpolation), the oracles of the tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

import numpy as np

from l2tech.color._registry import Registry
from l2tech.errors import LUTError, UsageError

__all__ = [
    "LUT1D",
    "LUT3D",
    "LUTSequence",
    "LUT",
    "INTERPOLATIONS",
    "apply_lut",
    "MAX_LUT3D_SIZE",
    "MIN_LUT_SIZE",
    "MAX_LUT1D_SIZE",
    "DEFAULT_CHUNK_PIXELS",
]

MIN_LUT_SIZE = 2
MAX_LUT3D_SIZE = 256
MAX_LUT1D_SIZE = 65536
#: Largest magnitude of a value or domain bound read from a .cube / .spi1d / .spi3d / .3dl table:
#: far above the largest half-float (65504) that scene-linear shapers reach. A 1e308 overflowed
#: the float32 table to inf and was refused only later, with the file unnamed; 3.4e38 (within
#: float32) overflowed when applied (numpy's "overflow encountered in multiply", an image
#: nearly black through ``l2 correct``, nearly white through ``l2 lut apply``). CLF is checked
#: by its own reader: ACES half-domain 1D LUTs legitimately hold values up to 3.26e38.
MAX_LUT_VALUE = 1e6
#: Narrowest input domain, relative to its largest bound (at least 1): the apply kernels scale
#: input into the table in float32 (24-bit mantissa), so a narrower span cannot be sampled —
#: ``DOMAIN_MAX 1e-300`` over ``DOMAIN_MIN 0`` is one float32 value and mapped every input
#: to the table's last entry (an almost white image). Real domains span 1 (0–1), 1.26
#: (ACEScct's -0.0125–1.25) or 65504 (half-float shapers).
MIN_DOMAIN_SPAN = 1e-6


def domain_too_narrow(dmin: np.ndarray, dmax: np.ndarray) -> bool:
    """True where a domain's span is below :data:`MIN_DOMAIN_SPAN` of its magnitude (per channel)."""
    lo, hi = np.asarray(dmin, np.float64), np.asarray(dmax, np.float64)
    scale = np.maximum(1.0, np.maximum(np.abs(lo), np.abs(hi)))
    return bool(np.any((hi - lo) < MIN_DOMAIN_SPAN * scale))


#: Pixels processed per chunk by :meth:`LUT3D.apply` (bounded temporary memory: ~12 MiB).
DEFAULT_CHUNK_PIXELS = 1 << 20

#: Interpolation names for 3D LUTs.
INTERPOLATIONS: Registry[str] = Registry(
    "interpolation", {"tetrahedral": "tetrahedral", "trilinear": "trilinear"}, aliases={"linear": "trilinear"}
)


def _domain(domain: object) -> np.ndarray:
    d = np.array(domain if domain is not None else [[0.0] * 3, [1.0] * 3], dtype=np.float64)
    if d.shape == (2,):
        d = np.repeat(d[:, None], 3, axis=1)
    if d.shape != (2, 3):
        raise LUTError(f"LUT domain must have shape (2, 3), got {d.shape}")
    if not np.all(np.isfinite(d)) or np.any(d[0] >= d[1]):
        raise LUTError(f"LUT domain must be finite with min < max per channel, got min {d[0].tolist()} max {d[1].tolist()}")
    if domain_too_narrow(d[0], d[1]):
        raise LUTError(f"LUT domain min {d[0].tolist()} max {d[1].tolist()} spans less than {MIN_DOMAIN_SPAN:g} of its "
                       "magnitude: too narrow to sample in float32")
    d.setflags(write=False)
    return d


def _finite_table(t: np.ndarray, what: str) -> None:
    if not np.all(np.isfinite(t)):
        raise LUTError(f"{what} table contains NaN or infinite values")


@dataclass(frozen=True, eq=False)
class _TableLUT:
    """What :class:`LUT1D` and :class:`LUT3D` share: a read-only float32 table over an input
    domain, a name and comments; equal when the same kind with equal table and domain."""

    table: np.ndarray
    domain: np.ndarray = field(default_factory=lambda: _domain(None))
    name: str = ""
    comments: tuple[str, ...] = ()

    def _store(self, table: np.ndarray) -> None:
        """Keep the checked table (made read-only) and normalise domain and comments."""
        table.setflags(write=False)
        object.__setattr__(self, "table", table)
        object.__setattr__(self, "domain", _domain(self.domain))
        object.__setattr__(self, "comments", tuple(self.comments))

    @property
    def size(self) -> int:
        """Entries per channel (1D) or points per axis (3D)."""
        return int(self.table.shape[0])

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is type(self)
            and np.array_equal(self.table, other.table)
            and np.array_equal(self.domain, other.domain)
        )

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True, eq=False)
class LUT3D(_TableLUT):
    """A 3D LUT.

    Parameters
    ----------
    table : ndarray, shape (N, N, N, 3), float32
        Output RGB at grid node ``[i_r, i_g, i_b]``; N in 2-256.
    domain : array_like, shape (2, 3), float64
        Input values mapped to the first and last node per channel (default 0-1).
    name : str
        Title.
    comments : tuple of str
        Free-text comments kept through read/write.

    Raises
    ------
    LUTError
        Bad shape, size outside 2-256, non-finite values, inverted domain.
    """

    def __post_init__(self) -> None:
        t = np.ascontiguousarray(self.table, dtype=np.float32)
        if t.ndim != 4 or t.shape[3] != 3 or not (t.shape[0] == t.shape[1] == t.shape[2]):
            raise LUTError(f"3D LUT table must have shape (N, N, N, 3), got {t.shape}")
        if not MIN_LUT_SIZE <= t.shape[0] <= MAX_LUT3D_SIZE:
            raise LUTError(f"3D LUT size must be {MIN_LUT_SIZE}-{MAX_LUT3D_SIZE}, got {t.shape[0]}")
        _finite_table(t, "3D LUT")
        self._store(t)

    @classmethod
    def identity(cls, size: int = 33, domain: object = None, name: str = "") -> "LUT3D":
        """The identity LUT of ``size`` points per axis over ``domain``."""
        d = _domain(domain)
        axes = [np.linspace(d[0, c], d[1, c], int(size)) for c in range(3)]
        r, g, b = np.meshgrid(*axes, indexing="ij")
        return cls(np.stack([r, g, b], axis=-1), d, name)

    def grid(self) -> np.ndarray:
        """Input RGB of every node, shape (N, N, N, 3), float64 (the identity table)."""
        axes = [np.linspace(self.domain[0, c], self.domain[1, c], self.size) for c in range(3)]
        return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)

    def apply(
        self, rgb: np.ndarray, interpolation: str = "tetrahedral", *, chunk_pixels: int = DEFAULT_CHUNK_PIXELS
    ) -> np.ndarray:
        """Apply the LUT.

        Parameters
        ----------
        rgb : ndarray, shape (..., 3), float32 (float64 accepted)
            Input in the LUT's input encoding; values outside the domain are clamped to it
            (as colour-science does).
        interpolation : {"tetrahedral", "trilinear"}
        chunk_pixels : int
            Pixels per chunk; temporary memory is about ``12 * chunk_pixels`` bytes.

        Returns
        -------
        ndarray, shape (..., 3), float32 (float64 for float64 input)
            A new array; NaN pixels stay NaN.

        Raises
        ------
        UsageError
            Unknown interpolation or last axis not 3.
        """
        from l2tech.color import _kernels  # noqa: PLC0415 (numba compile on first use)

        method = INTERPOLATIONS[interpolation]
        arr = np.asarray(rgb)
        if arr.ndim == 0 or arr.shape[-1] != 3:
            raise UsageError(f"LUT input must have shape (..., 3), got {arr.shape}")
        dtype = np.float64 if arr.dtype == np.float64 else np.float32
        flat = arr.reshape(-1, 3)
        out = np.empty(flat.shape, dtype=dtype)
        lo = np.ascontiguousarray(self.domain[0])
        scale = 1.0 / (self.domain[1] - self.domain[0])
        table = np.ascontiguousarray(self.table)  # the kernels index it raveled
        step = max(1, int(chunk_pixels))
        for start in range(0, flat.shape[0], step):
            chunk = np.ascontiguousarray(flat[start : start + step], dtype=dtype)
            kernel = _kernels.lut3d_tetrahedral if method == "tetrahedral" else _kernels.lut3d_trilinear
            kernel(chunk, table, lo, scale, out[start : start + step])
        return out.reshape(arr.shape)

    def resample(self, size: int, interpolation: str = "tetrahedral") -> "LUT3D":
        """This LUT evaluated on a ``size``-point grid over the same domain."""
        if not MIN_LUT_SIZE <= int(size) <= MAX_LUT3D_SIZE:
            raise UsageError(f"3D LUT size must be {MIN_LUT_SIZE}-{MAX_LUT3D_SIZE}, got {size}")
        grid = LUT3D.identity(int(size), self.domain).table
        return LUT3D(self.apply(grid, interpolation), self.domain, self.name, self.comments)


@dataclass(frozen=True, eq=False)
class LUT1D(_TableLUT):
    """A per-channel 1D LUT with linear interpolation.

    Parameters
    ----------
    table : ndarray, shape (N, 3) or (N,), float32
        Output per channel at N evenly spaced inputs over ``domain``; N in 2-65536. A (N,)
        table is broadcast to 3 channels.
    domain : array_like, shape (2, 3)
        Input mapped to the first and last entry per channel (default 0-1).
    name, comments
        As :class:`LUT3D`.

    Raises
    ------
    LUTError
        Bad shape or size, non-finite values, inverted domain.
    """

    def __post_init__(self) -> None:
        t = np.asarray(self.table, dtype=np.float32)
        if t.ndim == 1:
            t = np.repeat(t[:, None], 3, axis=1)
        if t.ndim != 2 or t.shape[1] != 3:
            raise LUTError(f"1D LUT table must have shape (N, 3), got {t.shape}")
        if not MIN_LUT_SIZE <= t.shape[0] <= MAX_LUT1D_SIZE:
            raise LUTError(f"1D LUT size must be {MIN_LUT_SIZE}-{MAX_LUT1D_SIZE}, got {t.shape[0]}")
        _finite_table(t, "1D LUT")
        self._store(np.ascontiguousarray(t))

    def apply(self, rgb: np.ndarray, interpolation: str = "linear") -> np.ndarray:
        """Apply per channel with linear interpolation; inputs outside the domain clamp to the ends.

        Parameters
        ----------
        rgb : ndarray, shape (..., 3), float32 or float64
        interpolation : str
            Ignored beyond "linear" (accepted so 1D and 3D LUTs share a signature).

        Returns
        -------
        ndarray, shape (..., 3), float32 (float64 for float64 input)
        """
        arr = np.asarray(rgb)
        if arr.ndim == 0 or arr.shape[-1] != 3:
            raise UsageError(f"LUT input must have shape (..., 3), got {arr.shape}")
        dtype = np.float64 if arr.dtype == np.float64 else np.float32
        out = np.empty(arr.shape, dtype=dtype)
        for c in range(3):
            xp = np.linspace(self.domain[0, c], self.domain[1, c], self.size)
            out[..., c] = np.interp(arr[..., c], xp, self.table[:, c])
        return out


@dataclass(frozen=True, eq=False)
class LUTSequence:
    """LUT steps applied in order (e.g. a ``.cube`` 1D shaper followed by its 3D cube).

    Parameters
    ----------
    steps : tuple of LUT1D / LUT3D
    name : str
    """

    steps: tuple[Union[LUT1D, LUT3D], ...]
    name: str = ""
    comments: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", tuple(self.steps))
        object.__setattr__(self, "comments", tuple(self.comments))
        if not self.steps:
            raise LUTError("a LUT sequence needs at least one step")

    def apply(self, rgb: np.ndarray, interpolation: str = "tetrahedral") -> np.ndarray:
        """Apply every step in order; same array contract as :meth:`LUT3D.apply`."""
        out = np.asarray(rgb)
        for step in self.steps:
            out = step.apply(out, interpolation)
        return out

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LUTSequence) and len(self.steps) == len(other.steps) and all(
            a == b for a, b in zip(self.steps, other.steps)
        )

    __hash__ = None  # type: ignore[assignment]


LUT = Union[LUT1D, LUT3D, LUTSequence]


def apply_lut(
    image: np.ndarray,
    lut: LUT,
    *,
    shaper: str | LUT1D | None = None,
    interpolation: str = "tetrahedral",
) -> np.ndarray:
    """Apply a LUT to an image, through an optional shaper.

    Parameters
    ----------
    image : ndarray, shape (..., 3), float32
        Pixels in the encoding the LUT expects, or, with ``shaper``, in the encoding the
        shaper expects (e.g. scene-linear with values beyond 1).
    lut : LUT1D, LUT3D or LUTSequence
    shaper : str, LUT1D or None
        A key of :data:`l2tech.color.LOG_ENCODINGS` (the image is encoded with it first, e.g.
        ``"V-Log"`` for a LUT built on V-Log input) or a 1D LUT applied first.
    interpolation : {"tetrahedral", "trilinear"}

    Returns
    -------
    ndarray, shape (..., 3), float32 (float64 for float64 input)

    Raises
    ------
    UsageError
        Unknown shaper encoding or interpolation.
    """
    from l2tech.color.transfer import encode  # noqa: PLC0415

    x = np.asarray(image)
    if isinstance(shaper, str):
        x = encode(x, shaper)
    elif isinstance(shaper, LUT1D):
        x = shaper.apply(x)
    elif shaper is not None:
        raise UsageError(f"shaper must be an encoding name or a LUT1D, got {type(shaper).__name__}")
    return lut.apply(x, interpolation)
