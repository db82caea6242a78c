"""Property tests (hypothesis) of the geometry transforms: flips and crops come back to the original grid."""

from __future__ import annotations

import torch
from hypothesis import given
from hypothesis import strategies as st
from monai.data import MetaTensor

import tests.hypothesis_profile  # noqa: F401  (registers and loads the deterministic profile)
from mammo_monai.transforms.breast import BreastCropResized
from mammo_monai.transforms.laterality import NormalizeLaterality


@given(st.integers(2, 24), st.integers(2, 24), st.sampled_from(["L", "R"]), st.sampled_from(["left", "right"]),
       st.integers(0, 2**31 - 1))
def test_normalize_laterality_then_inverse_is_identity(rows, cols, laterality, target, seed):
    image = MetaTensor(torch.rand((1, rows, cols), generator=torch.Generator().manual_seed(seed)))
    transform = NormalizeLaterality(target_side=target)
    out = transform(image.clone(), laterality=laterality)
    assert bool(out.meta["laterality_flipped"]) == ((laterality == "L") != (target == "left"))
    back = transform.inverse(out)
    assert torch.equal(back.as_tensor(), image.as_tensor())


@given(
    st.integers(120, 260), st.integers(80, 200),  # image rows, cols
    st.floats(0.2, 0.8), st.floats(0.2, 0.8),  # lesion centre as a fraction of the breast box
    st.floats(0.06, 0.2),  # lesion radius as a fraction of the breast box's longest side
    st.sampled_from([64, 96, 128]),  # output size: the disc spans at least ~4 output pixels
)
def test_breast_crop_resize_inverse_round_trip_of_a_mask(rows, cols, fr, fc, rf, size):
    """A lesion disc inside the breast survives crop + area resize + inverse within a resampling tolerance."""
    image = torch.zeros((1, rows, cols))
    r0, r1, c1 = rows // 10, rows - rows // 10, int(cols * 0.7)
    image[:, r0:r1, :c1] = 1000.0  # the breast, chest wall on the left
    rr, cc = torch.meshgrid(torch.arange(rows), torch.arange(cols), indexing="ij")
    centre = (r0 + fr * (r1 - r0), fc * c1)
    radius = rf * max(r1 - r0, c1)
    disc = (((rr - centre[0]) ** 2 + (cc - centre[1]) ** 2) <= radius**2) & (image[0] > 0)
    label = disc[None].float()
    transform = BreastCropResized(keys=["image", "label"], spatial_size=size, mode="nearest")
    out = transform({"image": MetaTensor(image), "label": MetaTensor(label)})
    out["label"] = MetaTensor((out["label"] >= 0.5).float(), meta=out["label"].meta,
                              applied_operations=out["label"].applied_operations)
    back = transform.inverse(out)["label"]
    assert tuple(back.shape) == tuple(label.shape)
    pred, truth = back.as_tensor()[0] > 0.5, label[0] > 0.5
    scale = max(r1 - r0, c1) / size  # one output pixel, in original pixels
    # every recovered pixel lies within ~one output pixel of the disc, and the disc is mostly recovered
    dist = torch.sqrt(((rr - centre[0]) ** 2 + (cc - centre[1]) ** 2).float())
    assert not (pred & (dist > radius + 2 * scale + 2)).any()
    overlap = (pred & truth).sum().item() / max(truth.sum().item(), 1)
    assert overlap >= 0.7  # the rim of about one output pixel may be lost
