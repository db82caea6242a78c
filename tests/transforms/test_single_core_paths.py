"""The full-mammogram pipeline's numpy fast paths give MONAI's / torch's results bit for bit (issue 20, P1).

``crop_area_resize``'s taps, ``IntensityWindow`` and ``SuppressOutsideBreast`` do their float32 arithmetic in
numpy on CPU tensors (one core: torch's intra-op threads made each of these ~3 MB steps 10-30x slower on a busy
2-core machine). Each is checked here against the torch / MONAI code it replaces, on synthetic images and on the
shared real films (skipped when ../shared/data is absent).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.transforms import ScaleIntensityRange

from mammo_monai.io import read_dicom_header
from mammo_monai.transforms import BREAST_MASK_KEY, IntensityWindow, full_mammogram_transforms
from mammo_monai.transforms.breast import SuppressOutsideBreast
from mammo_monai.transforms.resample import _apply_taps, _taps


def _torch_taps(img: torch.Tensor, dim: int, index: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """The torch code the numpy taps replaced."""
    shape = [1] * img.ndim
    shape[dim] = -1
    out = img.index_select(dim, index[:, 0]) * weight[:, 0].reshape(shape)
    for t in range(1, index.shape[1]):
        out.add_(img.index_select(dim, index[:, t]) * weight[:, t].reshape(shape))
    return out


@pytest.mark.parametrize("size,out", [((1108, 716), (1024, 662)), ((300, 200), (97, 61)), ((50, 40), (80, 64))])
def test_numpy_taps_equal_torch_taps(size, out):
    cells = torch.rand(1, *size, generator=torch.Generator().manual_seed(0)) * 60000
    for dim, n_out in ((1, out[0]), (2, out[1])):
        edges = np.minimum(np.arange(cells.shape[dim] + 1) * 4, cells.shape[dim] * 4 - 3).astype(np.float64)
        index, weight = _taps(edges, n_out)
        assert torch.equal(_apply_taps(cells, dim, index, weight), _torch_taps(cells, dim, index, weight))


def _windowed_reference(img: MetaTensor, low: float, high: float) -> torch.Tensor:
    return ScaleIntensityRange(a_min=low, a_max=high, b_min=0.0, b_max=1.0, clip=True, dtype=torch.float32)(img)


def test_window_and_suppression_equal_monai_and_masked_fill():
    gen = torch.Generator().manual_seed(1)
    img = MetaTensor(torch.rand(1, 257, 131, generator=gen) * 4000 - 20, meta={"pixel_spacing": [0.1, 0.1]})
    img.applied_operations.append({"class": "Dummy"})
    mask = (torch.rand(1, 257, 131, generator=gen) > 0.3).to(torch.uint8)
    out = IntensityWindow()(img, mask)
    low, high = out.meta["intensity_window"]
    expected = _windowed_reference(img, low, high)
    assert isinstance(out, MetaTensor) and out.dtype == torch.float32
    assert torch.equal(out.as_tensor(), expected.as_tensor())
    assert [op["class"] for op in out.applied_operations] == ["Dummy"] and out.meta["pixel_spacing"] == [0.1, 0.1]
    suppressed = SuppressOutsideBreast()(img, mask)
    assert isinstance(suppressed, MetaTensor) and [op["class"] for op in suppressed.applied_operations] == ["Dummy"]
    reference = img.as_tensor().masked_fill(mask == 0, float(img.min()))
    assert torch.equal(suppressed.as_tensor(), reference)
    assert torch.equal(img.as_tensor(), img.as_tensor())  # the input is not changed in place


def test_window_of_a_degenerate_dicom_window_keeps_monai_behaviour():
    img = MetaTensor(torch.arange(12.0).reshape(1, 3, 4), meta={"window": [5.5, 1.0]})  # width 1: low == high
    with pytest.warns(Warning):
        out = IntensityWindow(mode="dicom")(img)
    assert torch.equal(out.as_tensor(), (img - 5.0).as_tensor())


def test_pipeline_steps_on_real_films_equal_monai(shared_dicom):
    """On every shared film: the windowed image equals MONAI's ScaleIntensityRange of the suppressed image."""
    files = sorted(shared_dicom.glob("*/*.dcm"))
    assert files
    pipeline = full_mammogram_transforms(spatial_size=1024, label_key=None)
    steps = pipeline.transforms
    window_at = next(i for i, t in enumerate(steps) if type(t).__name__ == "IntensityWindowd")
    for path in files:
        item = {"image": str(path), "laterality": read_dicom_header(path)["laterality"]}
        for step in steps[:window_at]:
            item = step(item)
        before = item["image"]
        reference = before.as_tensor().masked_fill(item[BREAST_MASK_KEY] == 0, float(before.min()))
        assert torch.equal(before.as_tensor(), reference), path.name  # suppression: as masked_fill
        after = steps[window_at](item)["image"]
        low, high = after.meta["intensity_window"]
        assert torch.equal(after.as_tensor(), _windowed_reference(before, low, high).as_tensor()), path.name
