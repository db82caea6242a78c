"""Normal-tissue crops for lesion classifiers: a pseudo-lesion record on a normal image, cut like a lesion.

With ``include_normal`` the lesion classifier has a fifth class, normal tissue
(:mod:`mammo_monai.data.labels`: one normal-tissue item per normal image, ``lesion`` ``None``). To give it
crops that differ from the lesion crops only by what they show, :class:`NormalTissueLesiond` writes a lesion
record on such an item: a centre inside the breast and a radius drawn from the range of real lesion sizes (in
millimetres, through the image's pixel spacing), so :class:`~mammo_monai.transforms.spatial.LesionCropd` then
cuts it with the same context, size and padding rules as a mass or a calcification.

The centre is drawn uniformly among the breast's working-copy cells (:func:`~mammo_monai.transforms.breast.
breast_mask_small`) far enough inside the breast for the whole circle to lie in it (the breast mask eroded by the
radius; the un-eroded mask when the breast is too thin for that). Normal images have no lesion to keep away from.

- training, :class:`RandNormalTissueLesiond`: a new centre and radius at every call (``self.R``): every epoch
  sees other normal tissue of the same women;
- validation / test / inference, :class:`NormalTissueLesiond`: drawn from a generator seeded by ``seed`` and
  the image's file name (CRC-32, the same in every process and run), so the evaluated crop is the same every
  time.

Items that are not normal-tissue items (a lesion record already there, or ``marker_key`` not ``marker``) pass
through unchanged.

Example:
    >>> import torch
    >>> from monai.data import MetaTensor
    >>> img = torch.zeros(1, 400, 300); img[:, 50:350, :200] = 1000.0          # the breast at the left
    >>> item = {"image": MetaTensor(img, meta={"filename_or_obj": "n.png"}), "lesion": None,
    ...         "type_pathology": "normal"}
    >>> out = NormalTissueLesiond(default_spacing=0.2)(item)
    >>> les = out["lesion"]
    >>> les["pathology"], 20 <= les["radius"] <= 75, 50 <= les["center"][0] < 350 and les["center"][1] < 200
    ('normal', True, True)
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
from monai.config import KeysCollection
from monai.transforms import MapTransform, Randomizable
from monai.utils import ImageMetaKey
from scipy import ndimage

from .breast import _known_spacing, breast_mask_small

__all__ = ["NormalTissueLesiond", "RandNormalTissueLesiond"]


class NormalTissueLesiond(MapTransform):
    """Write a normal-tissue pseudo-lesion (centre inside the breast, radius in mm) on normal-tissue items,
    the same one for an image every time (validation, test, inference): drawn from a generator seeded by
    ``seed`` and the image's file name (CRC-32). Not random for MONAI, so a ``CacheDataset`` caches past it.

    Args:
        keys: the image (one key), on its original grid (right after loading).
        lesion_key: where the record goes (``{"type": None, "pathology": "normal", "center": [row, col],
            "radius": px, "box": None, "source": "normal_tissue"}``).
        marker_key, marker: which items are normal-tissue items (``type_pathology == "normal"``).
        radius_mm: ``(low, high)`` radius range in mm (default 4-15 mm: the masses of MIAS and CBIS-DDSM).
        default_spacing: pixel size in mm for images without one (mini-MIAS PGMs: 0.2); ``None``: such an
            image is an error.
        seed: the seed of the draws.
        working_size: longest side of the breast mask's working copy.
    """

    def __init__(self, keys: KeysCollection = "image", lesion_key: str = "lesion", marker_key: str = "type_pathology",
                 marker: str = "normal", radius_mm: Sequence[float] = (4.0, 15.0), default_spacing: float | None = None,
                 seed: int = 0, working_size: int = 512, allow_missing_keys: bool = False) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        if len(self.keys) != 1:
            raise ValueError(f"{type(self).__name__} takes one image key, got {self.keys}")
        low, high = (float(v) for v in radius_mm)
        if not 0 < low <= high:
            raise ValueError(f"radius_mm must be 0 < low <= high, got {radius_mm}")
        if default_spacing is not None and not float(default_spacing) > 0:
            raise ValueError(f"default_spacing must be > 0 mm, got {default_spacing}")
        self.lesion_key, self.marker_key, self.marker = lesion_key, marker_key, marker
        self.radius_mm = (low, high)
        self.default_spacing = None if default_spacing is None else float(default_spacing)
        self.seed, self.working_size = int(seed), int(working_size)

    def _generator(self, name: str) -> np.random.RandomState:
        return np.random.RandomState((self.seed * 1_000_003 + zlib.crc32(name.encode("utf-8"))) % 2**32)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        if d.get(self.marker_key) != self.marker or d.get(self.lesion_key) is not None:
            return d
        for key in self.key_iterator(d):
            image = d[key]
            meta = getattr(image, "meta", None) or {}
            name = str(meta.get(ImageMetaKey.FILENAME_OR_OBJ, key))
            spacing = _known_spacing(image) or self.default_spacing
            if spacing is None:
                raise ValueError(f"{type(self).__name__}: {name} has no pixel spacing; set default_spacing (mm)")
            rng = self._generator(name)
            radius = float(rng.uniform(*self.radius_mm)) / spacing
            small, stride = breast_mask_small(image, self.working_size)
            if not small.any():
                raise ValueError(f"{type(self).__name__}: no breast found in {name}")
            depth = max(1, math.ceil(radius / stride))
            inner = ndimage.binary_erosion(small, iterations=depth, border_value=0)
            cells = np.flatnonzero(inner if inner.any() else small)
            row, col = divmod(int(cells[rng.randint(cells.size)]), small.shape[1])
            rows, cols = int(image.shape[-2]), int(image.shape[-1])
            centre = [min(rows - 1, row * stride + stride // 2), min(cols - 1, col * stride + stride // 2)]
            d[self.lesion_key] = {"type": None, "pathology": "normal", "center": centre, "radius": radius,
                                  "box": None, "source": "normal_tissue"}
        return d


class RandNormalTissueLesiond(Randomizable, NormalTissueLesiond):
    """:class:`NormalTissueLesiond` with a new centre and radius at every call (training: every epoch sees
    other normal tissue of the same women), drawn with ``self.R``. Same arguments, but ``seed``."""

    def randomize(self, data: Any = None) -> None:
        """The draws depend on the image (its breast), so they are made in ``__call__``."""

    def _generator(self, name: str) -> np.random.RandomState:
        return self.R
