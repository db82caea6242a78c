"""Reading a mammography DICOM into a 2D array with its metadata, the way a radiologist would see it.

Steps, in DICOM order (PS3.3 C.11):

1. decode the pixel data: dicomsdl where it decodes the transfer syntax, else pydicom's fastest installed
   plugin (:func:`mammo_monai.io.decoders.decode_pixel_data`);
2. apply the Modality LUT (RescaleSlope/RescaleIntercept or a Modality LUT Sequence) when the file has
   a non-identity one;
3. on request, apply the VOI LUT Sequence or the first window (WindowCenter/WindowWidth) of the file;
4. invert MONOCHROME1 so that dense tissue is always bright, within the value range the previous steps
   can produce (so no dynamic range is lost and nothing is squeezed to 8 bits).

Integer data stays integer (a 16-bit CBIS-DDSM image comes back as ``uint16``); a fractional rescale
or a VOI step returns ``float32``.

Example:
    >>> arr, meta = read_dicom_mammogram("Mass-Test_P_00173_LEFT_CC.dcm")  # doctest: +SKIP
    >>> arr.shape, arr.dtype, meta["laterality"], meta["view"]  # doctest: +SKIP
    ((4432, 2864), dtype('uint16'), 'L', 'CC')
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from .decoders import decode_pixel_data
from .errors import (
    CorruptPixelDataError,
    ImageTooLargeError,
    InputNotFoundError,
    InvalidHeaderError,
    MammogramReadError,
    MammoInputError,
    NoPixelDataError,
    NotDicomError,
)
from .metadata import MetaKeys, dicom_metadata

try:  # pydicom >= 3
    from pydicom.pixels import apply_modality_lut
    from pydicom.pixels import apply_voi_lut as _apply_voi_lut
except ImportError:  # pydicom 2.x
    from pydicom.pixel_data_handlers.util import apply_modality_lut
    from pydicom.pixel_data_handlers.util import apply_voi_lut as _apply_voi_lut

__all__ = [
    "DEFAULT_MAX_IMAGE_BYTES",
    "MAX_IMAGE_BYTES_ENV",
    "element_name",
    "is_dicom_file",
    "max_image_bytes",
    "read_dicom_dataset",
    "read_dicom_header",
    "read_dicom_mammogram",
    "validate_image_header",
    "value_range",
]

logger = logging.getLogger(__name__)

_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")

#: The environment variable that sets the memory guard (bytes; ``"2e9"`` and ``"0"`` = no limit are accepted).
MAX_IMAGE_BYTES_ENV = "MAMMO_MONAI_MAX_IMAGE_BYTES"
#: The default memory guard: 1 GiB of decoded pixels. The largest digital mammograms (4096 x 3328 x 16 bit) take
#: 27 MB; a header declaring more than this is refused before anything is allocated (65535 x 65535 x 16 bit would
#: be 8.6 GB).
DEFAULT_MAX_IMAGE_BYTES = 2**30

#: BitsAllocated values a greyscale mammogram can have.
_BITS_ALLOCATED = (8, 16, 32)


def element_name(keyword: str) -> str:
    """``"(0028,1053) RescaleSlope"``: how error messages name a DICOM element."""
    tag = tag_for_keyword(keyword)
    if tag is None:
        return keyword
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X}) {keyword}"


def max_image_bytes(limit: int | float | None = None) -> int | None:
    """The memory guard in force: ``limit`` when given, else ``$MAMMO_MONAI_MAX_IMAGE_BYTES``, else
    :data:`DEFAULT_MAX_IMAGE_BYTES`. ``None`` (from a limit of 0 or below) means no limit.

    Raises:
        MammoInputError: the environment variable is not a number.
    """
    if limit is None:
        value = os.environ.get(MAX_IMAGE_BYTES_ENV, "").strip()
        if not value:
            return DEFAULT_MAX_IMAGE_BYTES
        try:
            limit = float(value)
        except ValueError:
            raise MammoInputError(MAX_IMAGE_BYTES_ENV, f"{value!r} is not a number of bytes") from None
    if not math.isfinite(float(limit)):
        raise MammoInputError(MAX_IMAGE_BYTES_ENV, f"memory limit {limit!r} is not a finite number of bytes")
    limit = int(limit)
    return limit if limit > 0 else None


def is_dicom_file(path: str | os.PathLike) -> bool:
    """True when ``path`` is a file with the DICOM Part 10 preamble (``DICM`` at byte 128)."""
    try:
        with open(path, "rb") as f:
            f.seek(128)
            return f.read(4) == b"DICM"
    except OSError:
        return False


def read_dicom_dataset(path: str | os.PathLike, stop_before_pixels: bool = False) -> Dataset:
    """``pydicom.dcmread`` with errors that name the file.

    Files without the Part 10 preamble are accepted only when they parse into a dataset with image
    attributes (some old archives write bare datasets).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        NotDicomError: the file is not DICOM.
    """
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(path, "file not found")
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=stop_before_pixels)
    except InvalidDicomError:
        ds = None
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:  # pydicom raises many types on garbage or truncated headers
        raise NotDicomError(path, f"not a readable DICOM file ({type(e).__name__}: {e})") from e
    if ds is not None:
        if "SOPClassUID" not in ds and "Rows" not in ds:
            raise NotDicomError(path, "DICOM preamble but no readable dataset (no SOP Class UID, no image "
                                      "attributes): corrupt or truncated file")
        return ds
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=stop_before_pixels, force=True)
        if "Rows" in ds and "Columns" in ds and "SOPClassUID" in ds:
            return ds
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:
        pass
    raise NotDicomError(path, "not a DICOM file (no 'DICM' preamble and no image attributes)")


def read_dicom_header(path: str | os.PathLike) -> dict[str, Any]:
    """The mammography metadata (:class:`~mammo_monai.io.metadata.MetaKeys`) plus ``rows``, ``columns``,
    ``number_of_frames`` and ``body_part_examined``, read without touching the pixel data (fast: what
    indexers use to scan a large download)."""
    with _project_errors(path):
        ds = read_dicom_dataset(path, stop_before_pixels=True)
        meta = dicom_metadata(ds)
        meta["rows"] = _header_int(ds, "Rows", path, None)
        meta["columns"] = _header_int(ds, "Columns", path, None)
        meta["number_of_frames"] = _header_int(ds, "NumberOfFrames", path, 1) or 1
        meta["body_part_examined"] = str(ds.get("BodyPartExamined", "") or "").strip() or None
        meta["filename_or_obj"] = str(path)
    return meta


class _project_errors:
    """A context that turns anything but the project's errors into a :class:`MammogramReadError` naming the file:
    a malformed header value makes pydicom raise many types, a native decoder can panic (a ``BaseException``).
    ``KeyboardInterrupt`` and ``SystemExit`` pass through."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = path

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, error, traceback) -> bool:
        if error is None or isinstance(error, (MammoInputError, KeyboardInterrupt, SystemExit, GeneratorExit)):
            return False
        if isinstance(error, MemoryError):
            raise MammogramReadError(self.path, f"out of memory reading the file ({error}); is the image header "
                                                f"sane? (limit: ${MAX_IMAGE_BYTES_ENV})") from error
        raise MammogramReadError(
            self.path, f"unreadable DICOM: {type(error).__name__}: {error} (a malformed header value or a corrupt "
                       "file)") from error


