"""Flip test-time augmentation: outputs flipped back exactly, class outputs averaged, the bundle switch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from monai.bundle import ConfigParser
from monai.inferers import SimpleInferer, SlidingWindowInferer

from mammo_monai.inference import FlipTTAInferer

BUNDLES = Path(__file__).resolve().parents[2] / "bundles"


def test_equivariant_network_is_unchanged_and_inversion_is_exact():
    x = torch.rand(2, 1, 16, 12)
    for base in (SimpleInferer(), SlidingWindowInferer(roi_size=(8, 8), sw_batch_size=2, overlap=0.5)):
        out = FlipTTAInferer(base, flips=((0,), (1,), (0, 1)))(x, lambda t: t * 3.0)
        assert torch.allclose(out, x * 3.0, atol=1e-6)  # each view flipped back onto the input's grid


def test_non_equivariant_outputs_are_averaged_over_views():
    x = torch.zeros(1, 1, 4, 4)
    x[0, 0, 0, :] = 1.0  # a bright top row

    def net(t: torch.Tensor) -> torch.Tensor:  # "logits" (B, C, 2): the sum of the top half
        return t[:, :, :2].sum(dim=(2, 3))[:, :, None].repeat(1, 1, 2)

    out = FlipTTAInferer()(x, net)
    assert out.shape == (1, 1, 2) and torch.allclose(out, torch.full((1, 1, 2), 2.0))  # (4 + 0) / 2


def test_bad_flips():
    with pytest.raises(ValueError, match="one or more spatial axes"):
        FlipTTAInferer(flips=((),))
    with pytest.raises(ValueError, match="outside the input's 2 spatial dims"):
        FlipTTAInferer(flips=((2,),))(torch.zeros(1, 1, 4, 4), lambda t: t)


@pytest.mark.parametrize("bundle", ["mammo_image_classification", "mammo_mass_segmentation"])
def test_bundle_tta_switch(bundle):
    for tta in (False, True):
        parser = ConfigParser(json.loads((BUNDLES / bundle / "configs" / "inference.json").read_text()))
        parser.update({"tta": tta})
        inferer = parser.get_parsed_content("inferer")
        assert isinstance(inferer, FlipTTAInferer) and inferer.enabled is tta
