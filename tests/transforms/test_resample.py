"""Area resampling in two steps, and the one-step breast crop + resize + mask that uses it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from monai.data import MetaTensor
from monai.transforms import Compose, Invertd, Resized

from mammo_monai.io import read_mammogram
from mammo_monai.transforms import BreastCropResized, BreastMaskd, BreastRegionCropd, area_resize, crop_area_resize
from mammo_monai.transforms.resample import aligned_box, longest_side_size


def _smooth(rows: int, cols: int) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.arange(float(rows)), torch.arange(float(cols)), indexing="ij")
    return (30000 + 20000 * torch.sin(yy / 60) * torch.cos(xx / 45))[None]


def test_integer_factor_is_exact_block_means():
    img = torch.arange(2 * 12 * 8, dtype=torch.float32).reshape(2, 12, 8)
    expected = img.reshape(2, 3, 4, 2, 4).mean(dim=(2, 4))
    assert torch.allclose(area_resize(img, (3, 2)), expected)
    assert area_resize(img.to(torch.int32), (3, 2)).dtype == torch.float32


def test_fractional_sizes_keep_the_mean_and_follow_monai_area():
    img = _smooth(1030, 707)
    for size in [(256, 176), (256, 177), (300, 200), (1030, 707), (2000, 1373)]:
        out = area_resize(img, size)
        assert tuple(out.shape) == (1, *size)
        assert float(out.double().mean()) == pytest.approx(float(img.double().mean()), rel=1e-6)  # keeps the mean
        reference = F.interpolate(img[None], size=size, mode="area")[0]
        assert float((out - reference).abs().max()) < 0.01 * 40000, size  # same geometry, up to the blocks
    step = torch.zeros(1, 440, 233)
    step[:, 200:300, 50:150] = 1
    up = area_resize(step, (512, 271))
    assert float(up.sum()) * (440 * 233) / (512 * 271) == pytest.approx(10000.0, rel=1e-4)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.uint16, torch.int16, torch.bool])
def test_integer_input_is_summed_exactly_like_the_float_path(dtype):
    """A scan loaded in its own dtype (uint16) is block-summed in integers over the box: same values as
    converting it to float32 first, partial blocks at the image's end included."""
    rng = np.random.default_rng(0)
    low, high = (-300, 300) if dtype == torch.int16 else (0, 2 if dtype == torch.bool else 255)
    for shape, box, out, factor in [((1, 403, 301), [0, 0, 403, 301], (100, 75), 4),
                                    ((1, 403, 301), [7, 13, 403, 301], (60, 40), 6),
                                    ((2, 50, 37), [0, 0, 50, 37], (10, 7), 5)]:
        arr = torch.from_numpy(rng.integers(low, high, shape)).to(dtype)
        box = aligned_box(box, shape[1:], factor)
        got = crop_area_resize(arr, box, out, factor)
        expected = crop_area_resize(arr.to(torch.float32), box, out, factor)
        assert got.dtype == torch.float32 and got.shape == expected.shape
        assert torch.allclose(got, expected, rtol=1e-6, atol=1e-4), (shape, box)


def test_crop_area_resize_checks_its_arguments():
    img = torch.zeros(1, 100, 80)
    with pytest.raises(ValueError, match="grid"):
        crop_area_resize(img, [1, 0, 100, 80], (20, 16), factor=4)
    with pytest.raises(ValueError, match="factor"):
        crop_area_resize(img, [0, 0, 100, 80], (50, 40), factor=4)
    with pytest.raises(ValueError, match="bad box"):
        crop_area_resize(img, [0, 0, 120, 80], (25, 20))
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        area_resize(img[0], (10, 10))
    assert aligned_box([5, 3, 97, 78], (100, 80), 4) == [4, 0, 100, 80]
    assert longest_side_size((4432, 2864), 1024) == (1024, 662)


def _breast_image(rows: int = 2000, cols: int = 1200) -> MetaTensor:
    yy, xx = torch.meshgrid(torch.arange(float(rows)), torch.arange(float(cols)), indexing="ij")
    img = torch.full((1, rows, cols), 50.0)
    img[0][((yy - rows / 2) / (0.4 * rows)) ** 2 + (xx / (0.6 * cols)) ** 2 <= 1] = 1000.0  # chest wall left
    img[0, 40:90, cols - 150: cols - 60] = 4000.0  # a film label
    return MetaTensor(img + torch.rand_like(img) * 20, affine=torch.diag(torch.tensor([0.05, 0.05, 1.0, 1.0])))


