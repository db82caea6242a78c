"""2D NIfTI mammograms (as MONAI Label, 3D Slicer and ITK write them) read as (rows, cols) with their spacing."""

from __future__ import annotations

import itk
import nibabel as nib
import numpy as np
import pytest

from mammo_monai.io import MammogramReader, read_mammogram
from mammo_monai.io.errors import MammogramReadError

SHAPE = (40, 64)  # (rows, cols), not square


def _film() -> np.ndarray:
    return np.arange(np.prod(SHAPE), dtype=np.uint16).reshape(SHAPE)


def test_an_itk_written_2d_nifti_reads_back_as_rows_and_cols(tmp_path):
    image = itk.image_from_array(_film())  # ITK size (cols, rows)
    image.SetSpacing([0.07, 0.05])  # x = columns, y = rows
    itk.imwrite(image, str(tmp_path / "film.nii.gz"))
    arr, meta = read_mammogram(tmp_path / "film.nii.gz")
    np.testing.assert_array_equal(arr, _film())
    assert meta["pixel_spacing"] == pytest.approx([0.05, 0.07]) and meta["decoder"] == "nibabel"


def test_a_single_slice_volume_and_the_monai_reader(tmp_path):
    data = _film().T[:, :, None]  # (x, y, 1) as Slicer saves a 2D image
    nib.save(nib.Nifti1Image(data, np.eye(4)), tmp_path / "slice.nii")
    arr, meta = read_mammogram(tmp_path / "slice.nii")
    np.testing.assert_array_equal(arr, _film())
    assert meta["pixel_spacing"] is None  # 1 x 1: what ITK gives an image without spacing
    reader = MammogramReader()
    assert reader.verify_suffix(tmp_path / "slice.nii")
    loaded, loaded_meta = reader.get_data(reader.read(tmp_path / "slice.nii"))
    assert loaded.shape == SHAPE and list(loaded_meta["spatial_shape"]) == list(SHAPE)


def test_volumes_and_non_nifti_files_are_refused_naming_the_file(tmp_path):
    nib.save(nib.Nifti1Image(np.zeros((4, 5, 3), np.uint8), np.eye(4)), tmp_path / "volume.nii.gz")
    with pytest.raises(MammogramReadError, match=r"volume\.nii\.gz.*not one 2D image"):
        read_mammogram(tmp_path / "volume.nii.gz")
    (tmp_path / "bad.nii.gz").write_bytes(b"not nifti at all")
    with pytest.raises(MammogramReadError, match=r"bad\.nii\.gz"):
        read_mammogram(tmp_path / "bad.nii.gz")
    with pytest.raises(FileNotFoundError):
        read_mammogram(tmp_path / "missing.nii.gz")
