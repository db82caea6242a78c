"""Lesion-centred / background patch sampling: centres, classes, distances, fairness, ratio, determinism."""

from __future__ import annotations

import time
from collections import Counter

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.transforms import Compose, Flipd
from scipy import ndimage

from mammo_monai.data.schema import make_lesion
from mammo_monai.data.synthetic.anatomy import LesionSpec, render_mammogram
from mammo_monai.transforms.lesions import LesionMaskd
from mammo_monai.transforms.patches import (
    LesionPatchCentres,
    LesionPatchCentresd,
    RandLesionPatchesd,
    patch_center_sets,
)
from mammo_monai.transforms.utils import BREAST_MASK_KEY

ROWS, COLS = 600, 400
BIG = make_lesion("mass", "malignant", center=(300, 190), radius=150)
TINY = make_lesion("calcification", "benign", center=(300, 352), radius=3)  # 9 px from the big mass's edge
EDGE = make_lesion("mass", "benign", center=(40, 4), radius=6)  # against the chest wall, near the top
CLASS_MAP = {"mass": 1, "calcification": 2}


def _item(lesions=(BIG, TINY, EDGE), breast_key: bool = True) -> dict:
    """A half-ellipse breast on the left; the image encodes each pixel's position (value = row * COLS + col + 1)."""
    r, c = np.mgrid[:ROWS, :COLS]
    breast = ((r - 300) / 290.0) ** 2 + (c / 390.0) ** 2 <= 1
    coded = (r * COLS + c + 1).astype(np.float32) * breast
    item = {"image": MetaTensor(torch.from_numpy(coded[None])), "lesions": [dict(x) for x in lesions]}
    if breast_key:
        item[BREAST_MASK_KEY] = torch.from_numpy(breast[None].astype(np.uint8))
    return item


def _sampler(**kwargs) -> RandLesionPatchesd:
    args = {"keys": "image", "patch_size": (48, 64), "num_samples": 200, "jitter": 8, "min_distance": 12,
            "class_map": CLASS_MAP}
    args.update(kwargs)
    return RandLesionPatchesd(**args).set_random_state(0)


def _lesion_distance() -> np.ndarray:
    lesion = np.zeros((ROWS, COLS), bool)
    r, c = np.mgrid[:ROWS, :COLS]
    for les in (BIG, TINY, EDGE):
        lesion |= (r - les["center"][0]) ** 2 + (c - les["center"][1]) ** 2 <= les["radius"] ** 2
    return ndimage.distance_transform_edt(~lesion)


def _window(center, size=(48, 64)):
    r0, c0 = center[0] - size[0] // 2, center[1] - size[1] // 2
    return slice(max(0, r0), max(0, r0 + size[0])), slice(max(0, c0), max(0, c0 + size[1]))


def test_patches_are_centred_where_they_say_and_carry_the_right_class():
    item = _item()
    patches = _sampler()(item)
    assert len(patches) == 200
    breast = item[BREAST_MASK_KEY][0].numpy() > 0
    dist = _lesion_distance()
    seen = Counter()
    for p in patches:
        img, (row, col) = p["image"], p["patch_center"].tolist()
        assert img.shape == (1, 48, 64)
        # the patch's centre pixel is the source pixel at patch_center (padding included: no centre shift)
        assert img[0, 24, 32] == (row * COLS + col + 1) * breast[row, col]
        seen[p["patch_lesion"]] += 1
        if p["patch_label"] == 0:
            assert p["patch_lesion"] == -1 and breast[row, col]
            rows, cols = _window((row, col))
            assert dist[rows, cols].min() > 12  # the whole patch keeps min_distance from every lesion
        else:
            lesion = item["lesions"][p["patch_lesion"]]
            assert p["patch_label"] == CLASS_MAP[lesion["type"]]
            assert np.hypot(row - lesion["center"][0], col - lesion["center"][1]) <= lesion["radius"] + 8
    assert set(seen) == {-1, 0, 1, 2}
    edge = [p for p in patches if p["patch_lesion"] == 2]
    assert any(p["patch_center"][1] < 32 for p in edge)  # centred on the chest-wall lesion: padded, not shifted
    assert all(float(p["image"][0, :, 0].abs().sum()) == 0 for p in edge if p["patch_center"][1] < 32)


def test_every_lesion_equally_likely_whatever_its_size():
    counts = Counter()
    sampler = _sampler(neg=0.0, num_samples=300)
    for _ in range(4):
        counts.update(p["patch_lesion"] for p in sampler(_item()))
    assert -1 not in counts
    for lesion in (0, 1, 2):  # 1200 draws, expected 400 each: the 3-px calcification is not starved
        assert 300 < counts[lesion] < 500, counts
    tiny = [p for p in sampler(_item()) if p["patch_lesion"] == 1]
    assert all(p["patch_label"] == 2 for p in tiny)


