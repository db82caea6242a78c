"""MammogramReader through MONAI's LoadImage/LoadImaged, for DICOM and PNG/PGM."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.transforms import Compose, EnsureChannelFirstd, LoadImage, LoadImaged
from PIL import Image

from mammo_monai.io import MammogramReader, MetaKeys, read_mammogram

from .dicom_factory import write_dicom


def test_loadimaged_dicom_and_png_mask_line_up(tmp_path, mammo_array):
    image = write_dicom(tmp_path / "img.dcm", mammo_array, Laterality="L", PatientOrientation="CC",
                        PixelSpacing=[0.1, 0.2])
    mask = np.zeros(mammo_array.shape, np.uint8)
    mask[10:20, 5:9] = 1
    Image.fromarray(mask).save(tmp_path / "mask.png")
    load = Compose([LoadImaged(keys=["image", "label"], reader=MammogramReader()),
                    EnsureChannelFirstd(keys=["image", "label"])])
    item = load({"image": str(image), "label": str(tmp_path / "mask.png")})
    assert item["image"].shape == (1, *mammo_array.shape) == item["label"].shape
    assert item["image"].dtype == torch.float32
    torch.testing.assert_close(item["image"][0], torch.as_tensor(mammo_array, dtype=torch.float32))
    assert item["label"][0, 10:20, 5:9].eq(1).all() and item["label"].sum() == 40  # (row, col) indexing
    meta = item["image"].meta
    assert meta[MetaKeys.LATERALITY] == "L" and meta[MetaKeys.VIEW] == "CC"
    np.testing.assert_allclose(np.asarray(item["image"].affine)[:2, :2], np.diag([0.1, 0.2]))
    assert meta["filename_or_obj"] == str(image)


def test_reader_by_name_and_reverse_indexing(tmp_path, mammo_array):
    path = write_dicom(tmp_path / "img.dcm", mammo_array)
    img = LoadImage(reader="mammo_monai.io.MammogramReader", image_only=True)(str(path))
    assert tuple(img.shape) == mammo_array.shape
    flipped = LoadImage(reader=MammogramReader(reverse_indexing=True), image_only=True)(str(path))
    assert tuple(flipped.shape) == mammo_array.shape[::-1]


def test_pgm_and_png_load_the_same(tmp_path, mammo_array):
    img8 = (mammo_array >> 8).astype(np.uint8)
    Image.fromarray(img8).save(tmp_path / "mdb001.pgm")
    Image.fromarray(img8).save(tmp_path / "mdb001.png")
    Image.fromarray(mammo_array).save(tmp_path / "sixteen.png")
    a, meta = read_mammogram(tmp_path / "mdb001.pgm")
    b, _ = read_mammogram(tmp_path / "mdb001.png")
    c, meta16 = read_mammogram(tmp_path / "sixteen.png")
    np.testing.assert_array_equal(a, img8)
    np.testing.assert_array_equal(b, img8)
    np.testing.assert_array_equal(c, mammo_array)
    assert meta[MetaKeys.BITS_STORED] == 8 and meta16[MetaKeys.BITS_STORED] == 16
    assert LoadImage(reader=MammogramReader(), image_only=True)(str(tmp_path / "mdb001.pgm")).shape == img8.shape


def test_extensionless_dicom_and_suffix_check(tmp_path, mammo_array):
    path = write_dicom(tmp_path / "IM0001", mammo_array)
    reader = MammogramReader()
    assert reader.verify_suffix(str(path)) and reader.verify_suffix("a.dcm") and reader.verify_suffix("b.png")
    assert not reader.verify_suffix(str(tmp_path / "notes.txt"))
    arr, _ = read_mammogram(path)
    np.testing.assert_array_equal(arr, mammo_array)


def test_several_files_stack_on_channel(tmp_path, mammo_array):
    a = write_dicom(tmp_path / "a.dcm", mammo_array)
    b = write_dicom(tmp_path / "b.dcm", mammo_array // 2)
    img = LoadImage(reader=MammogramReader(), image_only=True)([str(a), str(b)])
    assert tuple(img.shape) == (2, *mammo_array.shape)
    c = write_dicom(tmp_path / "c.dcm", mammo_array[:10])
    with pytest.raises(ValueError, match="spatial shapes differ"):
        LoadImage(reader=MammogramReader(), image_only=True)([str(a), str(c)])


def test_real_mias_png_through_loadimage(shared_mias):
    img = LoadImage(reader=MammogramReader(), image_only=True, ensure_channel_first=True)(
        str(shared_mias / "mdb001.png"))
    assert tuple(img.shape) == (1, 1024, 1024)
    assert img.min() == 0 and img.max() <= 255
