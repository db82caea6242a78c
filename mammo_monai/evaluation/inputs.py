"""The files the evaluators read: path values of a datalist or prediction file, masks, image headers.

Shared by :mod:`.segmentation`, :mod:`.classification` and :mod:`.detection`:

- :func:`resolve_datalist_path`: a path as written in a datalist (or a prediction file) -> a normalised path
  string, relative paths taken from the file's folder; what the evaluators match items and predictions by.
- :func:`file_stem`, :func:`mask_suffix` and :data:`MASK_SUFFIXES`: file names of masks.
- :func:`read_mask`: a mask or probability map (PNG/PGM/TIFF, DICOM, NIfTI, ``.npy``) as a 2D array.
- :func:`is_dicom` and :func:`image_shape_and_spacing`: whether an image is DICOM, and its ``(rows, cols)``
  and DICOM pixel spacing, read from the header where the format allows.

Example:
    >>> resolve_datalist_path("images/../images/mdb001.png", Path("/data/mias"))
    '/data/mias/images/mdb001.png'
    >>> file_stem("/preds/P_1_seg.nii.gz"), mask_suffix(Path("P_1_seg.nii.gz"))
    ('P_1_seg', '.nii.gz')
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "MASK_SUFFIXES",
    "file_stem",
    "image_shape_and_spacing",
    "is_dicom",
    "mask_suffix",
    "read_mask",
    "resolve_datalist_path",
]

#: mask file suffixes searched in a prediction folder, in this order of preference
MASK_SUFFIXES = (".png", ".tif", ".tiff", ".pgm", ".nii.gz", ".nii", ".dcm", ".npy")
#: file suffixes taken as DICOM without reading the file
_DICOM_SUFFIXES = (".dcm", ".dicom", ".dic")


def resolve_datalist_path(value: Any, base: str | os.PathLike) -> str | None:
    """A path value of a datalist item or prediction row -> a normalised path string, or ``None``.

    ``~`` is expanded; a relative path is taken from ``base`` (the folder of the file that names it); the
    result is :func:`os.path.normpath`-ed (``..`` and ``.`` removed lexically, symbolic links not followed),
    so the same file written two ways gives the same string. ``None`` and ``""`` give ``None``.

    Example:
        >>> resolve_datalist_path("a/./b/../mdb001.png", Path("/data")), resolve_datalist_path("/x/y.dcm", "/data")
        ('/data/a/mdb001.png', '/x/y.dcm')
        >>> resolve_datalist_path("", Path("/data")) is None, resolve_datalist_path(None, Path("/data")) is None
        (True, True)
    """
    if value is None or value == "":
        return None
    path = Path(os.path.expanduser(str(value)))
    return os.path.normpath(path if path.is_absolute() else Path(base) / path)


def file_stem(path: str | os.PathLike) -> str:
    """The file name without its (double) suffix: ``a/mdb001.png`` -> ``mdb001``, ``x.nii.gz`` -> ``x``.

    Example:
        >>> file_stem("/d/P_1_seg.nii.gz"), file_stem("mdb001.png"), file_stem("1-1.dcm")
        ('P_1_seg', 'mdb001', '1-1')
    """
    name = Path(path).name
    for suffix in (".nii.gz", ".tar.gz"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


def mask_suffix(path: str | os.PathLike) -> str | None:
    """The :data:`MASK_SUFFIXES` entry a file name ends with (case-insensitive), ``None`` for other files.

    Example:
        >>> mask_suffix("P_1_seg.NII.GZ"), mask_suffix("mdb001.png"), mask_suffix("notes.txt")
        ('.nii.gz', '.png', None)
    """
    name = Path(path).name.lower()
    for suffix in MASK_SUFFIXES:
        if name.endswith(suffix):
            return suffix
    return None


def read_mask(path: str | os.PathLike) -> np.ndarray:
    """Read a mask or probability map as a 2D array: PNG/PGM/TIFF and DICOM via
    :func:`mammo_monai.io.read_mammogram`, NIfTI via nibabel, ``.npy`` via numpy. Singleton axes
    (a channel, a third dimension of 1) are squeezed.

    Raises:
        FileNotFoundError: no such file.
        ValueError: (naming the file) not 2D after squeezing, or unreadable.

    Example:
        >>> import tempfile
        >>> scratch = tempfile.TemporaryDirectory(); path = Path(scratch.name) / "mask.npy"
        >>> np.save(path, np.ones((1, 4, 3), np.uint8)); read_mask(path).shape
        (4, 3)
        >>> scratch.cleanup()
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    suffix = mask_suffix(path)
    if suffix in (".nii", ".nii.gz"):
        import nibabel as nib

        array = np.asanyarray(nib.load(str(path)).dataobj)
    elif suffix == ".npy":
        array = np.load(path, allow_pickle=False)
    else:
        from ..io import read_mammogram

        array, _ = read_mammogram(path)
    array = np.squeeze(np.asarray(array))
    if array.ndim != 2:
        raise ValueError(f"{path}: not a 2D mask (shape {array.shape} after squeezing singleton axes)")
    return array


