"""Errors raised when a mammogram cannot be read: each names the file and the cause."""

from __future__ import annotations

import os

__all__ = [
    "CorruptPixelDataError",
    "MammogramReadError",
    "NoPixelDataError",
    "NotDicomError",
    "UnsupportedTransferSyntaxError",
]


class MammogramReadError(ValueError):
    """A mammogram file could not be read. ``str(err)`` is ``"<path>: <reason>"``.

    Attributes:
        path: the file that failed.
        reason: what went wrong, in words a user can act on.
    """

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class NotDicomError(MammogramReadError):
    """The file is not DICOM (no ``DICM`` preamble and not parseable as a bare dataset)."""


class NoPixelDataError(MammogramReadError):
    """The DICOM file has no Pixel Data element (for example a structured report or a presentation state)."""


class UnsupportedTransferSyntaxError(MammogramReadError):
    """No installed decoder handles the file's transfer syntax; the message says which package would."""


class CorruptPixelDataError(MammogramReadError):
    """The pixel data is truncated or cannot be decoded."""
