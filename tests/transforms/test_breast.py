"""Breast mask, suppression outside it, and the invertible breast crop — on synthetic and real images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.transforms import Compose, Invertd
from PIL import Image
from scipy import ndimage
from skimage.filters import threshold_triangle

from mammo_monai.data.mias import index_mias
from mammo_monai.data.synthetic.anatomy import render_mammogram
from mammo_monai.io import read_mammogram
from mammo_monai.transforms import BreastMask, BreastMaskd, BreastRegionCropd, SuppressOutsideBreastd, breast_box


def _synthetic(view: str = "CC", edge_artefact: bool = False):
    return render_mammogram((400, 260), "L", view, density=2, rng=np.random.default_rng(1), label=True,
                            edge_artefact=edge_artefact)


def test_mask_label_and_suppression():
    img = torch.zeros(1, 200, 160)
    img[:, 30:170, :90] = 1000.0
    img[:, 5:15, 140:155] = 4000.0  # a film label
    img += torch.rand_like(img) * 20  # film noise
    item = BreastMaskd(keys="image")({"image": MetaTensor(img)})
    mask = item["breast_mask"]
    assert mask.dtype == torch.uint8 and tuple(mask.shape) == (1, 200, 160)
    assert mask[0, 40:160, 5:85].all() and not mask[0, 5:15, 140:155].any()
    out = SuppressOutsideBreastd(keys="image")(item)["image"]
    assert float(out[0, 10, 147]) == float(img.min()) and torch.equal(out[0, 100, 40], img[0, 100, 40])
    with pytest.raises(KeyError, match="BreastMaskd first"):
        SuppressOutsideBreastd(keys="image")({"image": img})


@pytest.mark.parametrize("edge_artefact", [False, True])
def test_synthetic_mammogram_mask_and_crop(edge_artefact):
    rendered = _synthetic(edge_artefact=edge_artefact)
    image = np.asarray(rendered.image, dtype=np.float32)
    mask = np.asarray(BreastMask()(image[None]))[0] > 0
    truth = np.asarray(rendered.breast) > 0
    assert (mask & truth).sum() / (mask | truth).sum() > 0.9  # IoU with the phantom's own breast
    if rendered.label_box is not None:  # the burnt-in film label is outside the mask
        r0, c0, r1, c1 = rendered.label_box
        assert not mask[r0:r1, c0:c1].any()
    box = breast_box(image[None])
    rows, cols = np.nonzero(mask)
    assert box[0] <= rows.min() and box[1] <= cols.min() and box[2] > rows.max() and box[3] > cols.max()


def test_crop_is_invertible_and_keeps_the_affine():
    image = MetaTensor(torch.zeros(1, 300, 200), affine=torch.diag(torch.tensor([0.1, 0.1, 1.0, 1.0])))
    rows, cols = torch.meshgrid(torch.arange(300.0), torch.arange(200.0), indexing="ij")
    image[0][((rows - 150) / 100) ** 2 + (cols / 120) ** 2 <= 1] = 500.0  # a half-disc breast: rows 50..250
    label = MetaTensor((torch.rand(1, 300, 200) > 0.5).float())
    pipeline = Compose([BreastRegionCropd(keys=["image", "label"], margin=0.05)])
    out = pipeline({"image": image, "label": label})
    r0, c0, r1, c1 = out["breast_box"]
    assert 35 <= r0 <= 42 and c0 == 0 and r1 >= 250 and c1 >= 120  # 50..250 x 0..120 plus a 5% margin
    assert tuple(out["image"].shape[1:]) == (r1 - r0, c1 - c0)
    assert float(out["image"].affine[0, 3]) == pytest.approx(r0 * 0.1)
    out["pred"] = out["label"].clone()
    back = Invertd(keys="pred", transform=pipeline, orig_keys="label")(out)["pred"]
    assert back.shape == label.shape and torch.equal(back[:, r0:r1, c0:c1], label[:, r0:r1, c0:c1])
    assert float(back.sum()) == float(label[:, r0:r1, c0:c1].sum()) and back.applied_operations == []


@pytest.fixture(scope="module")
def mias_items(shared_mias, tmp_path_factory):
    result = index_mias(shared_mias, tmp_path_factory.mktemp("mias") / "mias.json", progress=False)
    return [item for split in result.datalist.values() for item in split]


def _separate_bright_objects(img: np.ndarray) -> list[np.ndarray]:
    """Film labels and markers: tissue-level components other than the largest (the breast) that hold
    pixels >= 200 (burnt-in text is near white), at least 20 px."""
    labels, count = ndimage.label(img > threshold_triangle(img))
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    breast = int(sizes.argmax())
    brightest = ndimage.maximum(img, labels, index=np.arange(1, count + 1))
    return [labels == k for k in range(1, count + 1)
            if k != breast and brightest[k - 1] >= 200 and sizes[k] >= 20]


def test_real_mias_breast_mask(mias_items):
    """On all 216 mini-MIAS films: every lesion centre inside the mask, film labels and markers outside it,
    and the crop box holding the whole mask (figures measured: 0 centres lost, 66 of 68 objects removed)."""
    masker = BreastMask()
    lost, objects, objects_inside, crop_cuts = [], 0, [], []
    for item in mias_items:
        img = np.asarray(Image.open(item["image"]))
        mask = np.asarray(masker(img[None]))[0] > 0
        for lesion in item["lesions"]:
            if lesion["center"]:
                row, col = (min(round(v), 1023) for v in lesion["center"])
                if not mask[row, col]:
                    lost.append(item["image"])
        for obj in _separate_bright_objects(img):
            objects += 1
            if mask[obj].mean() > 0.5:
                objects_inside.append(Path(item["image"]).stem)
        box = breast_box(img[None])
        rows, cols = np.nonzero(mask)
        if rows.min() < box[0] or cols.min() < box[1] or rows.max() >= box[2] or cols.max() >= box[3]:
            crop_cuts.append(item["image"])
    assert len(mias_items) == 216
    assert lost == []
    assert crop_cuts == []
    assert objects >= 60 and len(objects_inside) <= 2, objects_inside  # measured: mdb274, mdb284 stay inside


def test_real_cbis_breast_mask(shared_dicom):
    """The four real CBIS-DDSM scans: the mask touches the chest-wall edge of its side, excludes the film
    corners, and the crop keeps the whole mask."""
    for path in sorted((shared_dicom / "cbis-ddsm").glob("*.dcm")):
        img, meta = read_mammogram(path)
        mask = np.asarray(BreastMask()(img[None]))[0] > 0
        edge = mask[:, :20] if meta["laterality"] == "L" else mask[:, -20:]
        far = mask[:, -20:] if meta["laterality"] == "L" else mask[:, :20]
        assert edge.mean() > 0.3 and far.mean() < 0.05, path.name
        assert 0.15 < mask.mean() < 0.8
        box = breast_box(img[None])
        rows, cols = np.nonzero(mask)
        assert box[0] <= rows.min() and box[1] <= cols.min() and box[2] > rows.max() and box[3] > cols.max()

