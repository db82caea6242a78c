"""CNN features of detection candidates: crops at two scales, an autoencoder pretrained on unlabelled crops.

Stage 2 of two-stage detection (:mod:`mammo_monai.engines.two_stage_detection`) describes each candidate by
handcrafted measures. This module adds what a small CNN sees: :func:`candidate_crops` cuts each candidate out of
the preprocessed film at two scales (a square of ``scale x radius`` half-width, resampled to ``size x size``:
the mass itself and its surroundings, as two channels); :func:`pretrain_crop_autoencoder` trains MONAI's
:class:`~monai.networks.nets.AutoEncoder` on the crops of every film **without labels** by masked-image
modelling (random blocks hidden, the whole crop reconstructed: it must learn the tissue's structure to fill them
in); :func:`crop_embeddings` is the encoder's bottleneck averaged over space, the CNN feature vector of each
candidate. No weights come from a hub; the pretraining runs on the user's own films.

Example:
    >>> import numpy as np
    >>> image = np.random.default_rng(0).random((64, 64)).astype(np.float32)
    >>> crops = candidate_crops(image, np.array([[32.0, 32.0], [10.0, 50.0]]), np.array([6.0, 4.0]))
    >>> crops.shape
    (2, 2, 32, 32)
    >>> model = pretrain_crop_autoencoder(crops, epochs=1)
    >>> crop_embeddings(model, crops).shape
    (2, 64)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from monai.networks.nets import AutoEncoder
from monai.utils import set_determinism

__all__ = ["candidate_crops", "crop_autoencoder", "crop_embeddings", "pretrain_crop_autoencoder"]


def candidate_crops(image: np.ndarray, centers: np.ndarray, radii: np.ndarray, scales: Sequence[float] = (1.5, 4.0),
                    size: int = 32) -> np.ndarray:
    """Square crops around each candidate, one channel per scale, bilinear, zero outside the image.

    Args:
        image: ``(H, W)`` preprocessed film.
        centers: ``(n, 2)`` ``[row, col]`` on ``image``'s grid.
        radii: ``(n,)`` candidate radii on ``image``'s grid.
        scales: half-width of each crop in radii.
        size: crop side in pixels.

    Returns:
        ``(n, len(scales), size, size)`` float32.
    """
    centers = np.asarray(centers, np.float64).reshape(-1, 2)
    radii = np.asarray(radii, np.float64).reshape(-1)
    n, (h, w) = len(centers), image.shape
    if n == 0:
        return np.zeros((0, len(scales), size, size), np.float32)
    steps = torch.linspace(-1.0, 1.0, size, dtype=torch.float64)
    channels = []
    for scale in scales:
        half = torch.from_numpy(scale * np.maximum(radii, 1.0))[:, None]
        rows = torch.from_numpy(centers[:, :1]) + half * steps[None]            # (n, size) pixel rows
        cols = torch.from_numpy(centers[:, 1:]) + half * steps[None]
        # grid_sample's normalised coordinates (align_corners=True): -1 and 1 are the first and last pixel centres
        y = (2 * rows / max(h - 1, 1) - 1)[:, :, None].expand(n, size, size)
        x = (2 * cols / max(w - 1, 1) - 1)[:, None, :].expand(n, size, size)
        grid = torch.stack([x, y], dim=-1).float()
        source = torch.from_numpy(np.ascontiguousarray(image, np.float32))[None, None].expand(n, 1, h, w)
        channels.append(F.grid_sample(source, grid, mode="bilinear", padding_mode="zeros", align_corners=True))
    return torch.cat(channels, dim=1).numpy()


def crop_autoencoder(in_channels: int = 2) -> AutoEncoder:
    """The crop model: MONAI's 2D :class:`~monai.networks.nets.AutoEncoder`, 32 -> 4 px, 64 channels deep."""
    return AutoEncoder(spatial_dims=2, in_channels=in_channels, out_channels=in_channels, channels=(16, 32, 64),
                       strides=(2, 2, 2), num_res_units=1)


def _masked(batch: torch.Tensor, generator: torch.Generator, block: int = 8, fraction: float = 0.5) -> torch.Tensor:
    """``batch`` with random ``block x block`` squares (about ``fraction`` of them) set to zero in every channel."""
    b, _, h, w = batch.shape
    keep = torch.rand((b, 1, h // block, w // block), generator=generator) >= fraction
    return batch * keep.repeat_interleave(block, 2).repeat_interleave(block, 3).to(batch.dtype)


def pretrain_crop_autoencoder(crops: np.ndarray, epochs: int = 10, batch_size: int = 256, lr: float = 2e-3,
                              seed: int = 0) -> AutoEncoder:
    """Masked-image pretraining of :func:`crop_autoencoder` on unlabelled crops (``(n, C, 32, 32)``).

    Each step hides about half of the 8 x 8 blocks of every crop and trains the model to reconstruct the whole
    crop (mean squared error). Deterministic for a given ``seed`` (MONAI's ``set_determinism``).
    """
    set_determinism(seed=seed)
    generator = torch.Generator().manual_seed(seed)
    data = torch.from_numpy(np.asarray(crops, np.float32))
    model = crop_autoencoder(data.shape[1])
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(data), generator=generator)
        for start in range(0, len(data), batch_size):
            batch = data[order[start:start + batch_size]]
            loss = F.mse_loss(model(_masked(batch, generator)), batch)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    set_determinism(seed=None)
    return model.eval()


def crop_embeddings(model: AutoEncoder, crops: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """``(n, 64)`` float32: the encoder's bottleneck of each crop, averaged over its 4 x 4 positions."""
    data = torch.from_numpy(np.asarray(crops, np.float32))
    out = []
    with torch.inference_mode():
        for start in range(0, len(data), batch_size):
            hidden = model.intermediate(model.encode(data[start:start + batch_size]))
            out.append(hidden.mean(dim=(2, 3)))
    return torch.cat(out).numpy() if out else np.zeros((0, 64), np.float32)
