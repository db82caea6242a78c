"""Reading 2D mammograms stored as NIfTI (what MONAI Label, 3D Slicer and ITK write for a 2D image).

A 2D image in NIfTI is stored ``(x, y)`` or ``(x, y, 1)``: the first voxel index runs along the columns, the
second along the rows (ITK's order, which MONAI Label and Slicer keep when they write a PNG or a DICOM as
NIfTI). The array is transposed back to ``(rows, cols)`` in the voxel order as stored: the affine's signs
(RAS vs LPS) orient the volume in patient space, not the pixel grid, so they are not applied. The pixel
spacing comes from the header (``pixdim``, in mm or unitless); exactly 1 x 1 is read as no spacing, since it is
what ITK gives an image that has none (a PNG written as NIfTI), and no mammogram has 1 mm pixels.

Example:
    >>> arr, meta = read_nifti_mammogram("film.nii.gz")  # doctest: +SKIP
    >>> arr.shape, meta["pixel_spacing"]  # doctest: +SKIP
    ((4432, 2864), [0.05, 0.05])
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .errors import CorruptPixelDataError, MammogramReadError
from .metadata import MetaKeys

__all__ = ["NIFTI_SUFFIXES", "is_nifti", "read_nifti_mammogram"]

NIFTI_SUFFIXES = (".nii", ".nii.gz")


def is_nifti(path: str | os.PathLike) -> bool:
    """Whether the file name says NIfTI (``.nii``, ``.nii.gz``)."""
    return str(path).lower().endswith(NIFTI_SUFFIXES)


def read_nifti_mammogram(path: str | os.PathLike) -> tuple[np.ndarray, dict[str, Any]]:
    """Read a 2D NIfTI image as ``(rows, cols)`` in its stored dtype, with its pixel spacing.

    Raises:
        FileNotFoundError: no such file.
        MammogramReadError: not a NIfTI file, or not one 2D image (a volume, several channels).
        CorruptPixelDataError: the voxel data cannot be read (a truncated file).
    """
    import nibabel as nib

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    try:
        image = nib.load(str(path))
    except Exception as e:  # nibabel raises several types for a file that is not NIfTI
        raise MammogramReadError(path, f"not a NIfTI file nibabel can read ({type(e).__name__}: {e})") from e
    shape = tuple(int(s) for s in image.shape)
    if len(shape) < 2 or any(s != 1 for s in shape[2:]):
        raise MammogramReadError(path, f"a {shape} NIfTI is not one 2D image (expected (x, y) or (x, y, 1))")
    try:
        data = np.asanyarray(image.dataobj)
    except (OSError, EOFError, ValueError) as e:
        raise CorruptPixelDataError(path, f"truncated or corrupt voxel data ({e})") from e
    arr = np.ascontiguousarray(data.reshape(shape[:2]).T)  # (x, y) -> (rows, cols), a writable copy
    zooms = [float(z) for z in image.header.get_zooms()[:2]]
    unit = image.header.get_xyzt_units()[0]
    known = unit in ("mm", "unknown") and all(z > 0 for z in zooms) and zooms != [1.0, 1.0]
    spacing = [zooms[1], zooms[0]] if known else None
    meta: dict[str, Any] = dict.fromkeys(MetaKeys.all())
    if np.issubdtype(arr.dtype, np.integer):
        info = np.iinfo(arr.dtype)
        value_range = [float(info.min), float(info.max)] if arr.dtype.itemsize <= 2 else \
            [float(arr.min()), float(arr.max())]
    else:
        value_range = [float(np.nanmin(arr)), float(np.nanmax(arr))] if arr.size else [0.0, 0.0]
    meta.update({
        MetaKeys.PHOTOMETRIC: "MONOCHROME2",
        MetaKeys.BITS_STORED: int(arr.dtype.itemsize * 8),
        MetaKeys.VALUE_RANGE: value_range,
        MetaKeys.INVERTED: False,
        MetaKeys.DECODER: "nibabel",
        MetaKeys.PIXEL_SPACING: spacing,
        "spatial_shape": np.asarray(arr.shape),
        "filename_or_obj": str(path),
    })
    return arr, meta
