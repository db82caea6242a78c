"""Which decoder reads the pixel data of each DICOM transfer syntax, and the one function that decodes it.

:func:`decode_pixel_data` is what :func:`~mammo_monai.io.dicom.read_dicom_mammogram` calls. By default
(``decoder=None``) it tries, in order:

1. **dicomsdl** (:mod:`mammo_monai.io.dicomsdl_decoder`) for the compressed syntaxes it decodes safely
   (:data:`DICOMSDL_FIRST`: JPEG, JPEG-LS; not RLE nor JPEG 2000, see there), when it imports (it is optional at
   run time);
2. **pydicom** with the fastest installed plugin for the syntax (below), then any installed plugin.

Uncompressed (native) little-endian pixel data is read by pydicom: the reader has its bytes in memory already,
so there is nothing to decode. ``decoder="dicomsdl"`` or ``decoder="pydicom"`` forces one path (for comparisons
and tests; dicomsdl forced on RLE only for trusted files: a corrupt RLE stream aborts the process);
``decoding_plugin`` forces one pydicom plugin. ``meta["decoder"]`` says which one ran:
``"dicomsdl"``, a pydicom plugin name (``"pylibjpeg"``, ``"gdcm"``, ...) or ``"native"``.

pydicom ships several decoding plugins per compressed transfer syntax and, left alone, tries them in
its own order (for RLE its pure-numpy decoder comes first). Measured here on a 16-bit 4000x3000 CBIS-DDSM
RLE mammogram, pydicom's own RLE decoder took 646 ms and pylibjpeg-rle 64 ms, so we rank plugins by
speed (``scripts/bench/bench_dicom_read.py`` re-measures) and fall back down the list to whatever is
installed (single-frame greyscale RLE even goes to pylibjpeg-rle directly, see :func:`_decode_rle_direct`):

=====================  ====================================================================
transfer syntax         decoders, in the order tried
=====================  ====================================================================
RLE Lossless            pylibjpeg (pylibjpeg-rle), pydicom (numpy); not dicomsdl (see DICOMSDL_FIRST)
JPEG baseline/extended  dicomsdl, pylibjpeg (libjpeg), gdcm, pillow
JPEG lossless (P14)     dicomsdl, pylibjpeg (libjpeg), gdcm
JPEG-LS                 dicomsdl, pyjpegls (CharLS), pylibjpeg (libjpeg), gdcm
JPEG 2000               pylibjpeg (openjpeg), gdcm, pillow; not dicomsdl (see DICOMSDL_FIRST)
HTJ2K                   pylibjpeg (openjpeg), gdcm, pillow
=====================  ====================================================================

Both paths give the same arrays on every shared film and on pydicom's test files (``tests/io``), except DCT
JPEG (baseline 8-bit, extended 12-bit), where the IDCTs of dicomsdl (IJG) and pylibjpeg (libjpeg) differ by at
most :data:`LOSSY_DECODE_TOLERANCE` per pixel. A sequential DCT JPEG whose scan header says Ss/Se other than
0/63 (an encoder bug that IJG ignores, e.g. pydicom's ``JPEG-lossy.dcm``) is rejected by libjpeg; the pydicom
path then retries with the scan header repaired (:func:`repair_sequential_jpeg_scan`).

Example:
    >>> from pydicom.uid import RLELossless
    >>> select_decoder(RLELossless)
    'pylibjpeg'
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
from pydicom import uid
from pydicom.dataset import Dataset

from .dicomsdl_decoder import (
    DICOMSDL,
    DICOMSDL_SYNTAXES,
    decode_with_dicomsdl,
    dicomsdl_available,
    dicomsdl_unavailable_reason,
)
from .errors import MammoInputError, PixelDataDecodeError, UnsupportedTransferSyntaxError

__all__ = [
    "DECODERS",
    "DECODER_PREFERENCE",
    "LOSSY_DECODE_TOLERANCE",
    "PACKAGES_FOR_SYNTAX",
    "V2_HANDLER_NAMES",
    "available_decoders",
    "decode_pixel_data",
    "decoder_order",
    "repair_sequential_jpeg_scan",
    "select_decoder",
    "transfer_syntax_of",
]

logger = logging.getLogger(__name__)

#: The values of ``decoder=``: ``None``/``"auto"`` (dicomsdl first, then pydicom), or one path only.
DECODERS = ("auto", DICOMSDL, "pydicom")

_JPEG_LOSSY = (uid.JPEGBaseline8Bit, uid.JPEGExtended12Bit)
_JPEG_LOSSLESS = (uid.JPEGLossless, uid.JPEGLosslessSV1)
_JPEG_LS = (uid.JPEGLSLossless, uid.JPEGLSNearLossless)
_J2K = (uid.JPEG2000Lossless, uid.JPEG2000)
_HTJ2K = tuple(
    getattr(uid, name)
    for name in ("HTJ2KLossless", "HTJ2KLosslessRPCL", "HTJ2K")
    if hasattr(uid, name)
)

DECODER_PREFERENCE: dict[str, tuple[str, ...]] = {uid.RLELossless: ("pylibjpeg", "pydicom")}
DECODER_PREFERENCE.update(dict.fromkeys(_JPEG_LOSSY, ("pylibjpeg", "gdcm", "pillow")))
DECODER_PREFERENCE.update(dict.fromkeys(_JPEG_LOSSLESS, ("pylibjpeg", "gdcm")))
DECODER_PREFERENCE.update(dict.fromkeys(_JPEG_LS, ("pyjpegls", "pylibjpeg", "gdcm")))
DECODER_PREFERENCE.update(dict.fromkeys(_J2K + _HTJ2K, ("pylibjpeg", "gdcm", "pillow")))

#: Compressed syntaxes dicomsdl decodes first by default. Not native pixel data (pydicom has its bytes in memory:
#: nothing to decode), not RLE: dicomsdl 0.109's RLE decoder writes past its buffer on a segment that decodes to
#: more bytes than the frame holds (a corrupt file) and the process aborts ("double free or corruption"), which
#: nothing can catch; pylibjpeg-rle raises instead (a Rust panic, caught) and is as fast on the CBIS-DDSM films.
#: And not JPEG 2000: dicomsdl's OpenJPEG segfaults on some corrupt codestreams (bit flips in a JPEG 2000 crop of the
#: shared DDSM film, found by ``scripts/fuzz.py``), where pylibjpeg-openjpeg raises; both take 2.6-2.9 s on the
#: 4664 x 3064 film.
DICOMSDL_FIRST: frozenset[str] = frozenset(
    ts for ts in DICOMSDL_SYNTAXES
    if uid.UID(ts).is_compressed and ts not in (uid.RLELossless, uid.JPEG2000Lossless, uid.JPEG2000)
)

#: Largest difference per pixel between dicomsdl and pydicom's plugins on lossy syntaxes, measured on pydicom's
#: JPEG files (IJG vs libjpeg IDCT rounding); lossless syntaxes and JPEG 2000 (OpenJPEG in both) must be equal.
LOSSY_DECODE_TOLERANCE: dict[str, int] = dict.fromkeys(_JPEG_LOSSY, 1)

#: The pip packages that would decode each compressed syntax, for the error message when none is installed.
PACKAGES_FOR_SYNTAX: dict[str, str] = {uid.RLELossless: "pylibjpeg + pylibjpeg-rle"}
PACKAGES_FOR_SYNTAX.update(dict.fromkeys(_JPEG_LOSSY + _JPEG_LOSSLESS, "pylibjpeg + pylibjpeg-libjpeg"))
PACKAGES_FOR_SYNTAX.update(dict.fromkeys(_JPEG_LS, "pylibjpeg + pylibjpeg-libjpeg (or pyjpegls)"))
PACKAGES_FOR_SYNTAX.update(dict.fromkeys(_J2K + _HTJ2K, "pylibjpeg + pylibjpeg-openjpeg"))


try:
    from pydicom.pixels import get_decoder
except ImportError:  # pydicom < 3: handlers live in pydicom.config.pixel_data_handlers
    get_decoder = None

#: pydicom 2 handler module -> the pydicom 3 plugin name used here (and back, for ``convert_pixel_data``).
_V2_HANDLERS = {
    "pylibjpeg_handler": "pylibjpeg",
    "rle_handler": "pydicom",
    "gdcm_handler": "gdcm",
    "pillow_handler": "pillow",
    "jpeg_ls_handler": "pyjpegls",
}
V2_HANDLER_NAMES = {"pylibjpeg": "pylibjpeg", "pydicom": "rle", "gdcm": "gdcm", "pillow": "pillow",
                    "pyjpegls": "jpeg_ls"}


def available_decoders(transfer_syntax: str) -> tuple[str, ...]:
    """Names of the installed decoding plugins for ``transfer_syntax`` (pydicom 3 plugin names; on pydicom 2
    its handlers, under the same names). Empty when none."""
    ts = uid.UID(transfer_syntax)
    if get_decoder is None:
        import pydicom.config

        names = []
        for handler in pydicom.config.pixel_data_handlers:
            name = _V2_HANDLERS.get(handler.__name__.rsplit(".", 1)[-1])
            try:
                if name and handler.is_available() and handler.supports_transfer_syntax(ts):
                    names.append(name)
            except Exception:  # a half-installed handler must not break the choice
                continue
        return tuple(names)
    try:
        decoder = get_decoder(ts)
    except NotImplementedError:
        return ()
    return tuple(decoder.available_plugins)


def select_decoder(transfer_syntax: str) -> str | None:
    """The fastest installed plugin for a compressed ``transfer_syntax``.

    Returns ``None`` for native (uncompressed) syntaxes and when no preference is known but pydicom has
    a plugin (pydicom then picks). Raises ``LookupError`` when no installed plugin decodes the syntax.
    """
    ts = uid.UID(transfer_syntax)
    if not ts.is_compressed:
        return None
    installed = available_decoders(ts)
    for name in DECODER_PREFERENCE.get(ts, ()):
        if name in installed:
            return name
    if installed:
        return None
    raise LookupError(
        f"no installed decoder for transfer syntax {ts.name} ({ts}); "
        f"install {PACKAGES_FOR_SYNTAX.get(ts, 'python-gdcm')}"
    )


try:  # pydicom >= 3
    from pydicom.pixels import pixel_array as _pixel_array
except ImportError:  # pydicom 2.x: Dataset.convert_pixel_data with a handler name
    _pixel_array = None


def transfer_syntax_of(ds: Dataset) -> uid.UID:
    """The dataset's transfer syntax (Implicit VR Little Endian when its file meta has none)."""
    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    return uid.UID(syntax) if syntax else uid.ImplicitVRLittleEndian