def test_positive_negative_ratio_over_many_draws():
    labels = []
    sampler = _sampler(pos=1.0, neg=3.0, num_samples=500)
    for _ in range(4):
        labels += [p["patch_label"] for p in sampler(_item())]
    positive = np.mean(np.asarray(labels) > 0)
    assert abs(positive - 0.25) < 0.04, positive


def test_deterministic_with_a_seed():
    a = [p["patch_center"].tolist() for p in _sampler(num_samples=20).set_random_state(7)(_item())]
    b = [p["patch_center"].tolist() for p in _sampler(num_samples=20).set_random_state(7)(_item())]
    c = [p["patch_center"].tolist() for p in _sampler(num_samples=20).set_random_state(8)(_item())]
    assert a == b and a != c
    pipeline = Compose([_sampler(num_samples=5)])
    x = pipeline.set_random_state(3)(_item())
    y = pipeline.set_random_state(3)(_item())
    assert all(torch.equal(p["image"], q["image"]) for p, q in zip(x, y))


def test_lesion_mask_source_after_a_geometric_transform():
    """The usual pipeline: mask drawn on the original grid, carried through a flip, sampled from the mask."""
    item = LesionMaskd(keys="lesion_mask", class_map=CLASS_MAP)(_item())
    item = Flipd(keys=["image", "lesion_mask", BREAST_MASK_KEY], spatial_axis=0)(item)
    with pytest.raises(ValueError, match="original pixel grid"):  # the lesions list no longer fits the image
        _sampler()(item)
    patches = _sampler(keys=["image", "lesion_mask"], mask_key="lesion_mask")(item)
    for p in patches:
        centre = p["lesion_mask"][0, 24, 32]
        if p["patch_label"] == 0:
            assert not p["lesion_mask"].any()
        elif p["patch_label"] == 2:  # the calcification is tiny: its jittered centres are inside or next to it
            assert p["lesion_mask"].max() == 2
        else:
            assert p["lesion_mask"].max() >= 1 and centre in (0, 1)
    assert {p["patch_label"] for p in patches} == {0, 1, 2}


def test_touching_lesions_of_different_classes_stay_apart_in_a_mask():
    mask = torch.zeros(1, ROWS, COLS)
    mask[0, 200:220, 100:120] = 1
    mask[0, 220:226, 100:120] = 2  # touches the mass
    item = {**_item(lesions=()), "lesion_mask": mask}
    patches = _sampler(mask_key="lesion_mask", neg=0.0, jitter=0)(item)
    assert {p["patch_label"] for p in patches} == {1, 2}
    for p in patches:
        row, col = p["patch_center"].tolist()
        assert mask[0, row, col] == p["patch_label"]  # jitter 0: centre on a pixel of its own lesion


def test_breast_from_threshold_and_lesion_free_items():
    item = _item(lesions=(), breast_key=False)
    patches = _sampler(num_samples=50)(item)
    assert all(p["patch_label"] == 0 and p["patch_lesion"] == -1 for p in patches)
    assert all(item["image"][0, p["patch_center"][0], p["patch_center"][1]] > 0 for p in patches)
    with pytest.raises(ValueError, match="nothing to sample"):
        _sampler(neg=0.0)(item)
    binary = _sampler(class_map=None, neg=0.0, num_samples=50)(_item())
    assert {p["patch_label"] for p in binary} == {1}


def test_filters_select_positives_but_negatives_avoid_every_lesion():
    patches = _sampler(lesion_types="calcification", num_samples=300)(_item())
    assert {p["patch_lesion"] for p in patches} == {-1, 1}
    dist = _lesion_distance()
    for p in patches:
        if p["patch_label"] == 0:
            rows, cols = _window(tuple(p["patch_center"].tolist()))
            assert dist[rows, cols].min() > 12


def test_center_sets_erosion_keeps_tiny_lesions():
    item = _item()
    from mammo_monai.transforms.lesions import lesion_regions

    regions = lesion_regions(item["lesions"], (ROWS, COLS))
    sets = patch_center_sets(regions, np.ones((ROWS, COLS), bool), (48, 64), jitter=-5, min_distance=0)
    big_r, big_c = sets.positives[0]
    assert np.hypot(big_r - 300, big_c - 190).max() <= 150 - 5 + 1  # eroded by 5 px (to pixel precision)
    tiny_r, tiny_c = sets.positives[1]
    assert len(tiny_r) >= 1 and np.hypot(tiny_r - 300, tiny_c - 352).max() <= 1  # innermost pixels kept