def _header_int(ds: Dataset, keyword: str, path: Path, default: int | None) -> int | None:
    """An integer element; ``default`` when absent or empty; an error naming the element when it is not one
    integer."""
    value = ds.get(keyword)
    if value is None or (isinstance(value, (str, bytes)) and not value.strip()):
        return default
    if hasattr(value, "__len__") and not isinstance(value, (str, bytes)):
        raise InvalidHeaderError(path, f"{value!r} holds several values, expected one integer",
                                 element=element_name(keyword))
    try:
        number = float(value)
        if not math.isfinite(number) or number != int(number):
            raise ValueError(value)
        return int(number)
    except (TypeError, ValueError, OverflowError):
        raise InvalidHeaderError(path, f"{value!r} is not an integer", element=element_name(keyword)) from None


def _header_float(ds: Dataset, keyword: str, path: Path) -> float | None:
    """A decimal element as a float (``None`` when absent or empty); an error naming the element when it is not
    a number."""
    value = ds.get(keyword)
    if value is None or (isinstance(value, (str, bytes)) and not value.strip()):
        return None
    if hasattr(value, "__len__") and not isinstance(value, (str, bytes)):
        if len(value) != 1:
            raise InvalidHeaderError(path, f"{list(value)!r} holds {len(value)} values, expected one",
                                     element=element_name(keyword))
        value = value[0]
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        raise InvalidHeaderError(path, f"{value!r} is not a number", element=element_name(keyword)) from None


