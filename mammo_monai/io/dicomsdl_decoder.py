"""The dicomsdl pixel decoder, wrapped so that nothing of the native binding reaches a caller unguarded.

`dicomsdl <https://github.com/tsangel/dicomsdl>`_ is a C++ DICOM library with Python bindings that decodes
RLE, JPEG (baseline, extended 12-bit, lossless), JPEG-LS and JPEG 2000 itself (libjpeg-turbo/IJG, CharLS,
OpenJPEG built in). Its RLE decoder is not safe on corrupt data (a segment that decodes past the frame corrupts
the heap and aborts the process: measured with dicomsdl 0.109.4), so the reader uses it for RLE only when forced
(:data:`mammo_monai.io.decoders.DICOMSDL_FIRST`). It is optional at run time: when it cannot be imported, for
whatever reason, :func:`dicomsdl_available` is ``False`` and the reader uses pydicom's plugins
(:mod:`mammo_monai.io.decoders`).

Every call into the binding is wrapped: any exception it raises, including a ``BaseException`` that is not an
``Exception`` (what a panic in a native extension can surface as), becomes a
:class:`~mammo_monai.io.errors.PixelDataDecodeError` naming the file; only ``KeyboardInterrupt`` and
``SystemExit`` pass through. Its output is checked against the header (Rows, Columns, SamplesPerPixel,
BitsAllocated, PixelRepresentation) before it is returned. dicomsdl's own log messages (it writes warnings
such as "Invalid SOS parameters for sequential JPEG" to stderr) go to the ``mammo_monai.io.dicomsdl`` logger
(debug level) from the first use on; dicomsdl's own logger is restored at exit.

Example:
    >>> isinstance(dicomsdl_available(), bool)
    True
"""

from __future__ import annotations

import atexit
import logging
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from pydicom import uid

from .errors import PixelDataDecodeError

__all__ = ["DICOMSDL", "DICOMSDL_SYNTAXES", "decode_with_dicomsdl", "dicomsdl_available", "expected_dtype"]

#: The decoder's name in ``meta["decoder"]`` and in ``decoder=...``.
DICOMSDL = "dicomsdl"

#: Transfer syntaxes dicomsdl 0.109 decodes and that the tests check against pydicom's plugins (the shared films,
#: pydicom's and pydicom-data's test files). Big endian, deflated and HTJ2K stay with pydicom.
DICOMSDL_SYNTAXES: frozenset[str] = frozenset(
    {
        uid.ImplicitVRLittleEndian,
        uid.ExplicitVRLittleEndian,
        uid.RLELossless,
        uid.JPEGBaseline8Bit,
        uid.JPEGExtended12Bit,
        uid.JPEGLossless,
        uid.JPEGLosslessSV1,
        uid.JPEGLSLossless,
        uid.JPEGLSNearLossless,
        uid.JPEG2000Lossless,
        uid.JPEG2000,
    }
)

logger = logging.getLogger("mammo_monai.io.dicomsdl")

_UNSET = object()
_module: Any = _UNSET  # the imported dicomsdl module, None when it cannot be imported
_import_error: str | None = None


def _forward_log(level: Any, message: str) -> None:
    """dicomsdl's logger callback: its messages go to Python logging (debug: the reader reports failures itself)."""
    logger.debug("dicomsdl %s: %s", getattr(level, "name", level), str(message).strip())


def _load() -> ModuleType | None:
    """Import dicomsdl once; ``None`` (and the reason in ``_import_error``) when that fails in any way."""
    global _module, _import_error
    if _module is not _UNSET:
        return _module
    try:
        import dicomsdl

        dicomsdl.set_logger_function(_forward_log)
        # dicomsdl keeps the callback in a C++ global; destroying it after Python has finalised hangs the exit
        # (it waits for the GIL), so hand dicomsdl its own logger back while Python is still alive
        atexit.register(dicomsdl.set_default_logger_function)
        _module = dicomsdl
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:  # ImportError, a missing shared library (OSError), a broken wheel: all mean "absent"
        _module, _import_error = None, f"{type(e).__name__}: {e}"
        logger.debug("dicomsdl unavailable, pydicom's plugins decode instead (%s)", _import_error)
    return _module


def dicomsdl_available() -> bool:
    """Whether dicomsdl imports here (checked once per process)."""
    return _load() is not None


def dicomsdl_unavailable_reason() -> str:
    """Why dicomsdl is not used (empty when it is available)."""
    return "" if _load() is not None else f"not importable ({_import_error})"


def expected_dtype(bits_allocated: int, pixel_representation: int) -> np.dtype:
    """The numpy dtype a decoder must return for one sample of ``bits_allocated`` bits (little endian)."""
    if bits_allocated not in (8, 16, 32):
        raise ValueError(f"BitsAllocated {bits_allocated} is not 8, 16 or 32")
    return np.dtype(f"<{'i' if pixel_representation else 'u'}{bits_allocated // 8}")


def decode_with_dicomsdl(
    path: str | os.PathLike,
    transfer_syntax: str,
    rows: int,
    columns: int,
    bits_allocated: int,
    pixel_representation: int,
    samples_per_pixel: int = 1,
) -> np.ndarray:
    """Decode the first frame of a single-sample DICOM file with dicomsdl, checked against the header.

    Args:
        path: the DICOM file (dicomsdl reads it itself).
        transfer_syntax: the file's transfer syntax UID (for the error message).
        rows, columns, bits_allocated, pixel_representation, samples_per_pixel: the header as pydicom read it;
            what dicomsdl reports and returns must agree with it.

    Returns:
        a ``(rows, columns)`` array of :func:`expected_dtype`.

    Raises:
        PixelDataDecodeError: dicomsdl is not importable, raised anything, or its output disagrees with the
            header; ``tried`` is ``{"dicomsdl": what happened}``.
    """
    path = Path(path)

    def fail(detail: str) -> PixelDataDecodeError:
        return PixelDataDecodeError(path, transfer_syntax, {DICOMSDL: detail})

    module = _load()
    if module is None:
        raise fail(dicomsdl_unavailable_reason())
    if samples_per_pixel != 1:
        raise fail(f"SamplesPerPixel {samples_per_pixel}: only greyscale (1) is decoded with dicomsdl")
    try:
        dtype = expected_dtype(int(bits_allocated), int(pixel_representation))
    except ValueError as e:
        raise fail(str(e)) from None
    try:
        dataset = module.open(str(path))
        info = dict(dataset.getPixelDataInfo())
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:
        raise fail(f"{type(e).__name__}: {e}") from e
    header = {"Rows": rows, "Cols": columns, "SamplesPerPixel": samples_per_pixel, "BitsAllocated": bits_allocated}
    for key, value in header.items():
        if info.get(key) != value:
            raise fail(f"dicomsdl reads {key} {info.get(key)!r}, the header says {value}")
    try:
        reported = np.dtype(info.get("dtype"))
    except TypeError:
        reported = None
    if reported is None or reported.kind != dtype.kind or reported.itemsize != dtype.itemsize:
        raise fail(f"dicomsdl would return {info.get('dtype')!r}, the header (BitsAllocated {bits_allocated}, "
                   f"PixelRepresentation {pixel_representation}) says {dtype}")
    out = np.empty((rows, columns), dtype=dtype)
    try:
        dataset.copyFrameData(0, out)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:
        raise fail(f"{type(e).__name__}: {e}") from e
    return out
