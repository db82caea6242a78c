"""Pectoral muscle detection on MLO views: synthetic phantoms, either chest-wall side, CC views untouched, real
MIAS lesions kept (through the pipeline and on the films as they are)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.transforms import Invertd
from PIL import Image

from mammo_monai.data.mias import index_mias
from mammo_monai.data.synthetic.anatomy import render_mammogram
from mammo_monai.transforms import (
    BreastMask,
    PectoralMuscleMask,
    RemovePectoralMuscled,
    full_mammogram_config,
    instantiate_transforms,
    pectoral_line_mask,
)


def test_line_mask_geometry():
    mask = pectoral_line_mask((10, 10), [[0, 5], [8, 0]])
    assert mask[0, 0] and mask[0, 4] and not mask[0, 5] and mask[7, 0] and not mask[8, 0] and not mask[9, 9]
    right = pectoral_line_mask((10, 10), [[0, 4], [8, 9]])  # a right chest wall: the corner is (0, 9)
    assert np.array_equal(right, mask[:, ::-1])
    offset = pectoral_line_mask((12, 14), [[2, 9], [10, 4]])  # a padded film: the breast starts at (2, 4)
    assert offset[2, 4] and offset[2, 8] and not offset[2, 9] and not offset[11, 13]
    assert not pectoral_line_mask((5, 5), [[1, 1], [1, 1]]).any()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_synthetic_mlo_muscle_found(seed):
    rendered = render_mammogram((400, 260), "L", "MLO", density=2, rng=np.random.default_rng(seed), label=False)
    image = torch.as_tensor(rendered.image[None], dtype=torch.float32)
    breast = BreastMask()(image)
    muscle, line = PectoralMuscleMask()(image, breast)
    truth = np.asarray(rendered.pectoral) > 0
    found = np.asarray(muscle[0]) > 0
    assert line is not None
    assert (found & truth).sum() / (found | truth).sum() > 0.5  # IoU with the phantom's muscle


@pytest.mark.parametrize("side", ["right", "auto"])
def test_right_chest_wall(side):
    """A right breast as stored (chest wall on the image's right): found with side="right" or "auto", the
    line's chest-wall point on the right edge."""
    rendered = render_mammogram((400, 260), "R", "MLO", density=2, rng=np.random.default_rng(0), label=False)
    image = torch.as_tensor(rendered.image[None], dtype=torch.float32)
    finder = PectoralMuscleMask(side=side)
    muscle, line = finder(image, BreastMask()(image))
    truth = np.asarray(rendered.pectoral) > 0
    found = np.asarray(muscle[0]) > 0
    assert line is not None and finder.last_side == "right" and line[1][1] == 259.0
    assert (found & truth).sum() / (found | truth).sum() > 0.5
    mirrored, _ = PectoralMuscleMask()(image.flip(-1), BreastMask()(image.flip(-1)))
    assert (np.asarray(mirrored[0])[:, ::-1] != found).mean() < 0.002  # the same muscle either way
    with pytest.raises(ValueError, match="side must be"):
        PectoralMuscleMask(side="top")


def test_remove_from_breast_mask_and_image():
    rendered = render_mammogram((400, 260), "L", "MLO", density=2, rng=np.random.default_rng(1), label=False)
    image = MetaTensor(torch.as_tensor(rendered.image[None], dtype=torch.float32))
    breast = BreastMask()(image)
    out = RemovePectoralMuscled(keys="image", write_mask=True)({"image": image, "view": "MLO", "breast_mask": breast})
    muscle = out["pectoral_mask"].bool()
    assert out["pectoral_line"] is not None and muscle.any()
    assert not out["breast_mask"][muscle].any() and (out["breast_mask"] | muscle.to(torch.uint8)).equal(breast)
    assert float(out["image"][muscle].max()) == float(image.min())
    assert out["image"].meta["pectoral_line"] == out["pectoral_line"]
    kept = RemovePectoralMuscled(keys="image", suppress=False)({"image": image, "view": "MLO", "breast_mask": breast})
    assert torch.equal(kept["image"], image) and not kept["breast_mask"].equal(breast)  # only the mask changed
    unknown = RemovePectoralMuscled(keys="image")({"image": image, "breast_mask": breast})
    assert unknown["pectoral_line"] is None and torch.equal(unknown["image"], image)  # unknown view: untouched
    with pytest.raises(KeyError, match="no 'image'"):
        RemovePectoralMuscled(keys="image")({"view": "MLO"})


def test_cc_views_are_left_alone():
    rendered = render_mammogram((400, 260), "L", "CC", density=2, rng=np.random.default_rng(0), label=False)
    image = MetaTensor(torch.as_tensor(rendered.image[None], dtype=torch.float32))
    item = {"image": image, "view": "CC", "breast_mask": BreastMask()(image)}
    out = RemovePectoralMuscled(keys="image")(item)
    assert out["pectoral_line"] is None and torch.equal(out["image"], image)


def test_real_mias_lesions_stay_outside_the_removed_muscle(shared_mias, tmp_path):
    """MIAS (all MLO): the muscle found on the normalised 512-px image, mapped back to the film with Invertd,
    holds no ground-truth lesion centre (measured over all 216 films: muscle found on 189, 0 centres inside)."""
    result = index_mias(shared_mias, tmp_path / "mias.json", progress=False)
    items = [i for split in result.datalist.values() for i in split if any(les["center"] for les in i["lesions"])]
    config = [c for c in full_mammogram_config(label_key=None, spatial_size=512)
              if c["_target_"] not in ("SpatialPadd", "EnsureTyped")]
    pipeline = instantiate_transforms(config)
    remover = RemovePectoralMuscled(keys="image", write_mask=True)
    found, inside = 0, []
    for item in items:
        out = remover(pipeline(dict(item)))
        if out["pectoral_line"] is None:
            continue
        found += 1
        back = Invertd(keys="pectoral_mask", transform=pipeline, orig_keys="image", nearest_interp=True)(out)
        muscle = np.asarray(back["pectoral_mask"][0]) > 0
        for lesion in item["lesions"]:
            if lesion["center"]:
                row, col = (min(round(v), 1023) for v in lesion["center"])
                if muscle[row, col]:
                    inside.append(item["image"])
    assert found >= 0.75 * len(items)
    assert inside == []


@pytest.mark.shared
def test_real_mias_films_as_they_are_with_auto_side(shared_mias, tmp_path):
    """The 216 mini-MIAS films as stored (right breasts with the chest wall on the right, padded films), with
    side="auto": the side is right except on mdb151/152 (breasts that fill the film), and no lesion centre
    lies in the removed muscle. Measured: muscle found on 189 films, 0 centres inside."""
    result = index_mias(shared_mias, tmp_path / "mias.json", progress=False)
    items = [i for split in result.datalist.values() for i in split]
    finder = PectoralMuscleMask(side="auto")
    found, inside, wrong_side = 0, [], []
    for item in items:
        film = np.asarray(Image.open(item["image"]))[None]
        muscle, line = finder(film, BreastMask()(film))
        name = item["image"].rsplit("/", 1)[-1][:6]
        if finder.last_side != ("right" if item["laterality"] == "R" else "left"):
            wrong_side.append(name)
        if line is None:
            continue
        found += 1
        removed = np.asarray(muscle[0]) > 0
        inside += [name for lesion in item["lesions"] if lesion["center"]
                   and removed[tuple(min(round(v), 1023) for v in lesion["center"])]]
    assert sorted(wrong_side) == ["mdb151", "mdb152"]
    assert found >= 180 and inside == []