def validate_image_header(ds: Dataset, path: str | os.PathLike, max_bytes: int | float | None = None) -> dict[str, int]:
    """Check the image attributes of a single-frame greyscale header before anything is decoded or allocated.

    Checked: Rows and Columns positive integers; SamplesPerPixel 1; BitsAllocated 8, 16 or 32; PixelRepresentation
    0 or 1; BitsStored in 1..BitsAllocated; the decoded size within the memory guard (:func:`max_image_bytes`);
    RescaleSlope/RescaleIntercept finite, the slope non-zero; native (uncompressed) Pixel Data exactly
    Rows x Columns x samples x BitsAllocated/8 bytes (one padding byte allowed).

    Repaired in ``ds`` with a logged warning (safe: the stored values cannot carry more bits than are allocated):
    BitsStored above BitsAllocated, zero or absent (set to BitsAllocated); HighBit other than BitsStored - 1.

    Returns:
        ``{"rows", "columns", "bits_allocated", "bits_stored", "pixel_representation"}`` as checked.

    Raises:
        InvalidHeaderError: naming the element and what is wrong; ImageTooLargeError over the memory guard.
    """
    path = Path(path)
    rows = _header_int(ds, "Rows", path, None)
    columns = _header_int(ds, "Columns", path, None)
    for keyword, value in (("Rows", rows), ("Columns", columns)):
        if value is None or value <= 0:
            raise InvalidHeaderError(path, f"{value!r}: an image needs a positive number of {keyword.lower()}",
                                     element=element_name(keyword))
    samples = _header_int(ds, "SamplesPerPixel", path, 1)
    if samples != 1:
        raise MammogramReadError(
            path, f"colour image ({ds.get('PhotometricInterpretation')}): a mammogram must be greyscale")
    bits_allocated = _header_int(ds, "BitsAllocated", path, None)
    if bits_allocated not in _BITS_ALLOCATED:
        raise InvalidHeaderError(path, f"{bits_allocated!r}: a greyscale mammogram has 8, 16 or 32 bits per pixel",
                                 element=element_name("BitsAllocated"))
    representation = _header_int(ds, "PixelRepresentation", path, 0)
    if representation not in (0, 1):
        raise InvalidHeaderError(path, f"{representation!r}: must be 0 (unsigned) or 1 (signed)",
                                 element=element_name("PixelRepresentation"))
    bits_stored = _header_int(ds, "BitsStored", path, None)
    if bits_stored is None or not 1 <= bits_stored <= bits_allocated:
        logger.warning("%s: %s %r is not in 1..BitsAllocated (%d); repaired to %d", path,
                       element_name("BitsStored"), bits_stored, bits_allocated, bits_allocated)
        bits_stored = bits_allocated
        ds.BitsStored = bits_stored
    high_bit = _header_int(ds, "HighBit", path, None)
    if high_bit != bits_stored - 1:
        if high_bit is not None:
            logger.warning("%s: %s %r is not BitsStored - 1; repaired to %d", path, element_name("HighBit"),
                           high_bit, bits_stored - 1)
        ds.HighBit = bits_stored - 1
    limit = max_image_bytes(max_bytes)
    nbytes = rows * columns * samples * bits_allocated // 8
    if limit is not None and nbytes > limit:
        raise ImageTooLargeError(
            path, f"the header declares a {rows} x {columns} x {bits_allocated}-bit image ({nbytes:,} bytes), over "
                  f"the memory limit of {limit:,} bytes; refused before decoding (raise the limit with "
                  f"${MAX_IMAGE_BYTES_ENV} or max_image_bytes= if the file is genuine)", nbytes=nbytes, limit=limit)
    slope = _header_float(ds, "RescaleSlope", path)
    intercept = _header_float(ds, "RescaleIntercept", path)
    if slope is not None and (not math.isfinite(slope) or slope == 0):
        raise InvalidHeaderError(path, f"{slope!r}: the rescale slope must be a finite non-zero number",
                                 element=element_name("RescaleSlope"))
    if intercept is not None and not math.isfinite(intercept):
        raise InvalidHeaderError(path, f"{intercept!r}: the rescale intercept must be a finite number",
                                 element=element_name("RescaleIntercept"))
    ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    compressed = ts is not None and pydicom.uid.UID(ts).is_compressed
    data = ds.get("PixelData") if "PixelData" in ds else None
    if not compressed and isinstance(data, (bytes, bytearray)):
        if len(data) not in (nbytes, nbytes + 1):
            more = "fewer" if len(data) < nbytes else "more"
            error = CorruptPixelDataError if len(data) < nbytes else InvalidHeaderError
            raise error(
                path, f"{len(data):,} bytes of pixel data, {more} than Rows x Columns x SamplesPerPixel x "
                      f"BitsAllocated/8 = {rows} x {columns} x {samples} x {bits_allocated // 8} = {nbytes:,}: the "
                      "file is truncated or the header disagrees with the pixel data",
                element=element_name("PixelData"))
    return {"rows": rows, "columns": columns, "bits_allocated": bits_allocated, "bits_stored": bits_stored,
            "pixel_representation": representation}


