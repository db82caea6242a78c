"""Masks in and out of the viewer, on the pixel grid of the image it opened.

The bundles work on ``(rows, cols)`` arrays; 3D Slicer and MONAI Label's writers work on ITK images, whose 2D
arrays are indexed ``(x, y)``: MONAI Label's own writer therefore returns a 2D label transposed. Here every
result is written by :func:`write_label_like`, which takes the geometry from the reference image the viewer
opened (a raster image -> a PNG of the same size; NIfTI, NRRD or DICOM -> a NIfTI with the reference's size,
spacing, origin and direction as SimpleITK reads them), and every submitted label is read back by
:func:`read_label_mask` as ``(rows, cols)`` and checked against its image.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = ["LABEL_CLASSES", "RASTER_LABEL_SUFFIXES", "read_label_mask", "write_label_like"]

#: label value -> lesion type of a submitted label: the detector's class order (training reads it, a DICOM SEG's
#: segments are named by it; segmentation trains on the masses)
LABEL_CLASSES = {1: "mass", 2: "calcification"}

RASTER_LABEL_SUFFIXES = (".png", ".pgm", ".pnm", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp")


def _suffix(path: str | os.PathLike) -> str:
    name = str(path).lower()
    return ".nii.gz" if name.endswith(".nii.gz") else Path(name).suffix


def _itk_information(path: str | os.PathLike):
    import SimpleITK as sitk

    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    return reader


def write_label_like(mask: np.ndarray, reference: str | os.PathLike, out_dir: str | os.PathLike | None = None,
                     stem: str = "label") -> str:
    """Write a ``(rows, cols)`` label so that it lies on ``reference``'s pixels in a viewer.

    Args:
        mask: integer labels, ``(rows, cols)`` of the reference image (values < 256).
        reference: the image file the viewer shows (PNG/PGM/TIFF/JPEG, NIfTI, NRRD or DICOM).
        out_dir: where the file goes (default: a fresh file in the temporary folder, ``mammo_label_<stem>_*``;
            MONAI Label deletes a returned file once it has sent it).
        stem: the file name without suffix.

    Returns:
        The written file: ``<stem>.png`` for a raster reference, ``<stem>.nii.gz`` otherwise (in ``out_dir``).

    Raises:
        ValueError: the mask's shape differs from the reference's ``(rows, cols)`` (both named).

    Example:
        >>> write_label_like(np.zeros((40, 64), np.uint8), "mdb001.png", "/tmp/out")  # doctest: +SKIP
        '/tmp/out/label.png'
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"label for {reference}: expected a (rows, cols) mask, got shape {mask.shape}")
    if mask.size and (mask.min() < 0 or mask.max() > 255):
        raise ValueError(f"label for {reference}: values must lie in 0..255, got {mask.min()}..{mask.max()}")
    mask = mask.astype(np.uint8)
    raster = _suffix(reference) in RASTER_LABEL_SUFFIXES
    if raster:
        with Image.open(reference) as im:
            cols, rows = im.size
        if mask.shape != (rows, cols):
            raise ValueError(f"label for {reference}: mask {mask.shape} but the image is {(rows, cols)} (rows, cols)")
    else:
        import SimpleITK as sitk

        info = _itk_information(reference)
        size = tuple(int(s) for s in info.GetSize())
        if size[:2] != (mask.shape[1], mask.shape[0]) or any(s != 1 for s in size[2:]):
            raise ValueError(f"label for {reference}: mask {mask.shape} (rows, cols) but the image is {size} "
                             "(x, y, ...)")
    path = _output_file(out_dir, stem, ".png" if raster else ".nii.gz")
    if raster:
        Image.fromarray(mask, mode="L").save(path)
        return str(path)
    array = mask.reshape((1,) * (len(size) - 2) + mask.shape)
    label = sitk.GetImageFromArray(array)
    label.SetSpacing(info.GetSpacing())
    label.SetOrigin(info.GetOrigin())
    label.SetDirection(info.GetDirection())
    sitk.WriteImage(label, str(path), useCompression=True)
    return str(path)


def _output_file(out_dir: str | os.PathLike | None, stem: str, suffix: str) -> Path:
    """``out_dir/<stem><suffix>``, or without ``out_dir`` a fresh file of that suffix in the temporary folder (a
    file, not a folder: whoever deletes the file once it is sent leaves nothing behind)."""
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        return Path(out_dir) / f"{stem}{suffix}"
    fd, name = tempfile.mkstemp(prefix=f"mammo_label_{stem}_", suffix=suffix)
    os.close(fd)
    return Path(name)


def read_label_mask(path: str | os.PathLike, shape: tuple[int, int] | None = None) -> np.ndarray:
    """A submitted label as a ``(rows, cols)`` ``uint8`` array (raster via Pillow; NIfTI/NRRD via SimpleITK,
    whose ``(1, rows, cols)`` / ``(rows, cols)`` arrays are the image's rows and columns).

    Args:
        path: the label file.
        shape: the image's ``(rows, cols)``; a label of another shape is refused.

    Raises:
        ValueError: unreadable, not 2D, values outside 0..255, or of another shape than the image (the message
            names the file and both shapes; a transposed label is called out as such).
    """
    suffix = _suffix(path)
    try:
        if suffix in RASTER_LABEL_SUFFIXES:
            with Image.open(path) as im:
                array = np.asarray(im)
        else:
            import SimpleITK as sitk

            array = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
    except Exception as e:  # any reader failure is the same user-facing problem
        raise ValueError(f"{path}: not a readable label image ({type(e).__name__}: {e})") from e
    if array.ndim == 3 and array.shape[-1] in (3, 4) and suffix in RASTER_LABEL_SUFFIXES:
        raise ValueError(f"{path}: a colour image ({array.shape}); a label must be one channel of class values")
    array = np.squeeze(array)
    if array.ndim != 2:
        raise ValueError(f"{path}: expected a 2D label, got shape {array.shape}")
    if array.size and (array.min() < 0 or array.max() > 255):
        raise ValueError(f"{path}: label values must lie in 0..255, got {array.min()}..{array.max()}")
    if shape is not None and tuple(array.shape) != tuple(shape):
        hint = " (transposed: rows and columns swapped)" if tuple(array.shape) == tuple(shape)[::-1] else ""
        raise ValueError(f"{path}: label is {tuple(array.shape)} but its image is {tuple(shape)} (rows, cols){hint}")
    return array.astype(np.uint8)