def is_dicom(path: str | os.PathLike) -> bool:
    """True when ``path`` has a DICOM suffix (``.dcm``, ``.dicom``, ``.dic``, any case) or, whatever its
    name, the DICOM Part 10 preamble (:func:`mammo_monai.io.is_dicom_file`; CBIS-DDSM style files without
    a suffix). The suffix alone decides without opening the file, so a missing ``x.dcm`` is "DICOM".

    Example:
        >>> is_dicom("missing/1-1.DCM"), is_dicom("missing/mdb001.png")
        (True, False)
    """
    from ..io import is_dicom_file

    return Path(path).suffix.lower() in _DICOM_SUFFIXES or is_dicom_file(path)


def image_shape_and_spacing(
    path: str | os.PathLike, need_shape: bool
) -> tuple[tuple[int, int] | None, tuple[float, float] | None]:
    """``((rows, cols), (row mm, col mm))`` of an image, from its header where the format allows.

    DICOM (:func:`is_dicom`): both from the header (pixel data not read); the spacing is ``None`` without a
    pixel spacing, the shape ``None`` without Rows/Columns. Other formats have no spacing (``None``) and
    their shape is read only when ``need_shape``, else ``(None, None)``: PIL formats from the header,
    NIfTI and ``.npy`` with :func:`read_mask` (the squeezed 2D shape).

    Raises:
        FileNotFoundError: no such file.
        ValueError: a DICOM header without Rows/Columns when ``need_shape``; or any error of the reader
            (an unreadable file, a volume that is not 2D).

    Example:
        >>> import tempfile
        >>> from PIL import Image
        >>> scratch = tempfile.TemporaryDirectory(); path = Path(scratch.name) / "mdb001.png"
        >>> Image.new("L", (30, 20)).save(path)
        >>> image_shape_and_spacing(path, need_shape=True), image_shape_and_spacing(path, need_shape=False)
        (((20, 30), None), (None, None))
        >>> scratch.cleanup()
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    if is_dicom(path):
        from ..io import read_dicom_header

        header = read_dicom_header(path)
        spacing = header.get("pixel_spacing")
        shape = (header["rows"], header["columns"]) if header.get("rows") and header.get("columns") else None
        if need_shape and shape is None:
            raise ValueError(f"{path}: DICOM header has no Rows/Columns")
        return shape, (tuple(float(s) for s in spacing) if spacing else None)  # type: ignore[return-value]
    if not need_shape:
        return None, None
    suffix = mask_suffix(path)
    if suffix in (".nii", ".nii.gz", ".npy"):
        shape = read_mask(path).shape
        return (int(shape[0]), int(shape[1])), None
    from PIL import Image

    with Image.open(path) as img:
        width, height = img.size
    return (int(height), int(width)), None