def _mask_to_bits_stored(arr: np.ndarray, bits_stored: int, signed: bool, path: Path) -> np.ndarray:
    """Values outside the BitsStored range (bits above HighBit: overlays, garbage) masked away (sign-extended for
    signed data), with a logged warning; the array unchanged when every value is in range."""
    if not np.issubdtype(arr.dtype, np.integer) or bits_stored >= arr.dtype.itemsize * 8:
        return arr
    if signed:
        lo, hi = -(2 ** (bits_stored - 1)), 2 ** (bits_stored - 1) - 1
    else:
        lo, hi = 0, 2**bits_stored - 1
    if arr.size == 0 or (int(arr.min()) >= lo and int(arr.max()) <= hi):
        return arr
    outside = int(np.count_nonzero((arr < lo) | (arr > hi)))
    logger.warning("%s: %d pixel value(s) outside the %d-bit stored range (BitsStored %d); masked to it", path,
                   outside, bits_stored, bits_stored)
    mask = (1 << bits_stored) - 1
    wide = arr.astype(np.int64) & mask
    if signed:
        sign = 1 << (bits_stored - 1)
        wide = (wide ^ sign) - sign
    return wide.astype(arr.dtype)


def value_range(ds: Dataset) -> tuple[float, float]:
    """The range the pixel values can take after the Modality LUT (what a window maps onto).

    Same rule as pydicom's windowing: the stored range from BitsStored/PixelRepresentation, or the
    Modality LUT Sequence's output range, mapped through RescaleSlope/RescaleIntercept.
    """
    if ds.get("ModalityLUTSequence"):
        bits = int(ds.ModalityLUTSequence[0].LUTDescriptor[2])
        return 0.0, float(2**bits - 1)
    bits = int(ds.get("BitsStored", ds.get("BitsAllocated", 16)))
    if int(ds.get("PixelRepresentation", 0)) == 0:
        lo, hi = 0.0, float(2**bits - 1)
    else:
        lo, hi = float(-(2 ** (bits - 1))), float(2 ** (bits - 1) - 1)
    slope, intercept = ds.get("RescaleSlope"), ds.get("RescaleIntercept")
    if slope is not None and intercept is not None:
        lo, hi = sorted((lo * float(slope) + float(intercept), hi * float(slope) + float(intercept)))
    return lo, hi


def _pixel_data_truncated(path: Path) -> bool:
    """pydicom drops an encapsulated Pixel Data element that the file ends inside of; its tag is still there."""
    with open(path, "rb") as f:
        return b"\xe0\x7f\x10\x00" in f.read()


def _check_single_greyscale_frame(ds: Dataset, path: Path) -> None:
    """Refuse multi-frame and colour images from the header, before any decoding."""
    frames = _header_int(ds, "NumberOfFrames", path, 1) or 1
    if frames > 1:
        raise MammogramReadError(path, f"multi-frame image ({frames} frames): not a 2D mammogram (tomosynthesis?)")
    if _header_int(ds, "SamplesPerPixel", path, 1) != 1:
        raise MammogramReadError(
            path, f"colour image ({ds.get('PhotometricInterpretation')}): a mammogram must be greyscale"
        )