def test_one_step_equals_crop_resize_and_mask():
    image = _breast_image()
    label = MetaTensor((torch.rand(1, 2000, 1200) > 0.5).float())
    fused = Compose([BreastCropResized(keys=["image", "label"], spatial_size=256)])
    out = fused({"image": image, "label": label})
    r0, c0, r1, _ = out["breast_box"]
    factor = out["image"].applied_operations[-1]["extra_info"]["factor"]
    assert factor > 1 and r0 % factor == 0 and c0 == 0 and (r1 % factor == 0 or r1 == 2000)
    assert tuple(out["image"].shape) == tuple(out["label"].shape) == tuple(out["breast_mask"].shape)
    assert max(out["image"].shape[1:]) == 256 and out["breast_mask"].dtype == torch.uint8
    separate = Compose([BreastRegionCropd(keys="image", margin=0.02),
                        Resized(keys="image", spatial_size=256, size_mode="longest", mode="area"),
                        BreastMaskd(keys="image")])({"image": image})
    assert separate["breast_box"][0] - factor <= r0 <= separate["breast_box"][0]
    assert tuple(separate["image"].shape) == tuple(out["image"].shape)
    assert float((separate["image"] - out["image"]).abs().mean()) < 15  # grey levels 50..4000
    agree = (separate["breast_mask"] == out["breast_mask"]).float().mean()
    assert float(agree) > 0.98 and not out["breast_mask"][0, :8, -30:].any()  # the label is left out
    # the affine follows the crop and the resize: pixel (0, 0) of the output is centred in its block
    scale = (r1 - r0) / out["image"].shape[1]
    assert float(out["image"].affine[0, 0]) == pytest.approx(0.05 * scale)
    assert float(out["image"].affine[0, 3]) == pytest.approx(0.05 * (r0 + (scale - 1) / 2))
    assert out["breast_mask"].applied_operations[-1]["class"] == "BreastCropResized"
    out["pred"] = out["label"].clone()
    back = Invertd(keys="pred", transform=fused, orig_keys="label", nearest_interp=True)(out)["pred"]
    assert back.shape == label.shape and back.applied_operations == []
    assert not back[:, :r0].any() and not back[:, r1:].any()


def test_missing_image_and_wrong_grid_are_named():
    with pytest.raises(KeyError, match="'image'"):
        BreastCropResized(keys="label", spatial_size=64)({"label": torch.zeros(1, 10, 10)})
    with pytest.raises(ValueError, match="'label'"):
        BreastCropResized(keys=["image", "label"], spatial_size=64)(
            {"image": _breast_image(200, 120), "label": torch.zeros(1, 100, 60)})


@pytest.mark.shared
def test_real_cbis_ddsm_same_as_the_separate_steps(shared_dicom):
    """On the four real CBIS-DDSM scans the one-step crop gives the box, image and breast mask of the three
    separate transforms it replaced (box within one block, image within 1% of the range, masks >= 97%)."""
    for path in sorted((shared_dicom / "cbis-ddsm").glob("*.dcm")):
        plane, _ = read_mammogram(path)
        image = MetaTensor(torch.from_numpy(plane.astype(np.float32))[None])
        out = BreastCropResized(keys="image", spatial_size=1024)({"image": image})
        separate = Compose([BreastRegionCropd(keys="image", margin=0.02),
                            Resized(keys="image", spatial_size=1024, size_mode="longest", mode="area"),
                            BreastMaskd(keys="image")])({"image": image})
        factor = out["image"].applied_operations[-1]["extra_info"]["factor"]
        assert factor == 4, path.name
        assert all(abs(a - b) < factor for a, b in zip(out["breast_box"], separate["breast_box"])), path.name
        if tuple(out["image"].shape) == tuple(separate["image"].shape):
            assert float((out["image"] - separate["image"]).abs().mean()) < 0.01 * float(image.max()), path.name
            agree = float((out["breast_mask"] == separate["breast_mask"]).float().mean())
            assert agree > 0.97, (path.name, agree)
