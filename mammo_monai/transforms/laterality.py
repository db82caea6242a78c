"""Laterality normalisation: flip every mammogram so the chest wall is on the left (column 0).

Which side of the pixel array the chest wall is on depends on how the image was written, not only on
the breast: DICOM says it with ``PatientOrientation`` (the row direction is ``A``, anterior, when the
columns run from the chest wall towards the nipple), but film scans do not fill it in. The side is
decided, in this order:

1. ``PatientOrientation`` row direction ``A`` -> chest wall left, ``P`` -> right (DICOM geometry);
2. the laterality (item ``laterality`` key, else the DICOM header) with ``convention``, by default
   ``{"L": "left", "R": "right"}`` — how CBIS-DDSM, DDSM and MIAS store their images (measured on the real
   files in the tests);
3. the image itself (:func:`chest_wall_side_from_image`: the vertical edge strip with more tissue).

The image-based side is always computed too and stored in the meta dict (``chest_wall_side_from_image``)
next to the decision (``chest_wall_side``, ``chest_wall_side_source``), so a disagreement between a
header and the pixels can be found. The flip is MONAI's ``Flip`` and is recorded, so ``inverse`` /
``monai.transforms.Invertd`` map predictions back to the original pixel grid.

Example:
    >>> import torch
    >>> img = torch.zeros(1, 8, 6); img[:, :, 4:] = 1.0          # a right breast, stored like CBIS-DDSM
    >>> out = NormalizeLaterality()(img, laterality="R")
    >>> out[0, 0].tolist(), out.meta["chest_wall_side"], out.meta["chest_wall_side_source"]
    ([1.0, 1.0, 0.0, 0.0, 0.0, 0.0], 'right', 'laterality')
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.data.meta_obj import get_track_meta
from monai.transforms import Flip, InvertibleTransform, MapTransform
from monai.utils import TraceKeys, convert_to_tensor

from mammo_monai.keys import normalise_laterality

from .utils import CHEST_WALL_SIDE, image_plane, item_laterality

__all__ = ["NormalizeLaterality", "NormalizeLateralityd", "chest_wall_side", "chest_wall_side_from_image"]

DEFAULT_CONVENTION = {"L": "left", "R": "right"}


def chest_wall_side_from_image(img: Any, mask: Any = None, strip: float = 0.2) -> str:
    """``"left"`` or ``"right"``: the side of the breast's bounding box where the breast is tallest.

    The breast is widest (in rows) where it meets the chest wall and narrows to the nipple, and this
    holds whether or not the film was padded (mini-MIAS pads its films, so the chest wall is often
    hundreds of pixels from the image edge, and film-edge strips make the edges themselves unreliable).
    ``mask`` (non-zero = breast, same grid) is used when given; otherwise a coarse one is made on a
    subsample of about 256 rows: pixels above the midpoint of the 5th and 95th percentiles, largest
    connected component. The tissue in the ``strip`` fraction at each end of its bounding box is compared.

    Measured without a mask: right on the 4 CBIS-DDSM views and the DDSM image, and on 208 of the 216
    mini-MIAS films; the 8 misses are large breasts that fill the film, joined by bright film-edge strips
    (mdb145-148, 151, 152, 261, 274). That is why the header (laterality) is used first.
    """
    from scipy import ndimage

    arr = image_plane(img)
    step = max(1, arr.shape[0] // 256)
    if mask is not None:
        tissue = image_plane(mask)[::step, ::step] > 0
    else:
        small = arr[::step, ::step]
        low, high = np.percentile(small, (5, 95))
        labels, count = ndimage.label(small > (low + high) / 2)
        if count == 0:
            return "left"
        sizes = np.bincount(labels.ravel())
        sizes[0] = 0
        tissue = labels == int(sizes.argmax())
    cols = np.nonzero(tissue.any(axis=0))[0]
    if cols.size == 0:
        return "left"
    c0, c1 = int(cols[0]), int(cols[-1]) + 1
    width = max(1, round((c1 - c0) * strip))
    return "left" if tissue[:, c0:c0 + width].sum() >= tissue[:, c1 - width:c1].sum() else "right"


def chest_wall_side(
    laterality: str | None = None,
    patient_orientation: Any = None,
    image: Any = None,
    convention: Mapping[str, str] | None = None,
) -> tuple[str, str]:
    """``(side, source)``: where the chest wall is in the pixel array and what said so
    (``"patient_orientation"``, ``"laterality"`` or ``"image"``; see the module docstring)."""
    if patient_orientation is not None and not isinstance(patient_orientation, str):
        row_direction = str(next(iter(patient_orientation))).strip().upper()[:1]
        if row_direction in ("A", "P"):
            return ("left" if row_direction == "A" else "right"), "patient_orientation"
    lat = normalise_laterality(laterality) if isinstance(laterality, str) else None
    convention = DEFAULT_CONVENTION if convention is None else convention
    if lat in convention:
        return convention[lat], "laterality"
    if image is None:
        raise ValueError("cannot tell the chest-wall side: no PatientOrientation, no laterality and no image")
    return chest_wall_side_from_image(image), "image"


class NormalizeLaterality(InvertibleTransform):
    """Flip a ``(C, rows, cols)`` image left-right when its chest wall is not on ``target_side``.

    Args:
        target_side: where the chest wall should end up (``"left"``, the package convention, or ``"right"``).
        convention: laterality -> chest-wall side in the stored pixels (default ``{"L": "left", "R": "right"}``).
        use_header: use ``PatientOrientation`` and the header laterality from the image's meta dict.

    ``__call__(img, laterality=None, flip=None)``: ``laterality`` overrides the header's; ``flip`` forces the
    decision (the dictionary version passes the image's decision to its masks this way).
    """

    backend = Flip.backend

    def __init__(self, target_side: str = CHEST_WALL_SIDE, convention: Mapping[str, str] | None = None,
                 use_header: bool = True) -> None:
        if target_side not in ("left", "right"):
            raise ValueError(f"target_side must be 'left' or 'right', got {target_side!r}")
        self.target_side = target_side
        self.convention = dict(DEFAULT_CONVENTION if convention is None else convention)
        self.use_header = use_header
        self.flipper = Flip(spatial_axis=1)

    def decide(self, img: Any, laterality: str | None = None) -> tuple[bool, dict[str, Any]]:
        """Whether to flip, and the facts behind it (stored in the meta dict)."""
        meta = img.meta if isinstance(img, MetaTensor) and self.use_header else {}
        if laterality is None:
            laterality = meta.get("laterality")
        side, source = chest_wall_side(laterality, meta.get("patient_orientation"), img, self.convention)
        info = {
            "chest_wall_side": side,
            "chest_wall_side_source": source,
            "chest_wall_side_from_image": chest_wall_side_from_image(img),
        }
        return side != self.target_side, info

    def __call__(self, img: Any, laterality: str | None = None, flip: bool | None = None) -> torch.Tensor:
        info: dict[str, Any] = {}
        if flip is None:
            flip, info = self.decide(img, laterality)
        # recorded like MONAI's RandFlip: one entry per call, holding Flip's own entry when it flipped
        self._do_transform = bool(flip)
        out = self.flipper(img) if flip else convert_to_tensor(img, track_meta=get_track_meta())
        self.push_transform(out, replace=True)
        if isinstance(out, MetaTensor):
            out.meta.update(info)
            out.meta["laterality_flipped"] = bool(flip)
        return out

    def inverse(self, data: torch.Tensor) -> torch.Tensor:
        transform = self.pop_transform(data)
        if not transform[TraceKeys.DO_TRANSFORM]:
            return data
        data.applied_operations.append(transform[TraceKeys.EXTRA_INFO])  # type: ignore[union-attr]
        return self.flipper.inverse(data)


class NormalizeLateralityd(MapTransform, InvertibleTransform):
    """Dictionary version: the decision is made once on ``image_key`` (with the item's ``laterality``) and
    applied to every key (image, label, breast mask, ...), each recorded for inversion.

    Example (in a bundle config)::

        {"_target_": "mammo_monai.transforms.NormalizeLateralityd", "keys": ["image", "label"]}
    """

    backend = NormalizeLaterality.backend

    def __init__(self, keys: KeysCollection, image_key: str = "image", target_side: str = CHEST_WALL_SIDE,
                 convention: Mapping[str, str] | None = None, use_header: bool = True,
                 allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.image_key = image_key
        self.normalizer = NormalizeLaterality(target_side, convention, use_header)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        if self.image_key not in d:
            raise KeyError(f"NormalizeLateralityd: image key {self.image_key!r} not in the item")
        flip, info = self.normalizer.decide(d[self.image_key], item_laterality(d, self.image_key))
        for key in self.key_iterator(d):
            d[key] = self.normalizer(d[key], flip=flip)
            if isinstance(d[key], MetaTensor):
                d[key].meta.update(info)
        return d

    def inverse(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.normalizer.inverse(d[key])
        return d