def decoder_order(transfer_syntax: str, decoder: str | None = None) -> tuple[str, ...]:
    """The decoders :func:`decode_pixel_data` tries for ``transfer_syntax``, in order: ``"dicomsdl"`` and the
    installed pydicom plugins (``"native"`` for uncompressed data). Empty when nothing installed decodes it.

    Example:
        >>> decoder_order("1.2.840.10008.1.2.1")
        ('native',)
    """
    ts = uid.UID(transfer_syntax)
    decoder = _check_decoder(decoder)
    order: list[str] = []
    if decoder == DICOMSDL or (decoder == "auto" and ts in DICOMSDL_FIRST):
        if ts in DICOMSDL_SYNTAXES and dicomsdl_available():
            order.append(DICOMSDL)
    if decoder != DICOMSDL:
        if not ts.is_compressed:
            order.append("native")
        else:
            installed = available_decoders(ts)
            order += [name for name in DECODER_PREFERENCE.get(ts, ()) if name in installed]
            order += [name for name in installed if name not in order]
    return tuple(order)


def _check_decoder(decoder: str | None) -> str:
    decoder = "auto" if decoder is None else str(decoder)
    if decoder not in DECODERS:
        raise ValueError(f"decoder={decoder!r}: expected None or one of {DECODERS}")
    return decoder


