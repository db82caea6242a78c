"""Lesion masks drawn from a datalist item's ``lesions`` (see :mod:`mammo_monai.data.schema`).

Each lesion with a position becomes a region of the mask: the circle ``center`` + ``radius`` (pixel
centres within ``radius`` of ``center``), else the half-open ``box``; with ``shape="box"`` the box is
preferred. Lesions without a position (``center``/``box`` ``None``, e.g. MIAS calcifications spread over
the breast) are skipped. Lesions can be filtered by type and pathology, and the mask is either binary
(0/1) or carries one class value per lesion (``class_map``, e.g. ``{"mass": 1, "calcification": 2}``).

The coordinates are in the ORIGINAL pixel grid of the image file, so :class:`LesionMaskd` must run
while the image is still on that grid: right after loading, before laterality normalisation, resizing,
cropping or any augmentation. It checks this (a MetaTensor reference image with a recorded geometric
operation is refused) and gives the mask the image's affine and meta dict, so from then on the mask
travels through every geometric transform together with the image (list it in their ``keys``, with
nearest-neighbour interpolation). Nothing here updates the lesion *coordinates* after a geometric
transform; transformed geometry is carried by the masks instead.

Example:
    >>> import torch
    >>> from monai.data import MetaTensor
    >>> item = {"image": MetaTensor(torch.zeros(1, 40, 30)),
    ...         "lesions": [{"type": "mass", "pathology": "benign", "center": [10, 10], "radius": 3, "box": None},
    ...                     {"type": "calcification", "pathology": "malignant", "center": None, "radius": None,
    ...                      "box": [30, 5, 34, 9]}]}
    >>> out = LesionMaskd(keys="lesion_mask", class_map={"mass": 1, "calcification": 2})(item)
    >>> tuple(out["lesion_mask"].shape), int((out["lesion_mask"] == 1).sum()), int((out["lesion_mask"] == 2).sum())
    ((1, 40, 30), 29, 16)
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform, Transform
from monai.utils import TraceKeys, TransformBackends, ensure_tuple

from mammo_monai.keys import LESION_TYPES

__all__ = ["LesionMask", "LesionMaskd", "LesionRegion", "check_original_grid", "lesion_class", "lesion_regions"]

_LESION_PATHOLOGIES = ("benign", "malignant")
_SHAPES = ("circle", "box")


@dataclass
class LesionRegion:
    """One lesion drawn on an image grid.

    Attributes:
        index: the lesion's position in the item's ``lesions`` list.
        lesion_type: its ``type``; ``pathology`` likewise.
        value: its value in the mask (1, or its class from ``class_map``).
        rows, cols: the window of the image that holds the region (``image[rows, cols]``).
        mask: ``bool`` array of the window's shape, ``True`` on the lesion.
    """

    index: int
    lesion_type: str
    pathology: str
    value: int
    rows: slice
    cols: slice
    mask: np.ndarray


def _check_class_map(class_map: Mapping[str, int] | None) -> dict[str, int] | None:
    if class_map is None:
        return None
    out: dict[str, int] = {}
    for key, value in class_map.items():
        parts = str(key).split("/")
        ok = (len(parts) == 1 and (parts[0] in LESION_TYPES or parts[0] in _LESION_PATHOLOGIES)) or (
            len(parts) == 2 and parts[0] in LESION_TYPES and parts[1] in _LESION_PATHOLOGIES
        )
        if not ok:
            raise ValueError(
                f"class_map key {key!r} is not a lesion type {LESION_TYPES}, a pathology {_LESION_PATHOLOGIES} "
                f"or 'type/pathology'"
            )
        if isinstance(value, bool) or int(value) != value or int(value) < 1:
            raise ValueError(f"class_map[{key!r}] must be a positive integer (0 is the background), got {value!r}")
        out[str(key)] = int(value)
    if not out:
        raise ValueError("class_map is empty: no lesion would be drawn")
    return out


def _check_choice(name: str, values: Sequence[str] | str | None, allowed: Sequence[str]) -> tuple[str, ...] | None:
    if values is None:
        return None
    values = tuple(ensure_tuple(values))
    unknown = [v for v in values if v not in allowed]
    if unknown:
        raise ValueError(f"unknown {name} {unknown}; expected some of {tuple(allowed)}")
    return values


def lesion_class(lesion_type: str, pathology: str, class_map: Mapping[str, int] | None) -> int | None:
    """The class of a lesion: 1 without ``class_map``; else the most specific ``class_map`` entry
    (``"type/pathology"``, then ``"type"``, then ``"pathology"``); ``None`` when none applies."""
    if class_map is None:
        return 1
    for key in (f"{lesion_type}/{pathology}", lesion_type, pathology):
        if key in class_map:
            return class_map[key]
    return None


def _circle(center: Sequence[float], radius: float, shape: tuple[int, int]) -> tuple[slice, slice, np.ndarray] | None:
    cr, cc = float(center[0]), float(center[1])
    rad = max(float(radius), 0.5)  # a zero radius still marks the pixel nearest the centre
    r0, r1 = max(0, math.floor(cr - rad)), min(shape[0], math.ceil(cr + rad) + 1)
    c0, c1 = max(0, math.floor(cc - rad)), min(shape[1], math.ceil(cc + rad) + 1)
    if r1 <= r0 or c1 <= c0:
        return None
    rr = np.arange(r0, r1, dtype=np.float64)[:, None] - cr
    cc_ = np.arange(c0, c1, dtype=np.float64)[None, :] - cc
    mask = rr * rr + cc_ * cc_ <= rad * rad
    return (slice(r0, r1), slice(c0, c1), mask) if mask.any() else None


def _box(box: Sequence[float], shape: tuple[int, int]) -> tuple[slice, slice, np.ndarray] | None:
    r0, c0, r1, c1 = (math.floor(float(b) + 0.5) for b in box)
    r0, c0, r1, c1 = max(0, r0), max(0, c0), min(shape[0], r1), min(shape[1], c1)
    if r1 <= r0 or c1 <= c0:
        return None
    return slice(r0, r1), slice(c0, c1), np.ones((r1 - r0, c1 - c0), dtype=bool)


def lesion_regions(
    lesions: Sequence[Mapping[str, Any]] | None,
    spatial_shape: Sequence[int],
    lesion_types: Sequence[str] | str | None = None,
    pathologies: Sequence[str] | str | None = None,
    class_map: Mapping[str, int] | None = None,
    shape: str = "circle",
    strict: bool = True,
) -> list[LesionRegion]:
    """Draw every selected lesion with a position on a ``(rows, cols)`` grid, one :class:`LesionRegion` each.

    Args:
        lesions: the item's ``lesions`` (``None`` or empty: no region).
        spatial_shape: ``(rows, cols)`` of the grid the coordinates refer to.
        lesion_types: keep only these types (``None``: all).
        pathologies: keep only these pathologies (``None``: all).
        class_map: class value per lesion, keys a type (``"mass"``), a pathology (``"malignant"``) or both
            (``"mass/malignant"``; the most specific key wins); lesions no key applies to are skipped.
            ``None``: every lesion is 1.
        shape: ``"circle"``: circle from ``center`` + ``radius`` where given, else the ``box``;
            ``"box"``: the box where given, else the circle.
        strict: raise when a lesion lies entirely outside the grid (its coordinates are then almost
            certainly on another grid); otherwise skip it.

    Returns:
        the regions in the order of ``lesions`` (lesions without position or filtered out are absent).

    Raises:
        ValueError: an unknown type/pathology/shape/class_map key, or (``strict``) a lesion outside the grid.
    """
    if shape not in _SHAPES:
        raise ValueError(f"shape must be one of {_SHAPES}, got {shape!r}")
    types = _check_choice("lesion_types", lesion_types, LESION_TYPES)
    paths = _check_choice("pathologies", pathologies, _LESION_PATHOLOGIES)
    cmap = _check_class_map(class_map)
    grid = (int(spatial_shape[0]), int(spatial_shape[1]))
    regions: list[LesionRegion] = []
    for index, lesion in enumerate(lesions or ()):
        if not isinstance(lesion, Mapping):
            raise ValueError(f"lesions[{index}] must be a mapping (a lesion record), got {type(lesion).__name__}")
        ltype, pathology = lesion.get("type"), lesion.get("pathology")
        if (types is not None and ltype not in types) or (paths is not None and pathology not in paths):
            continue
        value = lesion_class(str(ltype), str(pathology), cmap)
        if value is None:
            continue
        center, radius, box = lesion.get("center"), lesion.get("radius"), lesion.get("box")
        has_circle, has_box = center is not None and radius is not None, box is not None
        if not (has_circle or has_box):
            continue  # no position: nothing to draw
        use_circle = has_circle and (shape == "circle" or not has_box)
        drawn = _circle(center, radius, grid) if use_circle else _box(box, grid)
        if drawn is None:
            if strict:
                where = f"center {list(center)} radius {radius}" if use_circle else f"box {list(box)}"
                raise ValueError(
                    f"lesions[{index}] ({ltype}, {where}) lies outside the image grid {grid}: lesion coordinates "
                    f"refer to the original image; draw masks before any geometric transform"
                )
            continue
        rows, cols, mask = drawn
        regions.append(LesionRegion(index, str(ltype), str(pathology), int(value), rows, cols, mask))
    return regions


def check_original_grid(img: Any, who: str) -> None:
    """Raise when ``img`` (a MetaTensor) records a geometric operation, so lesion coordinates no longer
    match its grid. Operations recorded as not done (e.g. a laterality normalisation that did not flip)
    are fine."""
    if not isinstance(img, MetaTensor):
        return
    done = [op.get(TraceKeys.CLASS_NAME, "?") for op in list(img.applied_operations) + list(img.pending_operations)
            if isinstance(op, Mapping) and op.get(TraceKeys.DO_TRANSFORM, True)]
    if done:
        raise ValueError(
            f"{who}: the image is no longer on its original pixel grid (applied: {done}); lesion coordinates "
            f"refer to the original grid, so apply {who} right after loading, before any geometric transform "
            f"(or pass strict=False if these operations keep the grid)"
        )


class LesionMask(Transform):
    """Draw a ``(1, rows, cols)`` lesion mask from a list of lesion records.

    Args:
        lesion_types, pathologies, class_map, shape: see :func:`lesion_regions`.
        dtype: the mask's torch dtype.
        strict: refuse a reference image that was geometrically transformed (MetaTensor records) and
            lesions lying entirely outside the grid.

    Where regions overlap the larger class value wins.

    ``__call__(img, lesions)``: ``img`` is the reference image ``(C, rows, cols)`` (tensor, MetaTensor or
    array) or just its ``(rows, cols)``. Returns a torch tensor ``(1, rows, cols)``; a MetaTensor with the
    reference's affine and a copy of its meta dict when ``img`` is one.

    Example:
        >>> lesions = [{"type": "mass", "pathology": "benign", "center": [5, 5], "radius": 2, "box": None}]
        >>> LesionMask()((12, 10), lesions)[0, 3:8, 5].tolist()
        [1.0, 1.0, 1.0, 1.0, 1.0]
    """

    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(
        self,
        lesion_types: Sequence[str] | str | None = None,
        pathologies: Sequence[str] | str | None = None,
        class_map: Mapping[str, int] | None = None,
        shape: str = "circle",
        dtype: torch.dtype = torch.float32,
        strict: bool = True,
    ) -> None:
        if shape not in _SHAPES:
            raise ValueError(f"shape must be one of {_SHAPES}, got {shape!r}")
        self.lesion_types = _check_choice("lesion_types", lesion_types, LESION_TYPES)
        self.pathologies = _check_choice("pathologies", pathologies, _LESION_PATHOLOGIES)
        self.class_map = _check_class_map(class_map)
        self.shape = shape
        self.dtype = dtype
        self.strict = strict

    def draw(self, lesions: Sequence[Mapping[str, Any]] | None, spatial_shape: Sequence[int]) -> np.ndarray:
        """The ``(rows, cols)`` ``uint8`` mask (no channel) of ``lesions`` on a grid of ``spatial_shape``."""
        out = np.zeros((int(spatial_shape[0]), int(spatial_shape[1])), dtype=np.uint8)
        for region in lesion_regions(lesions, spatial_shape, self.lesion_types, self.pathologies, self.class_map,
                                     self.shape, self.strict):
            window = out[region.rows, region.cols]
            np.maximum(window, np.where(region.mask, region.value, 0).astype(np.uint8), out=window)
        return out

    def __call__(self, img: Any, lesions: Sequence[Mapping[str, Any]] | None) -> torch.Tensor:
        if isinstance(img, (tuple, list)) and len(img) == 2 and all(np.isscalar(v) for v in img):
            spatial_shape = (int(img[0]), int(img[1]))
        else:
            shape = tuple(img.shape)
            if len(shape) != 3:
                raise ValueError(f"LesionMask: expected a channel-first (C, rows, cols) reference image, got {shape}")
            spatial_shape = shape[1:]
            if self.strict:
                check_original_grid(img, "LesionMask")
        mask = torch.from_numpy(self.draw(lesions, spatial_shape)[None]).to(self.dtype)
        if isinstance(img, MetaTensor):
            meta = dict(img.meta)
            meta["lesion_mask"] = {
                "lesion_types": list(self.lesion_types) if self.lesion_types else None,
                "pathologies": list(self.pathologies) if self.pathologies else None,
                "class_map": self.class_map,
                "shape": self.shape,
            }
            meta["affine"] = img.affine.clone()
            return MetaTensor(mask, meta=meta)
        return mask


class LesionMaskd(MapTransform):
    """Dictionary version of :class:`LesionMask`: writes the mask of the item's ``lesions`` under each key.

    Apply it while ``image_key`` is still on the original pixel grid (right after loading); then list the
    mask's key in every later geometric transform (nearest interpolation) so it stays aligned.

    Args:
        keys: where to write the mask (e.g. ``"lesion_mask"``, or ``"label"`` with ``only_if_missing``).
        image_key: the reference image giving the grid (shape, affine, meta).
        lesions_key: the item key holding the lesion records.
        only_if_missing: leave a key alone when the item already has a value there (a loaded ``label``
            file, say): ``LesionMaskd("label", only_if_missing=True)`` fills ``label`` only for items without one.
        lesion_types, pathologies, class_map, shape, dtype, strict: see :class:`LesionMask`.
        allow_missing_keys: skip items without ``lesions_key`` instead of raising.

    Example (MIAS mass segmentation: masses as circle masks; in a bundle config)::

        {"_target_": "mammo_monai.transforms.LesionMaskd", "keys": "label", "lesion_types": ["mass"],
         "only_if_missing": true}
    """

    backend = LesionMask.backend

    def __init__(
        self,
        keys: KeysCollection = "lesion_mask",
        image_key: str = "image",
        lesions_key: str = "lesions",
        only_if_missing: bool = False,
        lesion_types: Sequence[str] | str | None = None,
        pathologies: Sequence[str] | str | None = None,
        class_map: Mapping[str, int] | None = None,
        shape: str = "circle",
        dtype: torch.dtype = torch.float32,
        strict: bool = True,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.image_key = image_key
        self.lesions_key = lesions_key
        self.only_if_missing = only_if_missing
        self.masker = LesionMask(lesion_types, pathologies, class_map, shape, dtype, strict)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        todo = [k for k in self.keys if not (self.only_if_missing and d.get(k) is not None)]
        if not todo:
            return d
        if self.lesions_key not in d:
            if self.allow_missing_keys:
                return d
            raise KeyError(f"LesionMaskd: the item has no {self.lesions_key!r} (the lesion records)")
        if self.image_key not in d:
            raise KeyError(f"LesionMaskd: the item has no reference image {self.image_key!r}")
        mask = self.masker(d[self.image_key], d[self.lesions_key])
        for i, key in enumerate(todo):
            d[key] = mask if i == 0 else mask.clone()
        return d