def _check_geometry(ds: Dataset, arr: np.ndarray, path: Path) -> None:
    expected = (int(ds.Rows), int(ds.Columns))
    if arr.shape != expected:
        raise CorruptPixelDataError(path, f"decoded shape {arr.shape} differs from Rows x Columns {expected}")
    if arr.dtype.kind not in "uif":
        raise CorruptPixelDataError(path, f"decoded pixel data of type {arr.dtype}, not numbers")


def _check_finite(arr: np.ndarray, path: Path, step: str, element: str) -> None:
    """A float array after a LUT step must hold only finite values (an absurd rescale overflows)."""
    if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise InvalidHeaderError(path, f"{bad} pixel value(s) are NaN or infinite after the {step}: the header's "
                                       "values are not usable", element=element)


def _has_modality_lut(ds: Dataset) -> bool:
    if ds.get("ModalityLUTSequence"):
        return True
    slope, intercept = _header_float(ds, "RescaleSlope", Path()), _header_float(ds, "RescaleIntercept", Path())
    return slope is not None and intercept is not None and (slope != 1.0 or intercept != 0.0)


def _check_window(ds: Dataset, index: int, path: Path) -> None:
    """The window used must have a finite centre and a finite positive width."""
    for keyword in ("WindowCenter", "WindowWidth"):
        value = ds.get(keyword)
        values = list(value) if hasattr(value, "__len__") and not isinstance(value, (str, bytes)) else [value]
        if index >= len(values):
            raise InvalidHeaderError(path, f"no window {index} (the file has {len(values)})",
                                     element=element_name(keyword))
        try:
            number = float(values[index])
        except (TypeError, ValueError, OverflowError):
            number = math.nan
        if not math.isfinite(number) or (keyword == "WindowWidth" and number <= 0):
            raise InvalidHeaderError(path, f"{values[index]!r} is not a usable window value",
                                     element=element_name(keyword))


