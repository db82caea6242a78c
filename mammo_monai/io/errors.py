"""Errors raised when a mammogram cannot be read: each names the file and the cause."""

from __future__ import annotations

import os

__all__ = [
    "CorruptPixelDataError",
    "MammogramReadError",
    "NoPixelDataError",
    "NotDicomError",
    "PixelDataDecodeError",
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


class PixelDataDecodeError(CorruptPixelDataError):
    """Every decoder tried failed on the pixel data (or gave an array that contradicts the header).

    ``str(err)`` is ``"<path>: <reason>"``; the reason names the transfer syntax and each decoder tried with
    what it said.

    Attributes:
        transfer_syntax: the file's transfer syntax UID.
        tried: ``{decoder name: what went wrong}``, in the order the decoders were tried.
    """

    def __init__(self, path: str | os.PathLike, transfer_syntax: str, tried: dict[str, str], reason: str = "") -> None:
        self.transfer_syntax = str(transfer_syntax)
        self.tried = dict(tried)
        name = getattr(transfer_syntax, "name", "") or self.transfer_syntax
        syntax = f"{name} ({self.transfer_syntax})" if name != self.transfer_syntax else self.transfer_syntax
        attempts = "; ".join(f"{decoder}: {detail}" for decoder, detail in self.tried.items()) or "none"
        reason = reason or "truncated or corrupt pixel data, or a stream no tried decoder accepts"
        super().__init__(path, f"{reason} (transfer syntax {syntax}; decoders tried: {attempts})")
