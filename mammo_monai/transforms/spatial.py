"""Spatial steps mammography needs beyond MONAI's: a pixel spacing for files without one, and lesion crops.

- :class:`SetPixelSpacingd`: film scans (CBIS-DDSM, MIAS PNGs) carry no pixel spacing, so MONAI's
  ``Spacingd`` would take them as 1 mm pixels. This puts a known spacing on the affine (CBIS-DDSM/DDSM:
  scanned at 42-50 µm; mini-MIAS: 200 µm) — only where the file gave none, unless told otherwise.
- :class:`ResampleToSpacingd`: resample to a physical pixel size (patch sizes then mean millimetres) with
  area averaging when shrinking — MONAI's ``Spacingd`` resamples with bilinear/nearest only, which
  aliases film grain and drops calcifications when a 50 µm scan goes to 200 µm. Built on MONAI's
  invertible ``Zoom``.
- :class:`LesionCropd`: a square crop centred on one lesion (from its mask, box or centre+radius),
  with context around it, built on MONAI's invertible ``SpatialCrop`` (padded with the background where it
  runs off the image) so a prediction on the crop maps back to the mammogram.

Resizing keeping the aspect ratio and padding to a square are MONAI's own
(``Resized(size_mode="longest")``, ``SpatialPadd(method="end")``) and are used as they are in
:mod:`mammo_monai.transforms.pipelines`.

Example:
    >>> import torch
    >>> from monai.data import MetaTensor
    >>> item = {"image": MetaTensor(torch.zeros(1, 100, 80)),
    ...         "lesion": {"center": [50, 40], "radius": 10, "box": None}}
    >>> out = LesionCropd(keys="image", context=2.0, min_size=16)(item)
    >>> tuple(out["image"].shape), out["lesion_crop_box"]
    ((1, 42, 42), [29, 19, 71, 61])
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import BorderPad, InvertibleTransform, MapTransform, SpatialCrop, Zoom
from monai.utils import TraceKeys, convert_to_tensor

__all__ = ["LesionCropd", "ResampleToSpacingd", "SetPixelSpacingd", "lesion_crop_box"]


class SetPixelSpacingd(MapTransform):
    """Put a pixel spacing ``(row mm, col mm)`` on the affine (and ``meta["pixel_spacing"]``) of each key.

    On an image still on its file's grid (no applied operation) ``meta["original_affine"]`` gets the same
    spacing, so ``inv(original_affine) @ affine`` maps a later grid's pixels back to the file's pixels.

    Args:
        keys: image/mask keys (MetaTensors).
        spacing: the spacing in mm, one value or ``(row, col)``.
        only_if_missing: leave images whose file gave a spacing (``meta["pixel_spacing"]`` set) alone.
    """

    def __init__(self, keys: KeysCollection, spacing: float | Sequence[float], only_if_missing: bool = True,
                 allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        values = (spacing, spacing) if np.isscalar(spacing) else tuple(spacing)
        if len(values) != 2 or not all(float(v) > 0 for v in values):
            raise ValueError(f"spacing must be one or two positive numbers (mm), got {spacing}")
        self.spacing = (float(values[0]), float(values[1]))
        self.only_if_missing = only_if_missing

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            img = d[key]
            if not isinstance(img, MetaTensor):
                raise TypeError(f"SetPixelSpacingd: {key!r} must be a MetaTensor, got {type(img).__name__}")
            known = img.meta.get("pixel_spacing")
            if self.only_if_missing and known is not None and not isinstance(known, str):
                continue
            affine = img.affine.clone()
            affine[0, 0], affine[1, 1] = self.spacing
            img.affine = affine
            if not img.applied_operations and "original_affine" in img.meta:
                # still the file's grid: its affine with the known spacing, so points map back by affines
                img.meta["original_affine"] = affine.clone() if hasattr(affine, "clone") else affine
            img.meta["pixel_spacing"] = list(self.spacing)
            img.meta["pixel_spacing_source"] = "SetPixelSpacingd"
        return d


class ResampleToSpacingd(MapTransform, InvertibleTransform):
    """Resample ``keys`` to ``pixdim`` mm per pixel (``(row, col)`` or one value), from the affine's spacing.

    Args:
        keys: image and mask keys (MetaTensors, all on one grid).
        pixdim: the target pixel size in mm.
        mode: interpolation per key: ``"area"`` (block averaging; right for images when shrinking),
            ``"nearest-exact"``/``"nearest"`` for masks, ``"bilinear"``...
        spacing_key: the key whose affine gives the current spacing (default: the first key).

    The current spacing comes from the affine's diagonal (set by :class:`~mammo_monai.io.MammogramReader`
    from the DICOM header, or by :class:`SetPixelSpacingd` for files without one). Inverse: MONAI's ``Zoom``.
    """

    def __init__(self, keys: KeysCollection, pixdim: float | Sequence[float], mode: str | Sequence[str] = "area",
                 spacing_key: str | None = None, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        values = (pixdim, pixdim) if np.isscalar(pixdim) else tuple(pixdim)
        if len(values) != 2 or not all(float(v) > 0 for v in values):
            raise ValueError(f"pixdim must be one or two positive numbers (mm), got {pixdim}")
        self.pixdim = (float(values[0]), float(values[1]))
        modes = [mode] * len(self.keys) if isinstance(mode, str) else list(mode)
        if len(modes) != len(self.keys):
            raise ValueError(f"give one mode or one per key ({len(self.keys)}), got {mode}")
        self.zoomers = {
            key: Zoom(zoom=1.0, mode=m, keep_size=False, align_corners=None if m in ("area", "nearest", "nearest-exact")
                      else False)
            for key, m in zip(self.keys, modes)
        }
        self.spacing_key = spacing_key or self.keys[0]

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        reference = d[self.spacing_key]
        if not isinstance(reference, MetaTensor):
            raise TypeError(f"ResampleToSpacingd: {self.spacing_key!r} must be a MetaTensor with an affine")
        affine = reference.affine
        current = (float(torch.linalg.norm(affine[:2, 0])), float(torch.linalg.norm(affine[:2, 1])))
        zoom = (current[0] / self.pixdim[0], current[1] / self.pixdim[1])
        for key in self.key_iterator(d):
            self.zoomers[key].zoom = zoom  # per item, like MONAI's randomised transforms set their parameters
            d[key] = self.zoomers[key](d[key])
            self.push_transform(d[key], replace=True)
        return d

    def inverse(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            transform = self.pop_transform(d[key])
            d[key].applied_operations.append(transform[TraceKeys.EXTRA_INFO])
            d[key] = self.zoomers[key].inverse(d[key])
        return d


def lesion_crop_box(
    lesion: Mapping[str, Any], context: float = 1.5, min_size: int = 32, mask: np.ndarray | None = None
) -> list[int]:
    """A square half-open box ``[row0, col0, row1, col1]`` around a lesion, ``context`` times its extent
    (at least ``min_size`` pixels), from ``mask`` (non-zero pixels), else ``box``, else ``center``+``radius``.
    The box may run off the image (the crop pads there).

    Raises:
        ValueError: the lesion has no position.
    """
    if mask is not None and np.any(mask):
        rows, cols = np.nonzero(np.asarray(mask).reshape(np.asarray(mask).shape[-2:]))
        r0, r1, c0, c1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    elif lesion.get("box") is not None:
        r0, c0, r1, c1 = lesion["box"]
    elif lesion.get("center") is not None and lesion.get("radius") is not None:
        (cr, cc), rad = lesion["center"], float(lesion["radius"])
        r0, r1, c0, c1 = cr - rad, cr + rad + 1, cc - rad, cc + rad + 1
    else:
        raise ValueError(f"lesion has no mask, box or centre+radius: {dict(lesion)}")
    center_r, center_c = (r0 + r1) / 2, (c0 + c1) / 2
    side = max(int(min_size), math.ceil(max(r1 - r0, c1 - c0) * context))
    top, left = math.floor(center_r - side / 2), math.floor(center_c - side / 2)
    return [top, left, top + side, left + side]


class LesionCropd(MapTransform, InvertibleTransform):
    """Crop ``keys`` to a square around the item's lesion (``lesion_key``), padding where it runs off the image.

    The lesion's coordinates are in the ORIGINAL pixel grid: apply this right after loading, before any
    geometric transform. The crop box is stored in the item under ``box_key``; the crop is recorded so
    ``inverse``/``Invertd`` pads the result back to the full mammogram.

    Args:
        keys: image (and mask) keys.
        lesion_key: the item key holding one lesion record (see :mod:`mammo_monai.data.schema`).
        mask_key: optional key of a mask of this lesion on the same grid (preferred over box/centre).
        context: crop side = ``context`` x the lesion's larger extent.
        min_size: the smallest crop side in pixels.
        box_key: where the crop box is written in the item.
    """

    def __init__(self, keys: KeysCollection, lesion_key: str = "lesion", mask_key: str | None = None,
                 context: float = 1.5, min_size: int = 32, box_key: str = "lesion_crop_box",
                 allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        if context < 1:
            raise ValueError(f"context must be >= 1 (the crop contains the lesion), got {context}")
        self.lesion_key, self.mask_key, self.box_key = lesion_key, mask_key, box_key
        self.context, self.min_size = float(context), int(min_size)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        if self.lesion_key not in d:
            raise KeyError(f"LesionCropd: the item has no {self.lesion_key!r} (one lesion record)")
        mask = d.get(self.mask_key) if self.mask_key else None
        mask_np = None if mask is None else np.asarray(mask.detach().cpu() if isinstance(mask, torch.Tensor) else mask)
        box = lesion_crop_box(d[self.lesion_key], self.context, self.min_size, mask_np)
        d[self.box_key] = box
        for key in self.key_iterator(d):
            img = convert_to_tensor(d[key], track_meta=True)
            rows, cols = img.shape[-2:]
            pad = [max(0, -box[0]), max(0, box[2] - rows), max(0, -box[1]), max(0, box[3] - cols)]
            if any(pad):
                img = BorderPad(spatial_border=pad, mode="constant")(img)
            start = (box[0] + pad[0], box[1] + pad[2])
            end = (start[0] + box[2] - box[0], start[1] + box[3] - box[1])
            cropped = SpatialCrop(roi_start=start, roi_end=end)(img)
            self.push_transform(cropped, orig_size=(rows, cols), extra_info={"box": box, "pad": pad})
            d[key] = cropped
        return d

    def inverse(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            transform = self.pop_transform(d[key])
            info, (rows, cols) = transform[TraceKeys.EXTRA_INFO], transform[TraceKeys.ORIG_SIZE]
            d[key].applied_operations.pop()  # SpatialCrop's record
            if any(info["pad"]):
                d[key].applied_operations.pop()  # BorderPad's record
            box = info["box"]
            src_r0, src_c0 = max(0, -box[0]), max(0, -box[1])
            dst_r0, dst_c0 = max(0, box[0]), max(0, box[1])
            h, w = min(box[2], rows) - dst_r0, min(box[3], cols) - dst_c0
            out = torch.zeros((d[key].shape[0], rows, cols), dtype=d[key].dtype)
            out[:, dst_r0:dst_r0 + h, dst_c0:dst_c0 + w] = d[key].as_tensor()[:, src_r0:src_r0 + h, src_c0:src_c0 + w]
            result = MetaTensor(out, meta=d[key].meta, applied_operations=d[key].applied_operations)
            d[key] = result
        return d
