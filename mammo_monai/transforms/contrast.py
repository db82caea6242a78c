"""CLAHE (contrast-limited adaptive histogram equalisation) on the breast region only.

scikit-image's ``equalize_adapthist`` does the work. Two things are mammography-specific: the tiles
are sized as a fraction of the breast's bounding box (not a fixed pixel count tuned for one scanner),
and only the breast is equalised — the film background, labels and tape outside it would otherwise
take histogram bins and, in the tiles at the skin line, amplify noise into false texture. Pixels outside
the mask keep their value. The input must already be windowed to ``[0, 1]``
(:class:`~mammo_monai.transforms.intensity.IntensityWindow`).

Example:
    >>> import torch
    >>> img = torch.linspace(0.2, 0.4, 64 * 64).reshape(1, 64, 64)
    >>> out = CLAHE(clip_limit=0.02)(img)
    >>> out.shape, float(out.max() - out.min()) > 0.2
    (torch.Size([1, 64, 64]), True)
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform, Transform
from monai.utils import TransformBackends, convert_to_dst_type
from skimage.exposure import equalize_adapthist

from .utils import BREAST_MASK_KEY

__all__ = ["CLAHE", "CLAHEd"]


class CLAHE(Transform):
    """CLAHE on a ``(C, rows, cols)`` image in ``[0, 1]``, inside ``mask`` only (the whole image without one).

    Args:
        tile_fraction: tile size as a fraction of the breast bounding box (rows, cols); 1/8 gives an
            8 x 8 grid of tiles over the breast whatever the resolution.
        clip_limit: scikit-image's clip limit (0..1; higher = more contrast).
        nbins: histogram bins.
    """

    backend = [TransformBackends.NUMPY]

    def __init__(self, tile_fraction: float | Sequence[float] = 1 / 8, clip_limit: float = 0.01,
                 nbins: int = 256) -> None:
        fractions = (tile_fraction, tile_fraction) if np.isscalar(tile_fraction) else tuple(tile_fraction)
        if not all(0 < f <= 1 for f in fractions):
            raise ValueError(f"tile_fraction must be in (0, 1], got {tile_fraction}")
        self.tile_fraction = (float(fractions[0]), float(fractions[1]))
        self.clip_limit = float(clip_limit)
        self.nbins = int(nbins)

    def __call__(self, img: Any, mask: Any = None) -> Any:
        arr = np.asarray(img.detach().cpu() if isinstance(img, torch.Tensor) else img, dtype=np.float32)
        if arr.ndim != 3:
            raise ValueError(f"expected a channel-first (C, rows, cols) image, got shape {arr.shape}")
        if arr.min() < -1e-6 or arr.max() > 1 + 1e-6:
            raise ValueError(f"CLAHE expects an image windowed to [0, 1], got [{arr.min():.3g}, {arr.max():.3g}]")
        region = np.ones(arr.shape[1:], bool) if mask is None else np.asarray(
            mask.detach().cpu() if isinstance(mask, torch.Tensor) else mask).reshape(arr.shape[1:]) > 0
        out = arr.copy()
        if region.any():
            rows, cols = np.nonzero(region.any(axis=1))[0], np.nonzero(region.any(axis=0))[0]
            r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
            kernel = (max(8, int((r1 - r0) * self.tile_fraction[0])), max(8, int((c1 - c0) * self.tile_fraction[1])))
            inside = region[r0:r1, c0:c1]
            for c in range(arr.shape[0]):
                box = np.clip(arr[c, r0:r1, c0:c1], 0, 1)
                equalised = equalize_adapthist(box, kernel_size=kernel, clip_limit=self.clip_limit, nbins=self.nbins)
                out[c, r0:r1, c0:c1] = np.where(inside, equalised, box)
        result, *_ = convert_to_dst_type(out, img, dtype=torch.float32 if isinstance(img, torch.Tensor) else None)
        if isinstance(result, MetaTensor):
            result.meta["clahe"] = {"tile_fraction": list(self.tile_fraction), "clip_limit": self.clip_limit}
        return result


class CLAHEd(MapTransform):
    """Dictionary version of :class:`CLAHE`; the breast mask comes from ``mask_key`` when present.

    Example (in a bundle config)::

        {"_target_": "mammo_monai.transforms.CLAHEd", "keys": "image", "clip_limit": 0.01}
    """

    backend = CLAHE.backend

    def __init__(self, keys: KeysCollection, tile_fraction: float | Sequence[float] = 1 / 8,
                 clip_limit: float = 0.01, nbins: int = 256, mask_key: str | None = BREAST_MASK_KEY,
                 allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.clahe = CLAHE(tile_fraction, clip_limit, nbins)
        self.mask_key = mask_key

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        mask = d.get(self.mask_key) if self.mask_key is not None else None
        for key in self.key_iterator(d):
            d[key] = self.clahe(d[key], mask)
        return d
