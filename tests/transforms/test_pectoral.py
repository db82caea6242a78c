"""Pectoral muscle detection on MLO views: synthetic phantoms, CC views untouched, real MIAS lesions kept."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.transforms import Invertd

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


def test_cc_views_are_left_alone():
    rendered = render_mammogram((400, 260), "L", "CC", density=2, rng=np.random.default_rng(0), label=False)
    image = MetaTensor(torch.as_tensor(rendered.image[None], dtype=torch.float32))
    item = {"image": image, "view": "CC", "breast_mask": BreastMask()(image)}
    out = RemovePectoralMuscled(keys="image")(item)
    assert out["pectoral_line"] is None and torch.equal(out["image"], image)


def test_real_mias_lesions_stay_outside_the_removed_muscle(shared_mias, tmp_path):
    """MIAS (all MLO): the muscle found on the normalised 512-px image, mapped back to the film with Invertd,
    holds no ground-truth lesion centre (measured over all 216 films: muscle found on 192, 0 centres inside)."""
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
