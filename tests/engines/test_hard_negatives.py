"""Hard-negative mining, the sampler drawing from it, lesion types kept away from negatives, fixed validation
patches and the detector's label sets."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from monai.data import CacheDataset, Dataset

import mammo_monai.transforms as mt
from mammo_monai.engines import HardNegativeMiner, fixed_patches, mine_hard_negatives, patch_task
from mammo_monai.inference import PatchHeatmapInferer
from mammo_monai.transforms import LesionPatchCentresd, RandLesionPatchesd
from mammo_monai.transforms.patches import LesionPatchCentres


def _item(rows: int = 120, cols: int = 80) -> dict:
    image = torch.zeros(1, rows, cols)
    image[:, 5:115, :70] = 0.5  # the breast
    mask = torch.zeros(1, rows, cols)
    mask[:, 20:30, 20:30] = 1  # a mass
    mask[:, 80:90, 40:50] = 255  # a lesion of another type (e.g. an architectural distortion)
    return {"image": image, "lesion_mask": mask}


WHERE = {"patch_size": 16, "jitter": 2, "min_distance": 4, "mask_key": "lesion_mask", "breast_mask_key": None}


def test_other_lesion_types_are_neither_positives_nor_near_negatives():
    centres = LesionPatchCentresd("image", exclude_values=[255], **WHERE)(_item())["patch_centres"]
    assert len(centres.positives) == 1 and centres.regions[0].value == 1
    rows, cols = np.divmod(centres.negatives, 80)
    near_other = (rows > 80 - 8) & (rows < 90 + 8) & (cols > 40 - 8) & (cols < 50 + 8)  # the patch would touch it
    assert not near_other.any()
    everything = LesionPatchCentresd("image", **WHERE)(_item())["patch_centres"]
    assert len(everything.positives) == 2  # without exclude_values it is a class-255 lesion


def test_sampler_draws_negatives_from_the_hard_ones():
    item = _item()
    centres = LesionPatchCentresd("image", exclude_values=[255], **WHERE)(item)["patch_centres"]
    hard = centres.negatives[[10, 500, 1200]]
    item = {**item, "patch_centres": centres, "hard_negatives": np.concatenate([hard, [0]])}  # 0: outside breast
    sampler = RandLesionPatchesd(["image", "lesion_mask"], num_samples=60, pos=0.0, neg=1.0,
                                 hard_negative_fraction=1.0, exclude_values=[255], **WHERE)
    patches = sampler.set_random_state(0)(item)
    flat = {int(p["patch_center"][0]) * 80 + int(p["patch_center"][1]) for p in patches}
    assert flat <= set(hard.tolist()) and len(flat) == 3  # never the disallowed 0
    assert all("hard_negatives" not in p and "patch_centres" not in p for p in patches)
    half = RandLesionPatchesd(["image", "lesion_mask"], num_samples=200, pos=0.0, neg=1.0,
                              hard_negative_fraction=0.5, exclude_values=[255], **WHERE).set_random_state(1)(item)
    from_hard = sum(int(p["patch_center"][0]) * 80 + int(p["patch_center"][1]) in set(hard.tolist()) for p in half)
    assert 70 < from_hard < 130
    plain = RandLesionPatchesd(["image", "lesion_mask"], num_samples=8, exclude_values=[255], **WHERE)
    assert len(plain.set_random_state(0)({**item, "hard_negatives": np.array([], np.int64)})) == 8
    with pytest.raises(ValueError, match="hard_negative_fraction"):
        RandLesionPatchesd("image", patch_size=16, hard_negative_fraction=1.5)


def test_mine_hard_negatives_keeps_allowed_peaks_only():
    heat = np.zeros((2, 40, 40), np.float32)
    heat[0] = 1.0
    for (r, c), p in {(5, 5): 0.9, (20, 20): 0.8, (35, 35): 0.3}.items():
        heat[:, r, c] = [1 - p, p]
    allowed = np.setdiff1d(np.arange(1600), [20 * 40 + 20])  # (20, 20) lies on a lesion
    centres = LesionPatchCentres((40, 40), {}, allowed, [], [])
    assert mine_hard_negatives(heat, ["normal", "abnormal"], centres, threshold=0.5).tolist() == [5 * 40 + 5]
    assert mine_hard_negatives(heat, ["normal", "abnormal"], centres, threshold=0.2).tolist() == [205, 1435]
    with pytest.raises(ValueError, match="grid"):
        mine_hard_negatives(heat[:, :10], ["normal", "abnormal"], centres)


class BrightIsAbnormal(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.bias = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        c = x[:, 0, h // 2, w // 2]
        return torch.stack([4 - 8 * c, 8 * c - 4], 1) + self.bias


def test_miner_writes_into_the_cache_between_epochs():
    item = _item()
    item["image"][:, 60:64, 10:14] = 1.0  # a bright spot in normal tissue: a false positive
    cached = CacheDataset([item], LesionPatchCentresd("image", exclude_values=[255], **WHERE), progress=False)
    miner = HardNegativeMiner(cached, PatchHeatmapInferer(roi_size=(16, 16), overlap=0.75), ["normal", "abnormal"],
                              interval=2, start_epoch=1, threshold=0.5, min_distance=4)
    engine = SimpleNamespace(state=SimpleNamespace(epoch=2, device="cpu"), network=BrightIsAbnormal())
    miner(engine)  # epoch 2: not a mining epoch (1, 3, 5...)
    assert "hard_negatives" not in cached._cache[0] and not miner.history
    engine.state.epoch = 3
    engine.network.train()
    miner(engine)
    found = cached._cache[0]["hard_negatives"]
    rows, cols = np.divmod(found, 80)
    assert found.size >= 1 and np.all(np.abs(rows - 61.5) <= 3) and np.all(np.abs(cols - 11.5) <= 3)
    assert engine.network.training  # its mode is restored
    assert miner.history[-1]["hard_negatives"] == found.size and miner.history[-1]["epoch"] == 3
    engine.state.epoch, engine.state.max_epochs = 5, 5
    miner(engine)  # the last epoch: nothing would train on what it mined
    assert len(miner.history) == 1
    engine.state.epoch, engine.state.max_epochs = 3, 10
    with pytest.raises(ValueError, match="cache_rate"):
        HardNegativeMiner(CacheDataset([item, item], lambda d: d, cache_rate=0.5, progress=False),
                          miner.inferer, ["normal", "abnormal"])(engine)
    with pytest.raises(TypeError, match="CacheDataset"):
        HardNegativeMiner(Dataset([item]), miner.inferer, ["normal", "abnormal"])
    loader = SimpleNamespace(persistent_workers=True, num_workers=2)
    with pytest.raises(ValueError, match="persistent"):
        miner.attach(SimpleNamespace(data_loader=loader))


def test_fixed_patches_are_the_same_every_time():
    items = [{**_item(), "lesions": []} for _ in range(2)]
    draw = mt.instantiate_transforms([
        {"_target_": "mammo_monai.transforms.RandLesionPatchesd", "keys": ["image", "lesion_mask"],
         "num_samples": 4, "label_key": "label", "exclude_values": [255], **WHERE}])
    first, again = fixed_patches(items, draw, seed=3), fixed_patches(items, draw, seed=3)
    assert len(first) == 8 and all(set(p) == {"image", "label"} for p in first)
    assert all(torch.equal(a["image"], b["image"]) and a["label"] == b["label"] for a, b in zip(first, again))
    assert type(first[0]["image"]) is torch.Tensor
    with pytest.raises(ValueError, match="no \\['missing'\\]"):
        fixed_patches(items, draw, keys=("image", "missing"))


def test_patch_tasks():
    assert patch_task("type").lesion_types == ["calcification", "mass"]
    assert patch_task("abnormal").class_map == {"mass": 1, "calcification": 1}
    with pytest.raises(ValueError, match="unknown patch task"):
        patch_task("birads")