def repair_sequential_jpeg_scan(frame: bytes) -> bytes | None:
    """A sequential DCT JPEG stream (SOF0/SOF1) with its scan header's spectral selection set to the only values
    sequential JPEG allows (Ss=0, Se=63, Ah=Al=0); ``None`` when the stream is not sequential DCT or already right.

    Some encoders write Se=0 (pydicom's ``JPEG-lossy.dcm``, JPEG Extended 12-bit): IJG-based decoders warn and
    decode it, libjpeg (pylibjpeg) refuses it. Nothing else in the stream changes.

    Example:
        >>> repair_sequential_jpeg_scan(b"not a jpeg") is None
        True
    """
    data = bytearray(frame)
    if data[:2] != b"\xff\xd8":
        return None
    i, sequential = 2, False
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            i += 2
            continue
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if marker in (0xC0, 0xC1):
            sequential = True
        elif 0xC2 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return None  # progressive, lossless or hierarchical: their Ss/Se mean something else
        if marker == 0xDA:
            if not sequential or length < 6:
                return None
            spectral = i + 4 + 1 + 2 * data[i + 4]
            if spectral + 3 > i + 2 + length or data[spectral : spectral + 3] == b"\x00\x3f\x00":
                return None
            data[spectral : spectral + 3] = b"\x00\x3f\x00"
            return bytes(data)
        i += 2 + length
    return None


def _first_frame(ds: Dataset) -> bytes:
    try:
        from pydicom.encaps import generate_frames

        return next(generate_frames(ds.PixelData, number_of_frames=1))
    except ImportError:  # pydicom 2
        from pydicom.encaps import generate_pixel_data_frame

        return next(generate_pixel_data_frame(ds.PixelData, 1))