def read_dicom_mammogram(
    path: str | os.PathLike,
    apply_voi_lut: bool = False,
    voi_index: int = 0,
    invert_monochrome1: bool = True,
    decoding_plugin: str | None = None,
    decoder: str | None = None,
    max_image_bytes: int | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Read a 2D mammography DICOM as an ``(rows, cols)`` array and its metadata.

    The header is checked against the pixel data before anything is returned (:func:`validate_image_header`:
    rescale, bit depths, Pixel Data length, the memory guard), values outside BitsStored are masked to it, and
    every value after the Modality LUT and VOI steps must be finite; a value that can be repaired safely is
    repaired with a logged warning, anything else is an error naming the file and the element. Whatever the
    libraries underneath raise (pydicom, dicomsdl, pylibjpeg, including a Rust panic) reaches the caller as a
    :class:`~mammo_monai.io.errors.MammogramReadError`.

    Args:
        path: the DICOM file.
        apply_voi_lut: apply the file's VOI LUT Sequence, else its window ``voi_index``
            (WindowCenter/WindowWidth); a file with neither is returned unchanged
            (``meta["voi_applied"]`` says what was done).
        voi_index: which of several VOI LUTs/windows to use.
        invert_monochrome1: invert MONOCHROME1 images within :func:`value_range` (after VOI when applied)
            so that bright means dense for every file.
        decoding_plugin: force a pydicom plugin (``"pylibjpeg"``, ``"gdcm"``, ``"pydicom"``, ...);
            default: the fastest installed one.
        decoder: ``None`` (dicomsdl where it decodes the syntax, then pydicom's plugins), ``"dicomsdl"`` or
            ``"pydicom"`` to force one path (:func:`~mammo_monai.io.decoders.decode_pixel_data`). Only the raw
            decode changes: the LUT and MONOCHROME1 steps are the same for every decoder.
        max_image_bytes: the memory guard, in decoded bytes: a header declaring a larger image is refused before
            anything is allocated. Default ``$MAMMO_MONAI_MAX_IMAGE_BYTES``, else 1 GiB
            (:data:`DEFAULT_MAX_IMAGE_BYTES`); 0 means no limit.

    Returns:
        ``(array, meta)``: ``array`` of shape ``(Rows, Columns)``, integer dtype when no fractional step
        was applied, else ``float32``; ``meta`` with the :class:`~mammo_monai.io.metadata.MetaKeys`,
        ``spatial_shape`` and ``filename_or_obj``.

    Raises:
        FileNotFoundError, NotDicomError, NoPixelDataError, UnsupportedTransferSyntaxError,
        CorruptPixelDataError (:class:`~mammo_monai.io.errors.PixelDataDecodeError` when every decoder failed:
        it names the transfer syntax and the decoders tried), InvalidHeaderError (ImageTooLargeError over the
        memory guard), MammogramReadError: each a :class:`~mammo_monai.io.errors.MammoInputError` naming ``path``
        and the cause (``FileNotFoundError`` as :class:`~mammo_monai.io.errors.InputNotFoundError`).
    """
    path = Path(path)
    with _project_errors(path):
        return _read_dicom_mammogram(path, apply_voi_lut, voi_index, invert_monochrome1, decoding_plugin, decoder,
                                     max_image_bytes)


def _read_dicom_mammogram(
    path: Path,
    apply_voi_lut: bool,
    voi_index: int,
    invert_monochrome1: bool,
    decoding_plugin: str | None,
    decoder: str | None,
    max_bytes: int | None,
) -> tuple[np.ndarray, dict[str, Any]]:
    ds = read_dicom_dataset(path)
    if not any(k in ds for k in _PIXEL_KEYWORDS):
        if _pixel_data_truncated(path):
            raise CorruptPixelDataError(path, "truncated pixel data: the file ends inside the Pixel Data element")
        sop = ds.get("SOPClassUID")
        kind = f" ({sop.name})" if sop is not None and hasattr(sop, "name") else ""
        raise NoPixelDataError(path, f"the DICOM file has no pixel data{kind}")
    _check_single_greyscale_frame(ds, path)
    header = validate_image_header(ds, path, max_bytes)
    arr, plugin = decode_pixel_data(ds, path, decoder=decoder, decoding_plugin=decoding_plugin)
    _check_geometry(ds, arr, path)
    arr = _mask_to_bits_stored(arr, header["bits_stored"], bool(header["pixel_representation"]), path)

    lo, hi = value_range(ds)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise InvalidHeaderError(path, f"the rescaled value range [{lo}, {hi}] is not finite",
                                 element=element_name("RescaleSlope"))
    if _has_modality_lut(ds):
        arr = apply_modality_lut(arr, ds)
        _check_finite(arr, path, "Modality LUT (rescale)", element_name("RescaleSlope"))
        if np.issubdtype(arr.dtype, np.floating):
            integral = np.all(np.mod(arr, 1) == 0) and arr.size and -(2**31) <= arr.min() and arr.max() < 2**31
            arr = arr.astype(np.int32) if integral else arr.astype(np.float32)
            _check_finite(arr, path, "Modality LUT (rescale)", element_name("RescaleSlope"))

    voi_applied = None
    if apply_voi_lut:
        if ds.get("VOILUTSequence"):
            voi_applied = "voi_lut"
            bits = int(ds.VOILUTSequence[voi_index].LUTDescriptor[2])
            lo, hi = 0.0, float(2**bits - 1)
        elif ds.get("WindowCenter") is not None and ds.get("WindowWidth") is not None:
            voi_applied = "window"
            _check_window(ds, voi_index, path)
        if voi_applied:
            arr = _apply_voi_lut(arr, ds, index=voi_index, prefer_lut=True).astype(np.float32)
            _check_finite(arr, path, "VOI LUT / window", element_name("WindowWidth"))

    inverted = False
    if invert_monochrome1 and str(ds.get("PhotometricInterpretation", "")).strip() == "MONOCHROME1":
        inverted = True
        if np.issubdtype(arr.dtype, np.integer) and lo >= np.iinfo(arr.dtype).min and hi <= np.iinfo(arr.dtype).max:
            clipped = np.clip(arr, int(lo), int(hi))
            arr = (np.asarray(int(lo) + int(hi), dtype=np.int64) - clipped).astype(arr.dtype)
        else:
            arr = (lo + hi - arr.astype(np.float32)).astype(np.float32)

    meta = dicom_metadata(ds)
    meta.update(
        {
            MetaKeys.DECODER: plugin,
            MetaKeys.VALUE_RANGE: [lo, hi],
            MetaKeys.INVERTED: inverted,
            MetaKeys.VOI_APPLIED: voi_applied,
            "spatial_shape": np.asarray(arr.shape),
            "filename_or_obj": str(path),
        }
    )
    return arr, meta
