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

import os
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from .decoders import decode_pixel_data
from .errors import CorruptPixelDataError, MammogramReadError, NoPixelDataError, NotDicomError
from .metadata import MetaKeys, dicom_metadata

try:  # pydicom >= 3
    from pydicom.pixels import apply_modality_lut
    from pydicom.pixels import apply_voi_lut as _apply_voi_lut
except ImportError:  # pydicom 2.x
    from pydicom.pixel_data_handlers.util import apply_modality_lut
    from pydicom.pixel_data_handlers.util import apply_voi_lut as _apply_voi_lut

__all__ = ["is_dicom_file", "read_dicom_dataset", "read_dicom_header", "read_dicom_mammogram", "value_range"]

_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


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
        raise FileNotFoundError(f"{path}: file not found")
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=stop_before_pixels)
    except InvalidDicomError:
        ds = None
    except Exception as e:  # pydicom raises many types on garbage or truncated headers
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
    except Exception:
        pass
    raise NotDicomError(path, "not a DICOM file (no 'DICM' preamble and no image attributes)")


def read_dicom_header(path: str | os.PathLike) -> dict[str, Any]:
    """The mammography metadata (:class:`~mammo_monai.io.metadata.MetaKeys`) plus ``rows``, ``columns``,
    ``number_of_frames`` and ``body_part_examined``, read without touching the pixel data (fast: what
    indexers use to scan a large download)."""
    ds = read_dicom_dataset(path, stop_before_pixels=True)
    meta = dicom_metadata(ds)
    meta["rows"] = int(ds.get("Rows", 0) or 0) or None
    meta["columns"] = int(ds.get("Columns", 0) or 0) or None
    meta["number_of_frames"] = int(ds.get("NumberOfFrames", 1) or 1)
    meta["body_part_examined"] = str(ds.get("BodyPartExamined", "") or "").strip() or None
    meta["filename_or_obj"] = str(path)
    return meta


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
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        raise MammogramReadError(path, f"multi-frame image ({frames} frames): not a 2D mammogram (tomosynthesis?)")
    if int(ds.get("SamplesPerPixel", 1)) != 1:
        raise MammogramReadError(
            path, f"colour image ({ds.get('PhotometricInterpretation')}): a mammogram must be greyscale"
        )


def _check_geometry(ds: Dataset, arr: np.ndarray, path: Path) -> None:
    expected = (int(ds.Rows), int(ds.Columns))
    if arr.shape != expected:
        raise CorruptPixelDataError(path, f"decoded shape {arr.shape} differs from Rows x Columns {expected}")


def _has_modality_lut(ds: Dataset) -> bool:
    if ds.get("ModalityLUTSequence"):
        return True
    slope, intercept = ds.get("RescaleSlope"), ds.get("RescaleIntercept")
    return slope is not None and intercept is not None and (float(slope) != 1.0 or float(intercept) != 0.0)


def read_dicom_mammogram(
    path: str | os.PathLike,
    apply_voi_lut: bool = False,
    voi_index: int = 0,
    invert_monochrome1: bool = True,
    decoding_plugin: str | None = None,
    decoder: str | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Read a 2D mammography DICOM as an ``(rows, cols)`` array and its metadata.

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

    Returns:
        ``(array, meta)``: ``array`` of shape ``(Rows, Columns)``, integer dtype when no fractional step
        was applied, else ``float32``; ``meta`` with the :class:`~mammo_monai.io.metadata.MetaKeys`,
        ``spatial_shape`` and ``filename_or_obj``.

    Raises:
        FileNotFoundError, NotDicomError, NoPixelDataError, UnsupportedTransferSyntaxError,
        CorruptPixelDataError (:class:`~mammo_monai.io.errors.PixelDataDecodeError` when every decoder failed:
        it names the transfer syntax and the decoders tried), MammogramReadError: each naming ``path`` and the
        cause.
    """
    path = Path(path)
    ds = read_dicom_dataset(path)
    if not any(k in ds for k in _PIXEL_KEYWORDS):
        if _pixel_data_truncated(path):
            raise CorruptPixelDataError(path, "truncated pixel data: the file ends inside the Pixel Data element")
        sop = ds.get("SOPClassUID")
        kind = f" ({sop.name})" if sop is not None and hasattr(sop, "name") else ""
        raise NoPixelDataError(path, f"the DICOM file has no pixel data{kind}")
    _check_single_greyscale_frame(ds, path)
    arr, plugin = decode_pixel_data(ds, path, decoder=decoder, decoding_plugin=decoding_plugin)
    _check_geometry(ds, arr, path)

    lo, hi = value_range(ds)
    if _has_modality_lut(ds):
        arr = apply_modality_lut(arr, ds)
        if np.issubdtype(arr.dtype, np.floating):
            arr = arr.astype(np.float32) if not np.all(np.mod(arr, 1) == 0) else arr.astype(np.int32)

    voi_applied = None
    if apply_voi_lut:
        if ds.get("VOILUTSequence"):
            voi_applied = "voi_lut"
            bits = int(ds.VOILUTSequence[voi_index].LUTDescriptor[2])
            lo, hi = 0.0, float(2**bits - 1)
        elif ds.get("WindowCenter") is not None and ds.get("WindowWidth") is not None:
            voi_applied = "window"
        if voi_applied:
            arr = _apply_voi_lut(arr, ds, index=voi_index, prefer_lut=True).astype(np.float32)

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