def _decode_rle_direct(ds: Dataset) -> np.ndarray | None:
    """Single-frame greyscale RLE straight through pylibjpeg-rle, skipping pydicom's pixel pipeline.

    Measured on the 4432 x 2864 CBIS-DDSM RLE mammograms: pydicom's ``pixel_array`` with the same
    pylibjpeg-rle plugin spends about 10 ms (of ~48) re-buffering and reshaping around the 35-38 ms decode;
    calling the decoder on the frame and viewing its output as the array removes that. ``None`` when the
    file is not a case this handles (the caller then uses pydicom).
    """
    if int(ds.get("NumberOfFrames", 1) or 1) != 1 or int(ds.get("SamplesPerPixel", 1)) != 1:
        return None
    bits = int(ds.get("BitsAllocated", 0))
    if bits not in (8, 16):
        return None
    try:
        from rle.utils import decode_frame
    except ImportError:
        return None
    frame = _first_frame(ds)
    rows, cols = int(ds.Rows), int(ds.Columns)
    dtype = np.dtype(f"<{'i' if int(ds.get('PixelRepresentation', 0)) else 'u'}{bits // 8}")
    buffer = decode_frame(frame, rows * cols, bits, "<")
    return np.frombuffer(buffer, dtype=dtype).reshape(rows, cols)


def _pydicom_pixel_array(ds: Dataset, plugin: str | None) -> np.ndarray:
    if _pixel_array is not None:
        return _pixel_array(ds, decoding_plugin=plugin or "")
    ds.convert_pixel_data(handler_name=V2_HANDLER_NAMES.get(plugin, "") if plugin else "")  # pydicom 2.x
    return ds.pixel_array


def _with_repaired_scan(ds: Dataset, plugin: str | None) -> np.ndarray | None:
    """Decode a single-frame DCT JPEG again with its scan header repaired; ``None`` when there is nothing to repair."""
    if int(ds.get("NumberOfFrames", 1) or 1) != 1:
        return None
    from pydicom.encaps import encapsulate

    repaired = repair_sequential_jpeg_scan(_first_frame(ds))
    if repaired is None:
        return None
    original = ds.PixelData
    try:
        ds.PixelData = encapsulate([repaired])
        return _pydicom_pixel_array(ds, plugin)
    finally:
        ds.PixelData = original


def _decode_with_pydicom(
    ds: Dataset, path: Path, ts: uid.UID, decoding_plugin: str | None, tried: dict[str, str]
) -> tuple[np.ndarray, str]:
    """pydicom with the requested or fastest plugin; when the automatically chosen one fails (some encoders
    write streams one library rejects and another accepts), retry with every installed plugin."""
    forced = decoding_plugin is not None
    if not forced:
        try:
            decoding_plugin = select_decoder(ts)
        except LookupError as e:
            if tried:  # dicomsdl tried and failed, and pydicom has nothing for it
                raise PixelDataDecodeError(path, ts, {**tried, "pydicom": str(e)}) from None
            why_not = dicomsdl_unavailable_reason() if ts in DICOMSDL_SYNTAXES else "does not decode it"
            raise UnsupportedTransferSyntaxError(path, f"{e} (dicomsdl: {why_not or 'not tried'})") from None
    attempts = [decoding_plugin] if forced or not decoding_plugin else [decoding_plugin, None]
    if ts == uid.RLELossless and decoding_plugin == "pylibjpeg":
        try:
            arr = _decode_rle_direct(ds)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as e:  # a damaged stream (pylibjpeg-rle panics: a BaseException): pydicom reports it
            tried["pylibjpeg-rle"] = f"{type(e).__name__}: {e}"
            arr = None
        if arr is not None:
            return arr, "pylibjpeg"
    for plugin in attempts:
        name = plugin or ("native" if not ts.is_compressed else "pydicom (any installed plugin)")
        try:
            arr = _pydicom_pixel_array(ds, plugin)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as e:  # the plugins are native code too: a Rust panic is not an Exception
            tried[name] = f"{type(e).__name__}: {e}"
            continue
        return arr, ("pydicom-default" if name.startswith("pydicom (") else name)
    if ts in _JPEG_LOSSY:
        try:
            arr = _with_repaired_scan(ds, attempts[0])
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as e:
            tried[f"{attempts[0] or 'pydicom'} (scan header repaired)"] = f"{type(e).__name__}: {e}"
            arr = None
        if arr is not None:
            logger.info("%s: sequential JPEG scan header Ss/Se repaired to 0/63 for %s", path, attempts[0])
            return arr, attempts[0] or "pydicom-default"
    detail = "; ".join(tried.values()).lower()
    if forced and "plugin" in detail and ("available" in detail or "missing" in detail):
        raise UnsupportedTransferSyntaxError(
            path, f"cannot decode {ts.name} ({ts}) with decoding_plugin={decoding_plugin!r}: "
                  + "; ".join(f"{k}: {v}" for k, v in tried.items()))
    raise PixelDataDecodeError(path, ts, tried)


