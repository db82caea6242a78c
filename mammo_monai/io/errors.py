"""The project's one error hierarchy for bad input: every failure a user can cause names the file (and the element
or line) and what is wrong.

::

    MammoInputError (ValueError)                  any input the toolkit cannot use
    ├── InputNotFoundError (+ FileNotFoundError)  a named input file or folder does not exist
    ├── InvalidRecordError                        a line of Info.txt, a row of a CSV, an entry of a datalist
    ├── OutputInsideInputError                    (io.writers) an output that would write into an input folder
    └── MammogramReadError                        an image file cannot be read (alias kept for older code)
        ├── NotDicomError
        ├── NoPixelDataError
        ├── UnsupportedTransferSyntaxError
        ├── InvalidHeaderError                    a header value that is impossible or contradicts the pixel data
        │   └── ImageTooLargeError                the header declares an image over the memory limit
        └── CorruptPixelDataError
            └── PixelDataDecodeError              every decoder failed: names the transfer syntax and each decoder

``str(err)`` is ``"<path>: <reason>"``, or ``"<path>: <element>: <reason>"`` / ``"<path>:line <n>: <reason>"`` when
the element or line is known. Catch :class:`MammoInputError` to catch them all; it is a ``ValueError``, so code that
caught ``ValueError`` keeps working.
"""

from __future__ import annotations

import os

__all__ = [
    "CorruptPixelDataError",
    "ImageTooLargeError",
    "InputNotFoundError",
    "InvalidHeaderError",
    "InvalidRecordError",
    "MammoInputError",
    "MammogramReadError",
    "NoPixelDataError",
    "NotDicomError",
    "PixelDataDecodeError",
    "UnsupportedTransferSyntaxError",
]


class MammoInputError(ValueError):
    """Some input cannot be used. ``str(err)`` names the file, the element or line when known, and the cause.

    Args:
        path: the file (or folder) at fault; when ``reason`` is omitted it is taken as the whole message.
        reason: what went wrong, in words a user can act on.
        element: the DICOM element (``"(0028,1053) RescaleSlope"``), column or key at fault, if any.
        line: the 1-based line or row number at fault, if any.

    Attributes:
        path, reason, element, line: as given (``path`` a string).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        reason: str | None = None,
        *,
        element: str | None = None,
        line: int | None = None,
    ) -> None:
        self.path = str(path)
        self.element = element
        self.line = line
        if reason is None:  # a plain message
            self.reason = self.path
            super().__init__(self.path)
            return
        self.reason = reason
        where = self.path + (f":line {line}" if line is not None else "")
        what = f"{element}: {reason}" if element else reason
        super().__init__(f"{where}: {what}")


class InputNotFoundError(MammoInputError, FileNotFoundError):
    """A named input does not exist (also a ``FileNotFoundError``, so ``except OSError`` still catches it)."""


class InvalidRecordError(MammoInputError):
    """A line of a text index (MIAS ``Info.txt``), a row of a CSV or an entry of a datalist is unusable."""


class MammogramReadError(MammoInputError):
    """A mammogram file could not be read. ``str(err)`` is ``"<path>: <reason>"``.

    Attributes:
        path: the file that failed.
        reason: what went wrong, in words a user can act on.
    """

    def __init__(self, path: str | os.PathLike, reason: str, *, element: str | None = None) -> None:
        super().__init__(path, reason, element=element)


class NotDicomError(MammogramReadError):
    """The file is not DICOM (no ``DICM`` preamble and not parseable as a bare dataset)."""


class NoPixelDataError(MammogramReadError):
    """The DICOM file has no Pixel Data element (for example a structured report or a presentation state)."""


class UnsupportedTransferSyntaxError(MammogramReadError):
    """No installed decoder handles the file's transfer syntax; the message says which package would."""


class InvalidHeaderError(MammogramReadError):
    """A header value is impossible (a NaN or zero RescaleSlope, BitsStored above BitsAllocated, ...) or contradicts
    the pixel data (Rows x Columns x samples disagreeing with the Pixel Data length); ``element`` names it."""


class ImageTooLargeError(InvalidHeaderError):
    """The header declares an image larger than the memory limit; refused before anything is allocated.

    Attributes:
        nbytes: what the decoded image would take.
        limit: the limit in force (see :func:`mammo_monai.io.dicom.max_image_bytes`).
    """

    def __init__(self, path: str | os.PathLike, reason: str, nbytes: int, limit: int) -> None:
        self.nbytes, self.limit = int(nbytes), int(limit)
        super().__init__(path, reason, element="(0028,0010/0011) Rows x Columns")


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