def test_argument_checks():
    with pytest.raises(ValueError, match="jitter"):
        RandLesionPatchesd(keys="image", patch_size=32, jitter=16)
    with pytest.raises(ValueError, match="lesion_types"):
        RandLesionPatchesd(keys="image", patch_size=32, lesion_types="tumour")
    with pytest.raises(ValueError, match="pos and neg"):
        RandLesionPatchesd(keys="image", patch_size=32, pos=0, neg=0)
    item = _item()
    item["other"] = torch.zeros(1, 10, 10)
    with pytest.raises(ValueError, match="share a grid"):
        RandLesionPatchesd(keys=["image", "other"], patch_size=32)(item)


def test_fast_on_a_full_mammogram():
    rng = np.random.default_rng(0)
    out = render_mammogram((2000, 1200), "L", "CC", 2, rng, label=False, lesions=[
        LesionSpec("mass", 150.0), LesionSpec("calcification", 20.0, style="clustered"), LesionSpec("mass", 3.0)])
    lesions = [make_lesion(t, "benign", center=c, radius=r)
               for t, c, r in zip(("mass", "calcification", "mass"), out.centers, out.radii)]
    item = {"image": MetaTensor(torch.from_numpy(out.image[None])), "lesions": lesions,
            BREAST_MASK_KEY: torch.from_numpy(out.breast[None].astype(np.uint8))}
    sampler = RandLesionPatchesd(keys=["image", BREAST_MASK_KEY], patch_size=256, num_samples=8, jitter=32,
                                 min_distance=32, class_map=CLASS_MAP).set_random_state(0)
    sampler(item)
    start = time.perf_counter()
    for _ in range(3):
        patches = sampler(item)
    per_item = (time.perf_counter() - start) / 3
    assert len(patches) == 8 and patches[0]["image"].shape == (1, 256, 256)
    assert per_item < 1.0, f"{per_item:.2f} s per 2000x1200 item (measured about 0.04 s)"


def test_missing_keys_allowed():
    sampler = _sampler(keys=["lesion_mask", "image"], allow_missing_keys=True, num_samples=3)
    patches = sampler(_item())
    assert len(patches) == 3 and all(p["image"].shape == (1, 48, 64) and "lesion_mask" not in p for p in patches)


def _centres(**kwargs) -> LesionPatchCentresd:
    args = {"patch_size": (48, 64), "jitter": 8, "min_distance": 12, "class_map": CLASS_MAP}
    args.update(kwargs)
    return LesionPatchCentresd("image", **args)


def test_precomputed_centres_give_the_same_draws_and_stay_out_of_the_patches():
    """LesionPatchCentresd (the cached half) + the sampler == the sampler alone, seed for seed."""
    item = _centres()(_item())
    assert isinstance(item["patch_centres"], LesionPatchCentres)
    inline = _sampler(num_samples=30).set_random_state(5)(_item())
    cached = _sampler(num_samples=30).set_random_state(5)(item)
    assert [p["patch_center"].tolist() for p in inline] == [p["patch_center"].tolist() for p in cached]
    assert [p["patch_label"] for p in inline] == [p["patch_label"] for p in cached]
    assert all(torch.equal(p["image"], q["image"]) for p, q in zip(inline, cached))
    assert all("patch_centres" not in p and "lesions" in p for p in cached)
    # from a lesion mask too (the bundle's case: the label is the mask)
    masked = LesionMaskd(keys="lesion_mask", class_map=CLASS_MAP)(_item())
    a = _sampler(mask_key="lesion_mask", num_samples=10).set_random_state(2)(masked)
    b = _sampler(mask_key="lesion_mask", num_samples=10).set_random_state(2)(_centres(mask_key="lesion_mask")(masked))
    assert [p["patch_center"].tolist() for p in a] == [p["patch_center"].tolist() for p in b]


def test_precomputed_centres_of_other_settings_or_grid_are_refused():
    item = _centres(jitter=4)(_item())
    with pytest.raises(ValueError, match="other settings \\(jitter\\)"):
        _sampler()(item)
    item = _centres()(_item())
    item["image"] = item["image"][:, :-10]
    with pytest.raises(ValueError, match="grid"):
        _sampler()(item)
    with pytest.raises(TypeError, match="LesionPatchCentres"):
        _sampler()({**_item(), "patch_centres": [1, 2, 3]})
    with pytest.raises(ValueError, match="one reference image"):
        LesionPatchCentresd(["image", "label"], patch_size=32)


def test_patches_never_share_memory_with_the_input():
    """So a CacheDataset may skip its deep copy (copy_cache=False) with this sampler first among the random ones."""
    item = _item()
    item["image"] = item["image"].as_tensor()
    before = item["image"].clone()
    for p in _sampler(num_samples=20)(item):
        p["image"] += 1
    assert torch.equal(item["image"], before)