def decode_pixel_data(
    ds: Dataset,
    path: str | os.PathLike,
    decoder: str | None = None,
    decoding_plugin: str | None = None,
) -> tuple[np.ndarray, str]:
    """Decode the (first frame of the) pixel data of ``ds``, read from ``path``: dicomsdl first where it decodes
    the transfer syntax, else or on its failure pydicom's plugins (see the module docstring).

    Args:
        ds: the dataset as pydicom read it, pixel data included (the pydicom path decodes from it; dicomsdl reads
            ``path`` itself).
        path: the file, for dicomsdl and for the error messages.
        decoder: ``None``/``"auto"``, or ``"dicomsdl"`` / ``"pydicom"`` to use that path only.
        decoding_plugin: force one pydicom plugin (``"pylibjpeg"``, ``"gdcm"``, ``"pydicom"``, ...); implies
            ``decoder="pydicom"``.

    Returns:
        ``(array, name)``: the stored values as decoded (no LUT applied) and the decoder that ran
        (``"dicomsdl"``, a pydicom plugin name, or ``"native"``).

    Raises:
        UnsupportedTransferSyntaxError: nothing installed decodes the transfer syntax (or the forced decoder
            does not); the message says what would.
        PixelDataDecodeError: every decoder tried failed; the message names the file, the transfer syntax and
            each decoder tried with what it said.
        ValueError: an unknown ``decoder`` or ``decoder="dicomsdl"`` with a ``decoding_plugin``.
    """
    path = Path(path)
    decoder = _check_decoder(decoder)
    ts = transfer_syntax_of(ds)
    if decoding_plugin is not None:
        if decoder == DICOMSDL:
            raise ValueError(f"decoding_plugin={decoding_plugin!r} is a pydicom plugin: it needs decoder='pydicom'")
        decoder = "pydicom"
    if decoder == DICOMSDL:
        if ts not in DICOMSDL_SYNTAXES:
            raise UnsupportedTransferSyntaxError(
                path, f"decoder='dicomsdl' does not decode {ts.name} ({ts}); use the default decoder")
        if not dicomsdl_available():
            raise UnsupportedTransferSyntaxError(
                path, f"decoder='dicomsdl' but dicomsdl is {dicomsdl_unavailable_reason()}; pip install dicomsdl")
    tried: dict[str, str] = {}
    try:
        return _decode(ds, path, ts, decoder, decoding_plugin, tried)
    except (MammoInputError, KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:  # anything a binding raises outside the guarded calls (a panic included)
        tried["decoding"] = f"{type(e).__name__}: {e}"
        raise PixelDataDecodeError(path, ts, tried) from e


def _decode(
    ds: Dataset, path: Path, ts: uid.UID, decoder: str, decoding_plugin: str | None, tried: dict[str, str]
) -> tuple[np.ndarray, str]:
    if DICOMSDL in decoder_order(ts, decoder):
        try:
            frame = None
            if ts.is_compressed and ts != uid.RLELossless:
                try:
                    frame = _first_frame(ds)
                except (KeyboardInterrupt, SystemExit):
                    raise
                except BaseException:  # broken encapsulation: dicomsdl is not given it, pydicom reports it
                    frame = None
            arr = decode_with_dicomsdl(
                path,
                ts,
                rows=int(ds.Rows),
                columns=int(ds.Columns),
                bits_allocated=int(ds.get("BitsAllocated", 0) or 0),
                pixel_representation=int(ds.get("PixelRepresentation", 0) or 0),
                samples_per_pixel=int(ds.get("SamplesPerPixel", 1) or 1),
                frame=frame,
            )
            return arr, DICOMSDL
        except PixelDataDecodeError as e:
            if decoder == DICOMSDL:
                raise
            tried.update(e.tried)
            logger.info("%s: dicomsdl failed (%s); trying pydicom's plugins", path, e.tried.get(DICOMSDL))
    return _decode_with_pydicom(ds, path, ts, decoding_plugin, tried)
