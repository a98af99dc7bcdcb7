"""The l2tech error hierarchy.

Every failure l2tech reports is an :class:`L2Error`. Each subclass also inherits the
matching builtin (the model is PyAV's ``InvalidDataError(FFmpegError, ValueError)``), so
callers can catch either. Messages are one line: the file (and line, for text formats), what
was expected, what was found and what to do.
"""

from __future__ import annotations

__all__ = [
    "L2Error",
    "UsageError",
    "RecipeError",
    "InputNotFoundError",
    "InputNotReadableError",
    "EmptyFileError",
    "UnsupportedFormatError",
    "CorruptInputError",
    "LimitExceededError",
    "MetadataError",
    "LensNotFoundError",
    "AmbiguousMatchError",
    "InvalidProfileError",
    "OutputExistsError",
    "AlreadyProcessedError",
    "OutputError",
    "DecodeError",
    "DependencyMissingError",
    "CalibrationError",
    "LUTError",
    "VideoError",
]


class L2Error(Exception):
    """Base class of every error l2tech raises.

    Parameters
    ----------
    message : str
        One-line description: what was expected, what was found, what to do.
    path : str or os.PathLike, optional
        The file the error is about; prefixed to the message.
    line : int, optional
        1-based line number for text formats.
    """

    exit_code = 1

    def __init__(self, message: str, path: object | None = None, line: int | None = None):
        self.path = None if path is None else str(path)
        self.line = line
        self.reason = message
        prefix = ""
        if self.path is not None:
            prefix = self.path + (f":{line}" if line is not None else "") + ": "
        super().__init__(prefix + message)


class UsageError(L2Error, ValueError):
    """The command or function was called with invalid arguments."""

    exit_code = 2


class RecipeError(UsageError):
    """A recipe or sidecar file is invalid: bad TOML, an unknown key, a wrong type or value (with file:line)."""


class InputNotReadableError(L2Error, PermissionError):
    """An input file exists but cannot be opened for reading (permissions, I/O error)."""


class EmptyFileError(L2Error, ValueError):
    """The input file has zero bytes."""


class UnsupportedFormatError(L2Error, ValueError):
    """The file's format (decided from magic bytes) is unsupported or does not match its name."""


class InputNotFoundError(UnsupportedFormatError, FileNotFoundError):
    """An input file does not exist (or is not a file).

    Also an :class:`UnsupportedFormatError` (a missing file has no format; code that tells formats
    apart catches both) and a :class:`FileNotFoundError`.
    """


class CorruptInputError(L2Error, ValueError):
    """The file is truncated or its data is invalid."""


class LimitExceededError(L2Error, ValueError):
    """A size read from a header exceeds a safety limit; refused before allocation."""


class MetadataError(L2Error, ValueError):
    """Metadata could not be read at all (individual bad fields only warn)."""


class LensNotFoundError(L2Error, LookupError):
    """No lens profile matches the shot; the message lists the closest candidates."""

    def __init__(self, message: str, path: object | None = None, candidates: tuple = ()):
        super().__init__(message, path)
        self.candidates = tuple(candidates)


class AmbiguousMatchError(LensNotFoundError):
    """Several profiles match equally well; the message lists them and how to choose."""


class InvalidProfileError(L2Error, ValueError):
    """A lens profile is invalid (bad number, or a distortion that folds the image)."""


class OutputExistsError(L2Error, FileExistsError):
    """The output exists and ``--overwrite`` was not given, or two inputs map to one output."""


class AlreadyProcessedError(L2Error, ValueError):
    """The input is already an output of l2tech (its XMP record says so); a batch skips it."""


class OutputError(L2Error, OSError):
    """The output could not be written (missing or read-only folder, disk full)."""


class DecodeError(L2Error, ValueError):
    """A decoder (LibRaw, FFmpeg, an image codec) failed on the file."""


class DependencyMissingError(L2Error, ImportError):
    """An optional dependency is missing; the message gives the exact ``pip install`` line."""


class CalibrationError(L2Error, ValueError):
    """Calibration input is insufficient or invalid (too few views, uneven flat field)."""


class LUTError(L2Error, ValueError):
    """A LUT file or LUT argument is invalid."""


class VideoError(L2Error, ValueError):
    """A video stream could not be decoded, processed or encoded."""
