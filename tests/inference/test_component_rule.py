"""ComponentRule(d): a foreground probability map -> mask by threshold, component size, peak and top-k."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from mammo_monai.inference import FastAsDiscrete
from mammo_monai.inference.component_rule import ComponentRule, ComponentRuled, label_components


def _blobs() -> np.ndarray:
    p = np.zeros((40, 40), np.float32)
    p[2:6, 2:6] = 0.6          # small faint: 16 px, peak 0.6
    p[10:20, 10:20] = 0.8      # large: 100 px, peak 0.8
    p[30:36, 30:36] = 0.99     # medium bright: 36 px, peak 0.99
    return p


def test_label_components_sizes_and_peaks():
    labels, sizes, peaks = label_components(_blobs(), 0.5)
    assert labels.shape == (40, 40) and sorted(sizes.tolist()) == [16, 36, 100]
    assert sorted(np.round(peaks, 2).tolist()) == [0.6, 0.8, 0.99]
    assert label_components(np.zeros((4, 4)), 0.5)[1].size == 0


@pytest.mark.parametrize(("rule", "kept"), [
    (ComponentRule(), 152),
    (ComponentRule(min_size=20), 136),
    (ComponentRule(min_peak=0.9), 36),
    (ComponentRule(max_components=1), 36),               # the highest peak, not the largest
    (ComponentRule(threshold=0.7, max_components=2), 136),
    (ComponentRule(threshold=0.99), 0),                  # strictly above the threshold
])
def test_rule_keeps_what_it_says(rule, kept):
    mask = rule(_blobs())
    assert mask.dtype == bool and mask.shape == (40, 40) and int(mask.sum()) == kept
    assert rule(_blobs()[None]).shape == (1, 40, 40)


def test_rule_rejects_bad_values_and_shapes():
    for bad in ({"threshold": 1.0}, {"min_size": -1}, {"max_components": 0}):
        with pytest.raises(ValueError):
            ComponentRule(**bad)
    with pytest.raises(ValueError, match="probability map"):
        ComponentRule()(np.zeros((2, 3, 3)))


def test_default_rule_equals_argmax_then_small_components_dropped():
    """threshold 0.5 is the argmax of a 2-class softmax (ties to background, as argmax keeps the first maximum);
    min_size drops 4-connected components under that many pixels (skimage's labelling as the reference; skimage
    0.26's ``remove_small_objects(min_size=s)`` also drops components of exactly ``s`` pixels)."""
    from skimage.measure import label

    rng = np.random.default_rng(0)
    logits = torch.from_numpy(rng.normal(size=(2, 64, 64)).astype(np.float32))
    logits[:, 5, 5] = 0.0  # an exact tie
    probabilities = torch.softmax(logits, 0)
    argmax = np.asarray(FastAsDiscrete(argmax=True)(probabilities)[0]) > 0
    assert np.array_equal(ComponentRule()(probabilities[1].numpy()), argmax)
    components = label(argmax, connectivity=1)
    sizes = np.bincount(components.ravel())
    for min_size in (2, 3, 8):
        reference = (sizes >= min_size)[components] & argmax
        assert np.array_equal(ComponentRule(0.5, min_size)(probabilities[1].numpy()), reference), min_size


def test_dictionary_transform_keeps_metadata():
    p = torch.from_numpy(_blobs())
    pred = MetaTensor(torch.stack([1 - p, p]), meta={"filename_or_obj": "film.png"})
    out = ComponentRuled("pred", min_peak=0.9)({"pred": pred, "image": 1})
    assert out["image"] == 1 and tuple(out["pred"].shape) == (1, 40, 40)
    assert out["pred"].meta["filename_or_obj"] == "film.png" and float(out["pred"].sum()) == 36
    assert ComponentRuled("missing", allow_missing_keys=True)({"pred": pred})["pred"] is pred
