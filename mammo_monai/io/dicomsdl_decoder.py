"""The dicomsdl pixel decoder, wrapped so that nothing of the native binding reaches a caller unguarded.

`dicomsdl <https://github.com/tsangel/dicomsdl>`_ is a C++ DICOM library with Python bindings that decodes
RLE, JPEG (baseline, extended 12-bit, lossless), JPEG-LS and JPEG 2000 itself (libjpeg-turbo/IJG, CharLS,
OpenJPEG built in). Its RLE decoder is not safe on corrupt data (a segment that decodes past the frame corrupts
the heap and aborts the process: measured with dicomsdl 0.109.4), nor is its OpenJPEG on some corrupt JPEG 2000
codestreams (a segfault), so the reader uses it for RLE and JPEG 2000 only when forced
(:data:`mammo_monai.io.decoders.DICOMSDL_FIRST`). A compressed stream whose own header declares other dimensions or
more bits than the DICOM header is never given to it (it would overrun the buffer sized from the DICOM header).
It is optional at run time: when it cannot be imported, for whatever reason, :func:`dicomsdl_available` is
``False`` and the reader uses pydicom's plugins (:mod:`mammo_monai.io.decoders`).

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


_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF, 0xF7}  # 0xF7: JPEG-LS


def stream_geometry(frame: bytes) -> tuple[int, int, int, int] | None:
    r"""``(rows, columns, components, precision)`` from the header of a JPEG, JPEG-LS or JPEG 2000 codestream (its
    SOF or SIZ marker segment); ``None`` when the stream has no such header where it should be.

    Example:
        >>> siz = b"\xff\x4f\xff\x51\x00\x29\x00\x00" + (48).to_bytes(4, "big") + (64).to_bytes(4, "big")
        >>> siz += bytes(24) + (1).to_bytes(2, "big") + bytes([11, 1, 1])
        >>> stream_geometry(siz)
        (64, 48, 1, 12)
    """
    at = frame.find(b"\xff\x4f\xff\x51", 0, 4096)  # JPEG 2000: SOC + SIZ (also inside a JP2 wrapper)
    if at >= 0:
        siz = frame[at + 4 : at + 4 + 38]
        if len(siz) < 38:
            return None
        xsiz, ysiz, xo, yo = (int.from_bytes(siz[i : i + 4], "big") for i in (4, 8, 12, 16))
        components = int.from_bytes(siz[36:38], "big")
        if components < 1 or len(frame) < at + 4 + 38 + 3:
            return None
        precision = (frame[at + 42] & 0x7F) + 1
        return ysiz - yo, xsiz - xo, components, precision
    if frame[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 4 <= len(frame):
        if frame[i] != 0xFF:
            return None
        marker = frame[i + 1]
        if marker == 0xFF:
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:
            i += 2
            continue
        length = int.from_bytes(frame[i + 2 : i + 4], "big")
        if marker in _JPEG_SOF:
            if i + 10 > len(frame):
                return None
            precision = frame[i + 4]
            lines, samples = int.from_bytes(frame[i + 5 : i + 7], "big"), int.from_bytes(frame[i + 7 : i + 9], "big")
            return lines, samples, frame[i + 9], precision
        if marker == 0xDA or length < 2:
            return None
        i += 2 + length
    return None


def decode_with_dicomsdl(
    path: str | os.PathLike,
    transfer_syntax: str,
    rows: int,
    columns: int,
    bits_allocated: int,
    pixel_representation: int,
    samples_per_pixel: int = 1,
    frame: bytes | None = None,
) -> np.ndarray:
    """Decode the first frame of a single-sample DICOM file with dicomsdl, checked against the header.

    Args:
        path: the DICOM file (dicomsdl reads it itself).
        transfer_syntax: the file's transfer syntax UID (for the error message).
        rows, columns, bits_allocated, pixel_representation, samples_per_pixel: the header as pydicom read it;
            what dicomsdl reports and returns must agree with it.
        frame: the first frame's compressed stream, for a compressed syntax other than RLE. dicomsdl decodes into a
            buffer sized from the header: a stream whose own header (:func:`stream_geometry`) declares other
            dimensions or more bits than BitsAllocated would overrun it and abort the process, so such a stream
            (or one without a readable header, or none given) is refused before dicomsdl sees it.

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
    ts = uid.UID(str(transfer_syntax))
    if ts.is_compressed and ts != uid.RLELossless:
        geometry = stream_geometry(frame) if frame is not None else None
        if geometry is None:
            raise fail("no readable codestream header (SOF/SIZ) in the first frame: not given to dicomsdl")
        lines, samples, components, precision = geometry
        if (lines, samples, components) != (rows, columns, samples_per_pixel) or precision > bits_allocated:
            raise fail(f"the codestream declares {lines} x {samples} x {components} samples of {precision} bits, the "
                       f"header {rows} x {columns} x {samples_per_pixel} of {bits_allocated} bits allocated: not "
                       "given to dicomsdl")
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
