"""Candidate crops at two scales and the crop autoencoder pretrained without labels."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from mammo_monai.inference.crop_embedding import (
    _masked,
    candidate_crops,
    crop_autoencoder,
    crop_embeddings,
    pretrain_crop_autoencoder,
)


def _film() -> np.ndarray:
    image = np.full((96, 96), 0.2, np.float32)
    yy, xx = np.mgrid[:96, :96]
    image[(yy - 40) ** 2 + (xx - 60) ** 2 <= 36] = 0.9
    return image


def test_crops_are_centred_and_scaled():
    crops = candidate_crops(_film(), np.array([[40.0, 60.0], [0.0, 0.0]]), np.array([6.0, 6.0]), scales=(1.0, 4.0),
                            size=33)
    assert crops.shape == (2, 2, 33, 33) and crops.dtype == np.float32
    assert crops[0, 0, 16, 16] == np.float32(0.9) and crops[0, 0, 0, 0] < 0.9  # the disc fills the small crop
    assert crops[0, 1, 16, 16] == np.float32(0.9) and crops[0, 1, 0, 0] == np.float32(0.2)  # the large one holds tissue
    assert crops[1, 1, 0, 0] == 0.0 and crops[1, 1, -1, -1] == np.float32(0.2)  # outside the film: zeros
    assert candidate_crops(_film(), np.zeros((0, 2)), np.zeros(0)).shape == (0, 2, 32, 32)


def test_masking_hides_blocks_in_every_channel():
    batch = torch.ones(4, 2, 32, 32)
    masked = _masked(batch, torch.Generator().manual_seed(0))
    assert torch.equal(masked[:, 0], masked[:, 1]) and 0.2 < float(masked.mean()) < 0.8
    assert set(masked.unique().tolist()) == {0.0, 1.0}


def test_pretraining_learns_to_fill_in_and_is_seeded():
    rng = np.random.default_rng(0)
    centres = rng.uniform(20, 76, (64, 2))
    crops = candidate_crops(_film(), centres, rng.uniform(3, 8, 64))
    untrained = crop_autoencoder().eval()
    model = pretrain_crop_autoencoder(crops, epochs=15, batch_size=32)
    data = torch.from_numpy(crops)
    with torch.inference_mode():
        masked = _masked(data, torch.Generator().manual_seed(1))
        before = float(F.mse_loss(untrained(masked), data))
        after = float(F.mse_loss(model(masked), data))
    assert after < 0.5 * before
    again = pretrain_crop_autoencoder(crops, epochs=15, batch_size=32)
    assert np.allclose(crop_embeddings(model, crops), crop_embeddings(again, crops), atol=1e-5)
    assert crop_embeddings(model, crops[:0]).shape == (0, 64)
