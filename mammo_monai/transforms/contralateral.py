"""The other breast as context: the contralateral mammogram as a second input channel.

:class:`ContralateralChanneld` loads the item's ``contralateral_image`` (the same woman's other breast, same
view: :func:`mammo_monai.data.pairing.add_contralateral_images`) through the same preprocessing as the image
and appends it as a channel: ``(C, H, W)`` -> ``(2C, H, W)`` with ``mode="stack"``, or the image and its
difference to the other breast (``image - partner``) with ``mode="difference"``.

Registration: the preprocessing crops each film to its breast, resizes it by its longest side and flips it so
the chest wall is at column 0 (:class:`~mammo_monai.transforms.laterality.NormalizeLateralityd`; the partner's
laterality is the item's, swapped), so the two breasts face the same way and are aligned by their breast
boxes: the left breast is mirrored onto the right one. Only the image's own geometry is recorded, so
``Invertd`` maps predictions back exactly as without the partner.

A film without a partner (one-view data, a missing breast) gets a zero channel with ``missing="zeros"`` (the
network still sees the right number of channels) or a ``ValueError`` naming the image with
``missing="error"``. ``enabled=False`` makes the transform a no-op, so a config switches it with one value.

Example:
    >>> import torch
    >>> pipeline = lambda item: {"image": torch.full((1, 4, 4), 2.0 if item["image"] == "b.png" else 1.0)}
    >>> t = ContralateralChanneld("image", preprocess=pipeline)
    >>> item = {"image": torch.ones(1, 4, 4), "contralateral_image": "b.png", "laterality": "R"}
    >>> out = t(item)["image"]
    >>> tuple(out.shape), out[1, 0, 0].item()
    ((2, 4, 4), 2.0)
    >>> ContralateralChanneld("image", preprocess=pipeline, mode="difference")(item)["image"][1, 0, 0].item()
    -1.0
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import Any

import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform

from mammo_monai.keys import CONTRALATERAL_IMAGE, LATERALITY, OTHER_SIDE, VIEW, normalise_laterality

__all__ = ["CONTRALATERAL_MODES", "ContralateralChanneld"]

#: how the partner enters: as its own channel(s), or as the image minus the partner
CONTRALATERAL_MODES = ("stack", "difference")
_MISSING = ("zeros", "error")


class ContralateralChanneld(MapTransform):
    """Append the item's other breast, preprocessed like the image, as extra channel(s) of ``keys``.

    Args:
        keys: the image key(s) to extend (each gets the partner's same key, after ``preprocess``).
        preprocess: the item -> item preprocessing of the image (e.g. ``full_mammogram_transforms(...)``); it is
            run on ``{key: partner path, "laterality": other side, "view": view}``.
        partner_key: the item key holding the partner's path (default ``contralateral_image``).
        mode: ``"stack"`` (image, partner) or ``"difference"`` (image, image - partner).
        missing: ``"zeros"`` (a zero partner channel) or ``"error"`` when the item has no partner.
        enabled: False: return the item unchanged (one-view data, or the plain recipe).
        allow_missing_keys: skip a key missing from the item.

    Raises:
        ValueError: (at call) a partner whose preprocessed shape differs from the image's in space, or no
            partner with ``missing="error"``; both name the image.
    """

    def __init__(self, keys: KeysCollection, preprocess: Callable[[dict[str, Any]], Mapping[Hashable, Any]],
                 partner_key: str = CONTRALATERAL_IMAGE, mode: str = "stack", missing: str = "zeros",
                 enabled: bool = True, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        if mode not in CONTRALATERAL_MODES:
            raise ValueError(f"mode must be one of {CONTRALATERAL_MODES}, got {mode!r}")
        if missing not in _MISSING:
            raise ValueError(f"missing must be one of {_MISSING}, got {missing!r}")
        self.preprocess = preprocess
        self.partner_key = partner_key
        self.mode = mode
        self.missing = missing
        self.enabled = bool(enabled)

    def _partner(self, d: Mapping[Hashable, Any], key: Hashable) -> torch.Tensor | None:
        path = d.get(self.partner_key)
        if not path:
            return None
        partner_item: dict[str, Any] = {str(key): path}
        side = normalise_laterality(d.get(LATERALITY))
        if side:
            partner_item[LATERALITY] = OTHER_SIDE[side]
        if d.get(VIEW):
            partner_item[VIEW] = d[VIEW]
        out = self.preprocess(partner_item)[str(key)]
        return out.as_tensor() if isinstance(out, MetaTensor) else torch.as_tensor(out)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        if not self.enabled:
            return d
        for key in self.key_iterator(d):
            image = d[key]
            plain = image.as_tensor() if isinstance(image, MetaTensor) else torch.as_tensor(image)
            partner = self._partner(d, key)
            name = getattr(image, "meta", {}).get("filename_or_obj", d.get("image", "?"))
            if partner is None:
                if self.missing == "error":
                    raise ValueError(f"{name}: no {self.partner_key!r} (the other breast) for this image; "
                                     "pair the datalist (mammo_monai.data.pairing.add_contralateral_images) or "
                                     "use missing='zeros'")
                partner = torch.zeros_like(plain)
            if tuple(partner.shape[1:]) != tuple(plain.shape[1:]):
                raise ValueError(f"{name}: the other breast {d.get(self.partner_key)} preprocesses to "
                                 f"{tuple(partner.shape)}, the image to {tuple(plain.shape)}; give both the same "
                                 "output size (a fixed spatial_size)")
            partner = partner.to(dtype=plain.dtype, device=plain.device)
            extra = plain - partner if self.mode == "difference" else partner
            stacked = torch.cat([plain, extra], dim=0)
            if isinstance(image, MetaTensor):
                out = MetaTensor(stacked, meta=dict(image.meta))
                out.applied_operations = list(image.applied_operations)
                d[key] = out
            else:
                d[key] = stacked
        return d
