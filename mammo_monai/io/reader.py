"""A MONAI ``ImageReader`` for mammograms: DICOM (any transfer syntax, LUTs, MONOCHROME1), PNG/PGM/TIFF and
2D NIfTI.

Arrays come back as ``(rows, cols)`` (``reverse_indexing=False``, the default), so the ``(row, col)``
coordinates of a datalist's lesions index the loaded tensor directly and the label masks the indexers
write line up with their images. Pass ``reverse_indexing=True`` to get MONAI's ITK/PIL-style
``(cols, rows)`` instead. Load images and their masks with the same reader.

Example:
    >>> from monai.transforms import LoadImaged
    >>> load = LoadImaged(keys=["image", "label"], reader=MammogramReader(), ensure_channel_first=True)
    >>> item = load({"image": "Mass-Test_P_00173_LEFT_CC.dcm", "label": "mask.png"})  # doctest: +SKIP
    >>> item["image"].shape, item["image"].meta["laterality"]  # doctest: +SKIP
    (torch.Size([1, 4432, 2864]), 'L')
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.data import ImageReader
from monai.utils import MetaKeys as MonaiMetaKeys
from monai.utils import ensure_tuple

from .dicom import is_dicom_file, read_dicom_mammogram
from .nifti import is_nifti, read_nifti_mammogram
from .raster import RASTER_SUFFIXES, read_raster_mammogram

__all__ = ["DICOM_SUFFIXES", "MammogramReader", "read_mammogram"]

DICOM_SUFFIXES = (".dcm", ".dicom", ".dic")


def read_mammogram(path: str | os.PathLike, **dicom_kwargs: Any) -> tuple[np.ndarray, dict[str, Any]]:
    """Read any supported mammogram file as ``(rows, cols)`` array + metadata (the plain-script API).

    DICOM is recognised by its preamble or suffix and read by
    :func:`~mammo_monai.io.dicom.read_dicom_mammogram` (``dicom_kwargs`` go there: ``apply_voi_lut``,
    ``invert_monochrome1``, ``decoder`` (``"dicomsdl"``/``"pydicom"`` to force one), ``decoding_plugin``);
    PNG/PGM/TIFF by :func:`~mammo_monai.io.raster.read_raster_mammogram`; 2D NIfTI (``.nii``, ``.nii.gz``: what
    MONAI Label and 3D Slicer write) by :func:`~mammo_monai.io.nifti.read_nifti_mammogram`.
    """
    path = Path(path)
    if path.suffix.lower() in RASTER_SUFFIXES and not is_dicom_file(path):
        return read_raster_mammogram(path)
    if is_nifti(path):
        return read_nifti_mammogram(path)
    return read_dicom_mammogram(path, **dicom_kwargs)


class MammogramReader(ImageReader):
    """MONAI image reader for mammograms, usable as ``LoadImage(reader=MammogramReader())`` and from
    bundle configs as ``"reader": "$mammo_monai.io.MammogramReader()"`` or
    ``{"_target_": "mammo_monai.io.MammogramReader"}``.

    Args:
        apply_voi_lut: apply the DICOM VOI LUT / first window (see :func:`read_dicom_mammogram`).
        invert_monochrome1: invert MONOCHROME1 so dense tissue is bright (default True).
        decoding_plugin: force a pydicom decoding plugin; default the fastest installed.
        decoder: ``None`` (dicomsdl where it decodes the transfer syntax, then pydicom's plugins), or
            ``"dicomsdl"`` / ``"pydicom"`` to force one path (comparisons, tests); ``meta["decoder"]`` says which ran.
        reverse_indexing: return ``(cols, rows)`` like MONAI's ITK/PIL readers (default False: ``(rows, cols)``).
        native_uint16: return a uint16 image (a 16-bit scan) as a ``torch.uint16`` tensor rather than a numpy
            array. MONAI converts a uint16 numpy array to int32 (``monai.utils.type_conversion.UNSUPPORTED_TYPES``,
            from before torch had the dtype), a full copy of the scan (~18 ms for 4432 x 2864 on 2 cores, as much
            as a float32 copy), even under ``LoadImage(dtype=None)``. With this flag and ``dtype=None`` the scan
            reaches the next transform as it was decoded. torch's uint16 supports few operations: use it only
            before a transform that converts what it keeps, as the full-mammogram pipeline does
            (:class:`~mammo_monai.transforms.breast.BreastCropResized` sums integer blocks of the breast box).
        max_image_bytes: the DICOM memory guard (decoded bytes; default ``$MAMMO_MONAI_MAX_IMAGE_BYTES``, else 1 GiB;
            0 = no limit): a header declaring a larger image is refused before anything is allocated.

    The meta dict holds MONAI's ``spatial_shape``, ``original_channel_dim`` (no channel), an ``affine``
    with the pixel spacing in mm on its diagonal (identity when the file has no spacing), plus every
    :class:`~mammo_monai.io.metadata.MetaKeys` entry (laterality, view, UIDs, ...).
    """

    def __init__(
        self,
        apply_voi_lut: bool = False,
        invert_monochrome1: bool = True,
        decoding_plugin: str | None = None,
        reverse_indexing: bool = False,
        native_uint16: bool = False,
        decoder: str | None = None,
        max_image_bytes: int | None = None,
    ) -> None:
        super().__init__()
        self.dicom_kwargs = {
            "apply_voi_lut": apply_voi_lut,
            "invert_monochrome1": invert_monochrome1,
            "decoding_plugin": decoding_plugin,
            "decoder": decoder,
            "max_image_bytes": max_image_bytes,
        }
        self.reverse_indexing = reverse_indexing
        self.native_uint16 = bool(native_uint16)

    def verify_suffix(self, filename: Sequence[str | os.PathLike] | str | os.PathLike) -> bool:
        """DICOM, raster and NIfTI suffixes, or any file starting with the DICOM preamble."""
        for name in ensure_tuple(filename):
            suffix = Path(name).suffix.lower()
            if suffix not in DICOM_SUFFIXES + RASTER_SUFFIXES and not is_nifti(name) and not is_dicom_file(name):
                return False
        return True

    def read(self, data: Sequence[str | os.PathLike] | str | os.PathLike, **kwargs: Any):
        """Decode each file now (mammograms are single 2D frames, so nothing is gained by deferring)."""
        options = {**self.dicom_kwargs, **kwargs}
        images = [read_mammogram(name, **options) for name in ensure_tuple(data)]
        return images if len(images) > 1 else images[0]

    def get_data(self, img) -> tuple[np.ndarray | torch.Tensor, dict]:
        """Return ``(array, meta)``; several files are stacked on a new first (channel) axis. With
        ``native_uint16`` a uint16 array comes back as a ``torch.uint16`` tensor (same memory)."""
        array, meta = self._stacked(img)
        if self.native_uint16 and array.dtype == np.uint16:
            return torch.from_numpy(np.ascontiguousarray(array)), meta
        return array, meta

    def _stacked(self, img) -> tuple[np.ndarray, dict]:
        items = [img] if isinstance(img, tuple) else list(img)
        arrays, metas = [], []
        for arr, meta in items:
            meta = dict(meta)
            if self.reverse_indexing:
                arr = arr.T
            meta[MonaiMetaKeys.SPATIAL_SHAPE] = np.asarray(arr.shape)
            spacing = meta.get("pixel_spacing") or [1.0, 1.0]
            if self.reverse_indexing:
                spacing = spacing[::-1]
            affine = np.diag([float(spacing[0]), float(spacing[1]), 1.0])
            meta[MonaiMetaKeys.AFFINE] = affine
            meta[MonaiMetaKeys.ORIGINAL_AFFINE] = affine.copy()
            meta[MonaiMetaKeys.ORIGINAL_CHANNEL_DIM] = float("nan")
            arrays.append(arr)
            metas.append(meta)
        first = metas[0]
        for arr, meta in zip(arrays[1:], metas[1:]):
            if arr.shape != arrays[0].shape:
                raise ValueError(
                    f"cannot stack {meta['filename_or_obj']} {arr.shape} with {first['filename_or_obj']} "
                    f"{arrays[0].shape}: the spatial shapes differ"
                )
        if len(arrays) == 1:
            return arrays[0], first
        first[MonaiMetaKeys.ORIGINAL_CHANNEL_DIM] = 0
        return np.stack(arrays), first
