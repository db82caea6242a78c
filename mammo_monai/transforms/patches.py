"""Lesion-centred and background patch sampling for patch classifiers and detector training.

:class:`RandLesionPatchesd` draws ``num_samples`` patches of ``patch_size`` from a full mammogram:

- **positive** patches are centred on a lesion, the centre drawn uniformly from the lesion's region
  dilated by ``jitter`` pixels (``jitter < 0``: eroded, i.e. centres deeper inside the lesion). Every
  lesion is equally likely, whatever its size: a 3-pixel calcification cluster gets as many patches as a
  150-pixel mass;
- **negative** (normal tissue) patches have their centre inside the breast and the whole patch at least
  ``min_distance`` pixels away from every lesion;
- positives and negatives are drawn ``pos : neg`` (each sample independently, like MONAI's samplers).

Each patch carries ``patch_label`` (0: normal tissue; else the lesion's class), ``patch_center``
(``[row, col]`` of its centre in the input image's grid) and ``patch_lesion`` (which lesion: its index
in the item's ``lesions``, or the connected-component number of a mask; ``-1`` for normal tissue).
Patches of MetaTensors stay MetaTensors with the item's metadata and the affine of the patch window; they
record no inverse (a patch maps back to its image by ``patch_center``).

How it draws: one set of flat pixel indices per lesion plus one for the background; each sample picks a
set by its ratio (every lesion its own set with ratio ``pos / n_lesions``: "each lesion equally likely",
which one pooled foreground set — MONAI's ``RandCropByPosNegLabeld``: a centre uniform over all lesion
pixels — cannot do, a 150-pixel mass having 2500 times the pixels of a 3-pixel calcification), then a
centre uniformly within it: MONAI's ``RandCropByLabelClassesd`` scheme (``indices`` + per-item ``ratios``).
The crop is not MONAI's: its samplers move a centre near the border inwards so the crop stays inside the
image (which would break both the lesion-centring and the background distance), and its per-crop
bookkeeping cost about 1.5 ms per key and patch (MetaTensor conversion, inverse records) — on 2 CPU cores,
most of this transform's time and time taken from the network during patch training
(``scripts/bench/bench_trainer.py``). Here every patch is a slice centred exactly where drawn; parts beyond
the image are padded (``pad_mode``) on the patch only.

Training with a cache: where centres may lie depends only on the item, not on the draw, so
:class:`LesionPatchCentresd` computes it once (deterministic: it runs in the cached part of a
``CacheDataset`` pipeline) and stores it under ``centres_key``; :class:`RandLesionPatchesd` then only draws
and slices (about 0.7 ms per item of 4 patches instead of 6 on a 512-px MIAS image, 2 cores). Without the
entry it computes the sets itself on every call. The patches never share memory with the input and the
input is not modified, so with this transform first among the random ones a ``CacheDataset`` can skip its
per-item deep copy (``copy_cache=False``).

Hard-negative mining: an item may carry ``hard_negatives`` (flat centre indices where a model found false
positives, written into the cached items between epochs by :class:`~mammo_monai.engines.HardNegativeMiner`);
``hard_negative_fraction`` of the negative draws then come from them (those still allowed as background
centres), the rest uniformly from the breast as before.

Lesions come from a lesion mask (``mask_key``: instances are the connected components of each mask
value, the value is the class — e.g. a mask drawn with :class:`~mammo_monai.transforms.lesions.LesionMaskd`
and ``class_map``, resized along with the image) or, failing that, from the item's ``lesions`` list, which
is only valid while the image is on its original grid (checked as in
:class:`~mammo_monai.transforms.lesions.LesionMaskd`). The breast comes from ``breast_mask_key``
(:data:`~mammo_monai.transforms.utils.BREAST_MASK_KEY`), else ``image > background_threshold``.

Speed (measured on one CPU core: 2000 x 1200 float32 synthetic mammogram, breast 36 % of it, a 150-px mass,
a 20-px calcification cluster and a 3-px mass, ``patch_size=256``, ``num_samples=8``, ``jitter=min_distance=32``,
keys image + breast mask): about 30 ms per item from the ``lesions`` list, 40 ms from a class-valued lesion mask
(connected components). Most of it is listing the ~0.9 M background centres and the distance transforms around
the lesions; the crops are negligible. Entries left out of ``keys`` are deep-copied into every patch (as
MONAI's croppers do; a full-size mask: about 2 ms per patch).

Example:
    >>> import numpy as np, torch
    >>> from monai.data import MetaTensor
    >>> image = MetaTensor(torch.zeros(1, 200, 120)); image[:, 20:180, :90] = 0.5   # breast at the left
    >>> item = {"image": image, "lesions": [
    ...     {"type": "mass", "pathology": "malignant", "center": [60, 40], "radius": 12, "box": None}]}
    >>> sampler = RandLesionPatchesd(keys="image", patch_size=(32, 32), num_samples=6, jitter=4,
    ...                              min_distance=8, class_map={"mass": 1, "calcification": 2})
    >>> patches = sampler.set_random_state(1)(item)
    >>> len(patches), tuple(patches[0]["image"].shape), [p["patch_label"] for p in patches]
    (6, (1, 32, 32), [0, 0, 0, 0, 0, 1])
    >>> patches[5]["patch_center"].tolist(), patches[5]["patch_lesion"], patches[0]["patch_lesion"]
    ([57, 30], 0, -1)
    >>> patches[5]["image"].affine[:2, 3].tolist()   # the window starts at row 57 - 16, col 30 - 16
    [41.0, 14.0]
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from copy import deepcopy
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform, Randomizable
from monai.transforms.traits import MultiSampleTrait
from monai.utils import ensure_tuple_rep
from scipy import ndimage

from .lesions import LesionRegion, check_original_grid, lesion_regions
from .utils import BREAST_MASK_KEY, on_new_grid

__all__ = [
    "HARD_NEGATIVES_KEY",
    "PATCH_CENTRES_KEY",
    "LesionPatchCentres",
    "LesionPatchCentresd",
    "PatchCenterSets",
    "RandLesionPatchesd",
    "mask_lesion_regions",
    "patch_center_sets",
]

#: Where :class:`LesionPatchCentresd` stores an item's centres (and :class:`RandLesionPatchesd` looks).
PATCH_CENTRES_KEY = "patch_centres"
#: Where hard-negative miners store an item's false-positive centres (and :class:`RandLesionPatchesd` looks).
HARD_NEGATIVES_KEY = "hard_negatives"

_PAD_MODES = ("constant", "reflect", "replicate", "circular")


def _to_numpy(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        if hasattr(x, "as_tensor"):
            x = x.as_tensor()
        return x.numpy()
    return np.asarray(x)


def _spatial_2d(x: Any, name: str, shape: tuple[int, int] | None = None) -> np.ndarray:
    """``(rows, cols)`` view of a ``(C, rows, cols)`` or ``(rows, cols)`` array (channels: any non-zero)."""
    arr = _to_numpy(x)
    if arr.ndim == 3:
        arr = arr[0] if arr.shape[0] == 1 else np.abs(arr).max(axis=0)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be (C, rows, cols) or (rows, cols), got shape {arr.shape}")
    if shape is not None and arr.shape != shape:
        raise ValueError(f"{name} has spatial shape {arr.shape}, the image {shape}: they must share a grid")
    return arr


def mask_lesion_regions(mask: Any) -> list[LesionRegion]:
    """Lesion instances of a lesion mask: the connected components (8-connected) of each non-zero value.

    The value is the instance's class (a binary mask gives class 1); a class-valued mask keeps touching
    lesions of different classes apart. Values are rounded to integers (resample masks with nearest
    interpolation).

    Returns:
        one :class:`LesionRegion` per component; ``index`` numbers them from 0, ``lesion_type`` is ``"mask"``.
    """
    full = _spatial_2d(mask, "lesion mask")
    present = full >= 0.5
    rows, cols = np.nonzero(present.any(axis=1))[0], np.nonzero(present.any(axis=0))[0]
    regions: list[LesionRegion] = []
    if rows.size == 0:
        return regions
    r0, c0 = int(rows[0]), int(cols[0])
    arr = np.rint(full[r0:rows[-1] + 1, c0:cols[-1] + 1]).astype(np.int64)  # work in the lesions' bounding box
    structure = np.ones((3, 3), dtype=bool)
    for value in np.unique(arr[arr > 0]):
        labelled, n = ndimage.label(arr == value, structure=structure)
        for k, window in enumerate(ndimage.find_objects(labelled, max_label=n), start=1):
            if window is None:  # pragma: no cover - every label 1..n exists
                continue
            rs, cs = window
            regions.append(LesionRegion(len(regions), "mask", "", int(value), slice(rs.start + r0, rs.stop + r0),
                                        slice(cs.start + c0, cs.stop + c0), labelled[window] == k))
    return regions


def _expanded(region: LesionRegion, margin: int, shape: tuple[int, int]) -> tuple[int, int, int, int, np.ndarray]:
    """The region's window grown by ``margin`` pixels (clipped to ``shape``) and its mask in it."""
    r0, r1 = max(0, region.rows.start - margin), min(shape[0], region.rows.stop + margin)
    c0, c1 = max(0, region.cols.start - margin), min(shape[1], region.cols.stop + margin)
    window = np.zeros((r1 - r0, c1 - c0), dtype=bool)
    window[region.rows.start - r0:region.rows.stop - r0, region.cols.start - c0:region.cols.stop - c0] = region.mask
    return r0, r1, c0, c1, window


def _within(region: LesionRegion, distance: float, shape: tuple[int, int]) -> tuple[int, int, int, int, np.ndarray]:
    """Pixels at most ``distance`` (Euclidean) from the region, in its window grown by ``distance``."""
    r0, r1, c0, c1, window = _expanded(region, math.ceil(distance) + 1, shape)
    if distance > 0:
        window = ndimage.distance_transform_edt(~window) <= distance
    return r0, r1, c0, c1, window


@dataclass
class PatchCenterSets:
    """Where patch centres may lie on an image grid (see :func:`patch_center_sets`).

    Attributes:
        positives: per lesion, the ``(rows, cols)`` integer arrays of its allowed centres.
        negatives: ``bool (rows, cols)`` map of the allowed background centres.
        regions: the lesion instances, in the order of ``positives``.
    """

    positives: list[tuple[np.ndarray, np.ndarray]]
    negatives: np.ndarray
    regions: list[LesionRegion]


def patch_center_sets(
    regions: Sequence[LesionRegion],
    breast: np.ndarray,
    patch_size: Sequence[int],
    jitter: float = 8.0,
    min_distance: float = 16.0,
    exclude: Sequence[LesionRegion] | None = None,
) -> PatchCenterSets:
    """Allowed patch centres: per lesion (positives) and for normal tissue (negatives).

    Args:
        regions: the lesions to sample positives from.
        breast: ``bool (rows, cols)``: background centres must lie inside it.
        patch_size: ``(rows, cols)`` of a patch; a patch centred at ``c`` covers ``[c - s // 2, c - s // 2 + s)``
            (MONAI's ``SpatialCrop`` convention).
        jitter: positive centres lie within ``jitter`` px of the lesion (``< 0``: at least ``-jitter`` px
            inside it; a lesion too small for that keeps its innermost pixels).
        min_distance: every pixel of a background patch is more than ``min_distance`` px from every lesion
            (0: it just contains no lesion pixel).
        exclude: the lesions background patches must avoid (default ``regions``); pass every located
            lesion here, also those not sampled as positives.
    """
    shape = (int(breast.shape[0]), int(breast.shape[1]))
    positives: list[tuple[np.ndarray, np.ndarray]] = []
    for region in regions:
        if jitter >= 0:
            r0, _, c0, _, window = _within(region, float(jitter), shape)
        else:
            r0, _, c0, _, window = _expanded(region, 1, shape)
            depth = ndimage.distance_transform_edt(window)
            inner = depth > -jitter
            window = inner if inner.any() else depth >= depth.max()
        rr, cc = np.nonzero(window)
        positives.append((rr + r0, cc + c0))

    negatives = np.asarray(breast, dtype=bool).copy()
    exclude = list(regions if exclude is None else exclude)
    if exclude:
        near = np.zeros(shape, dtype=bool)
        for region in exclude:
            r0, r1, c0, c1, window = _within(region, float(min_distance), shape)
            near[r0:r1, c0:c1] |= window
        # a centre is forbidden when its patch window contains a "near" pixel: a box max filter whose window
        # is exactly the patch (scipy's size-s window at origin 0 is [i - s // 2, i - s // 2 + s), as SpatialCrop)
        rows, cols = np.nonzero(near.any(axis=1))[0], np.nonzero(near.any(axis=0))[0]
        sr, sc = int(patch_size[0]), int(patch_size[1])
        r0, r1 = max(0, rows[0] - sr), min(shape[0], rows[-1] + sr + 1)
        c0, c1 = max(0, cols[0] - sc), min(shape[1], cols[-1] + sc + 1)
        block = near[r0:r1, c0:c1].view(np.uint8)
        block = ndimage.maximum_filter1d(block, sr, axis=0, mode="constant", cval=0)
        block = ndimage.maximum_filter1d(block, sc, axis=1, mode="constant", cval=0)
        negatives[r0:r1, c0:c1] &= block == 0
    return PatchCenterSets(positives, negatives, list(regions))


@dataclass
class LesionPatchCentres:
    """An item's allowed patch centres as flat pixel indices (``row * cols + col``) of its grid.

    Made by :class:`LesionPatchCentresd`, read by :class:`RandLesionPatchesd`.

    Attributes:
        shape: ``(rows, cols)`` of the grid.
        settings: the sampler settings the sets were computed with (patch size, jitter, distance, sources,
            lesion filter); a sampler with other settings refuses them.
        negatives: sorted flat indices of the background centres.
        positives: per lesion (in the order of ``regions``), the sorted flat indices of its centres.
        regions: the lesion instances sampled as positives.
    """

    shape: tuple[int, int]
    settings: dict[str, Any]
    negatives: np.ndarray
    positives: list[np.ndarray]
    regions: list[LesionRegion]


class LesionPatchCentresd(MapTransform):
    """Compute where :class:`RandLesionPatchesd` may centre its patches, once per item (deterministic).

    Put it before the random transforms (in the cached part of a ``CacheDataset`` pipeline) with the same
    settings as the sampler; the sampler then skips this work on every draw. See the module docstring.

    Args:
        keys: the reference image (one key): the grid the centres are on, and the breast fallback.
        patch_size, jitter, min_distance, mask_key, lesions_key, breast_mask_key, background_threshold,
        lesion_types, pathologies, class_map, shape, strict, exclude_values: as in :class:`RandLesionPatchesd`.
        centres_key: where the :class:`LesionPatchCentres` is stored.
        allow_missing_keys: an item without the image is passed through; one without ``lesions_key`` (and
            without a mask) is taken as lesion-free.

    Example:
        >>> import torch
        >>> image = torch.zeros(1, 200, 120); image[:, 20:180, :90] = 0.5
        >>> item = {"image": image, "lesions": [
        ...     {"type": "mass", "pathology": "benign", "center": [60, 40], "radius": 12, "box": None}]}
        >>> centres = LesionPatchCentresd("image", patch_size=32, jitter=4, min_distance=8)(item)["patch_centres"]
        >>> centres.shape, len(centres.positives), int(centres.positives[0].size), int(centres.negatives.size)
        ((200, 120), 1, 761, 9692)
    """

    def __init__(
        self,
        keys: KeysCollection,
        patch_size: Sequence[int] | int,
        jitter: float = 8.0,
        min_distance: float = 16.0,
        mask_key: str | None = None,
        lesions_key: str = "lesions",
        breast_mask_key: str | None = BREAST_MASK_KEY,
        background_threshold: float = 0.05,
        lesion_types: Sequence[str] | str | None = None,
        pathologies: Sequence[str] | str | None = None,
        class_map: Mapping[str, int] | None = None,
        shape: str = "circle",
        centres_key: str = PATCH_CENTRES_KEY,
        strict: bool = True,
        exclude_values: Sequence[int] = (),
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        self.exclude_values = sorted({int(v) for v in exclude_values})
        if len(self.keys) != 1:
            raise ValueError(f"LesionPatchCentresd takes one reference image key, got {self.keys}")
        size = tuple(int(s) for s in ensure_tuple_rep(patch_size, 2))
        if len(size) != 2 or min(size) < 1:
            raise ValueError(f"patch_size must be one or two positive ints (rows, cols), got {patch_size}")
        if jitter >= min(size) / 2:
            raise ValueError(f"jitter ({jitter}) must be below half the patch side ({min(size) / 2}) so that a "
                             f"positive patch contains its lesion")
        if min_distance < 0:
            raise ValueError(f"min_distance must be >= 0, got {min_distance}")
        self.patch_size = size
        self.jitter, self.min_distance = float(jitter), float(min_distance)
        self.mask_key, self.lesions_key = mask_key, lesions_key
        self.breast_mask_key, self.background_threshold = breast_mask_key, float(background_threshold)
        self.lesion_filter = {"lesion_types": lesion_types, "pathologies": pathologies, "class_map": class_map,
                              "shape": shape}
        lesion_regions(None, (1, 1), **self.lesion_filter)  # validate the filter now, not on the first item
        self.centres_key, self.strict = centres_key, strict
        self.settings = {
            "patch_size": list(size), "jitter": self.jitter, "min_distance": self.min_distance,
            "mask_key": mask_key, "lesions_key": lesions_key, "breast_mask_key": breast_mask_key,
            "background_threshold": self.background_threshold, "strict": strict,
            "exclude_values": self.exclude_values,
            **{k: (sorted(v.items()) if isinstance(v, Mapping) else v) for k, v in self.lesion_filter.items()},
        }

    def _regions(self, d: Mapping[Hashable, Any], image: Any, shape: tuple[int, int]
                 ) -> tuple[list[LesionRegion], list[LesionRegion]]:
        """(positives to sample, every located lesion to keep negatives away from)."""
        mask = d.get(self.mask_key) if self.mask_key is not None else None
        if mask is not None and not isinstance(mask, (str, bytes)):
            regions = mask_lesion_regions(_spatial_2d(mask, f"lesion mask {self.mask_key!r}", shape))
            return [r for r in regions if r.value not in self.exclude_values], regions
        if self.lesions_key not in d:
            if self.allow_missing_keys:
                return [], []
            raise KeyError(f"LesionPatchCentresd: the item has neither a lesion mask ({self.mask_key!r}) nor "
                           f"lesion records ({self.lesions_key!r})")
        lesions = d[self.lesions_key]
        if self.strict and lesions:
            check_original_grid(image, "lesion patch sampling (with the lesions list)")
        chosen = lesion_regions(lesions, shape, strict=self.strict, **self.lesion_filter)
        every = lesion_regions(lesions, shape, shape=self.lesion_filter["shape"], strict=False)
        return chosen, every

    def _breast(self, d: Mapping[Hashable, Any], image: Any, shape: tuple[int, int]) -> np.ndarray:
        breast = d.get(self.breast_mask_key) if self.breast_mask_key is not None else None
        if breast is not None and not isinstance(breast, (str, bytes)):
            return _spatial_2d(breast, f"breast mask {self.breast_mask_key!r}", shape) > 0
        return (_to_numpy(image) > self.background_threshold).any(axis=0)

    def centres(self, d: Mapping[Hashable, Any], image: Any) -> LesionPatchCentres:
        """The :class:`LesionPatchCentres` of item ``d`` whose reference image is ``image`` (C, rows, cols)."""
        if len(image.shape) != 3:
            raise ValueError(f"lesion patch sampling: expected a channel-first (C, rows, cols) image, "
                             f"got {tuple(image.shape)}")
        shape = (int(image.shape[1]), int(image.shape[2]))
        regions, every = self._regions(d, image, shape)
        sets = patch_center_sets(regions, self._breast(d, image, shape), self.patch_size, self.jitter,
                                 self.min_distance, exclude=every)
        positives = [rr.astype(np.int64) * shape[1] + cc for rr, cc in sets.positives]
        return LesionPatchCentres(shape, dict(self.settings), np.flatnonzero(sets.negatives), positives,
                                  sets.regions)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[self.centres_key] = self.centres(d, d[key])
        return d


class RandLesionPatchesd(Randomizable, MapTransform, MultiSampleTrait):
    """Sample lesion-centred (positive) and normal-tissue (negative) patches; see the module docstring.

    Args:
        keys: the keys to crop (image, masks, ...); all on one grid.
        patch_size: ``(rows, cols)`` (or one int) of every patch.
        num_samples: patches per item (a list of that many items is returned).
        pos, neg: relative frequency of positive and negative patches (per sample); an item without lesions
            gives only negatives, one without background room only positives.
        jitter: positive centres within ``jitter`` px of the lesion region (negative: eroded); must be below
            half the patch side, so a positive patch always contains its lesion.
        min_distance: px between a negative patch and every lesion (located lesions of any type).
        mask_key: a lesion mask in the item (instances = connected components per value, value = class);
            used when present (not ``None`` and not a file name), else the ``lesions`` list.
        lesions_key: the lesion records (original grid only; see :mod:`~mammo_monai.transforms.lesions`).
        image_key: the reference image (grid; breast fallback).
        breast_mask_key: the breast mask; ``None`` or absent: ``image > background_threshold`` (any channel).
        background_threshold: see ``breast_mask_key``; meant for images windowed to ``[0, 1]``.
        lesion_types, pathologies, class_map, shape: which lesions are sampled as positives and their class,
            for the ``lesions`` list (see :func:`~mammo_monai.transforms.lesions.lesion_regions`); without
            ``class_map`` every lesion is class 1 (binary abnormal). Negatives avoid every located lesion,
            also those not selected. With a mask the class is the mask value.
        pad_mode: how patches running off the image are padded (``torch.nn.functional.pad`` modes:
            ``constant`` (zeros), ``reflect``, ``replicate``, ``circular``).
        label_key, center_key, lesion_index_key: output keys of the class, centre ``[row, col]`` (int64 array,
            input grid) and lesion number (``-1``: normal tissue).
        centres_key: an item entry holding centres precomputed by :class:`LesionPatchCentresd` (with the same
            settings: checked); used when present, else the centres are computed here. Not copied into the
            patches.
        strict: with the ``lesions`` list, refuse an image that records a geometric operation and lesions
            lying outside it.
        exclude_values: lesion-mask values that mark lesions to keep negatives away from but not to sample
            (e.g. lesion types the classifier has no class for, drawn with a value of their own).
        hard_negatives_key: an item entry holding hard negatives: flat indices (``row * cols + col``) of this
            grid where a model found false positives (written by
            :class:`~mammo_monai.engines.HardNegativeMiner`); absent or empty: none. Not copied into the patches.
        hard_negative_fraction: the share of the negative draws taken from the hard negatives when the item
            has some (the rest stays uniform over the background, so normal tissue is still covered).
        allow_missing_keys: skip missing ``keys``; an item without ``lesions_key`` (and without a mask) is then
            taken as lesion-free.

    Items without any located lesion but with unlocated ones (no ``center``/``box``) still give negatives
    from anywhere in the breast; filter such items out of a patch datalist if that matters.
    Every item entry not in ``keys`` (but ``centres_key``) is deep-copied into each patch (MONAI's
    behaviour): put large arrays that should be cropped in ``keys``, and drop the others (``SelectItemsd``,
    ``DeleteItemsd``) before this transform.

    Raises:
        ValueError: nothing can be sampled (no lesion to centre on and no background room, or ``neg=0`` on an
            item without lesions), or inconsistent inputs (keys on different grids, a lesion outside the grid,
            precomputed centres of other settings or another grid).
    """

    def __init__(
        self,
        keys: KeysCollection,
        patch_size: Sequence[int] | int,
        num_samples: int = 4,
        pos: float = 1.0,
        neg: float = 1.0,
        jitter: float = 8.0,
        min_distance: float = 16.0,
        mask_key: str | None = None,
        lesions_key: str = "lesions",
        image_key: str = "image",
        breast_mask_key: str | None = BREAST_MASK_KEY,
        background_threshold: float = 0.05,
        lesion_types: Sequence[str] | str | None = None,
        pathologies: Sequence[str] | str | None = None,
        class_map: Mapping[str, int] | None = None,
        shape: str = "circle",
        pad_mode: str = "constant",
        label_key: str = "patch_label",
        center_key: str = "patch_center",
        lesion_index_key: str = "patch_lesion",
        centres_key: str | None = PATCH_CENTRES_KEY,
        strict: bool = True,
        hard_negatives_key: str | None = HARD_NEGATIVES_KEY,
        hard_negative_fraction: float = 0.5,
        exclude_values: Sequence[int] = (),
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        if not 0.0 <= float(hard_negative_fraction) <= 1.0:
            raise ValueError(f"hard_negative_fraction must be in [0, 1], got {hard_negative_fraction}")
        self.hard_negatives_key, self.hard_negative_fraction = hard_negatives_key, float(hard_negative_fraction)
        if int(num_samples) < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}")
        if pos < 0 or neg < 0 or pos + neg <= 0:
            raise ValueError(f"pos and neg must be >= 0 and not both 0, got pos={pos}, neg={neg}")
        self.finder = LesionPatchCentresd(
            image_key, patch_size, jitter=jitter, min_distance=min_distance, mask_key=mask_key,
            lesions_key=lesions_key, breast_mask_key=breast_mask_key, background_threshold=background_threshold,
            lesion_types=lesion_types, pathologies=pathologies, class_map=class_map, shape=shape, strict=strict,
            exclude_values=exclude_values, allow_missing_keys=allow_missing_keys)
        self.patch_size = self.finder.patch_size
        self.num_samples = int(num_samples)
        self.pos, self.neg = float(pos), float(neg)
        self.image_key = image_key
        if pad_mode not in _PAD_MODES:
            raise ValueError(f"pad_mode must be one of {_PAD_MODES}, got {pad_mode!r}")
        self.pad_mode = pad_mode
        self.label_key, self.center_key, self.lesion_index_key = label_key, center_key, lesion_index_key
        self.centres_key = centres_key

    def randomize(self, data: Any = None) -> None:
        """The draws depend on the item (its centre sets), so they are made in ``__call__`` with ``self.R``."""

    def _centres(self, d: Mapping[Hashable, Any], ref: Any, shape: tuple[int, int]) -> LesionPatchCentres:
        given = d.get(self.centres_key) if self.centres_key is not None else None
        if given is None:
            return self.finder.centres(d, ref)
        if not isinstance(given, LesionPatchCentres):
            raise TypeError(f"RandLesionPatchesd: {self.centres_key!r} holds a {type(given).__name__}, not the "
                            f"LesionPatchCentres of LesionPatchCentresd")
        if tuple(given.shape) != shape:
            raise ValueError(f"RandLesionPatchesd: the precomputed centres ({self.centres_key!r}) are for a "
                             f"{tuple(given.shape)} grid, the image is {shape}: compute them after the last "
                             f"transform that changes the grid")
        if given.settings != self.finder.settings:
            diff = sorted(k for k in set(given.settings) | set(self.finder.settings)
                          if given.settings.get(k) != self.finder.settings.get(k))
            raise ValueError(f"RandLesionPatchesd: the precomputed centres ({self.centres_key!r}) were made with "
                             f"other settings ({', '.join(diff)}): give LesionPatchCentresd the sampler's")
        return given

    def _hard_negatives(self, d: Mapping[Hashable, Any], centres: LesionPatchCentres) -> np.ndarray | None:
        """The item's hard negatives that are allowed background centres (sorted), or ``None``."""
        given = d.get(self.hard_negatives_key) if self.hard_negatives_key is not None else None
        if given is None or self.hard_negative_fraction <= 0:
            return None
        flat = np.unique(np.asarray(given, dtype=np.int64).ravel())
        flat = flat[np.isin(flat, centres.negatives, assume_unique=True)]
        return flat if flat.size else None

    def __call__(self, data: Mapping[Hashable, Any]) -> list[dict[Hashable, Any]]:
        d = dict(data)
        if self.image_key not in d:
            raise KeyError(f"RandLesionPatchesd: the item has no reference image {self.image_key!r}")
        ref = d[self.image_key]
        if len(ref.shape) != 3:
            raise ValueError(f"RandLesionPatchesd: expected a channel-first (C, rows, cols) image, "
                             f"got {tuple(ref.shape)}")
        shape = (int(ref.shape[1]), int(ref.shape[2]))
        for key in self.key_iterator(d):
            if tuple(d[key].shape[1:]) != shape:
                raise ValueError(f"RandLesionPatchesd: {key!r} has spatial shape {tuple(d[key].shape[1:])}, "
                                 f"{self.image_key!r} {shape}: the keys must share a grid")

        centres = self._centres(d, ref, shape)
        regions, pos_flat = centres.regions, centres.positives
        use_bg = self.neg > 0 and centres.negatives.size > 0
        use_pos = self.pos > 0 and len(regions) > 0
        if not (use_bg or use_pos):
            name = getattr(ref, "meta", {}).get("filename_or_obj", "the item")
            why = ("it has no lesion to centre on" if not regions else "pos=0") + (
                " and no background room (breast too small, or too close to lesions for min_distance)"
                if self.neg > 0 else " and neg=0")
            raise ValueError(f"RandLesionPatchesd: nothing to sample from {name}: {why}")

        sr, sc = self.patch_size
        indices: list[np.ndarray] = []
        ratios: list[float] = []
        hard = self._hard_negatives(d, centres) if use_bg else None
        if use_bg and hard is not None:
            indices.extend([centres.negatives, hard])
            ratios.extend([self.neg * (1.0 - self.hard_negative_fraction), self.neg * self.hard_negative_fraction])
        elif use_bg:
            indices.append(centres.negatives)
            ratios.append(self.neg)
        if use_pos:
            indices.extend(pos_flat)
            ratios.extend([self.pos / len(regions)] * len(regions))
        keep = [k for k, r in enumerate(ratios) if r > 0]
        indices, ratios = [indices[k] for k in keep], [ratios[k] for k in keep]
        probs = np.asarray(ratios, dtype=float) / float(np.sum(ratios))
        keys = list(self.key_iterator(d))
        rest = {k: v for k, v in d.items() if k not in keys and k not in (self.centres_key, self.hard_negatives_key)}

        samples = []
        for _ in range(self.num_samples):
            chosen = indices[int(self.R.choice(len(indices), p=probs))]
            flat = int(chosen[self.R.randint(chosen.size)])
            row, col = divmod(flat, shape[1])
            owners = [k for k, f in enumerate(pos_flat) if _contains(f, flat)]
            if len(owners) > 1:  # jittered regions of nearby lesions overlap: the nearest lesion owns the centre
                owners = [min(owners, key=lambda k: _distance(regions[k], row, col))]
            if owners:
                label, lesion = regions[owners[0]].value, regions[owners[0]].index
            else:
                label, lesion = 0, -1
            sample = deepcopy(rest)
            start = (row - sr // 2, col - sc // 2)
            for key in keys:
                sample[key] = _crop(d[key], start, self.patch_size, self.pad_mode)
            sample[self.label_key] = int(label)
            sample[self.center_key] = np.array([row, col], dtype=np.int64)
            sample[self.lesion_index_key] = int(lesion)
            samples.append(sample)
        return samples


def _crop(x: Any, start: tuple[int, int], size: tuple[int, int], pad_mode: str) -> Any:
    """The ``size`` window of ``x`` (C, rows, cols) at ``start`` (may run off the image: padded, ``pad_mode``).

    A MetaTensor comes back as one with the same metadata and the window's affine (no inverse record). The
    patch is new memory.
    """
    meta = x if isinstance(x, MetaTensor) else None
    data = x.as_tensor() if meta is not None else torch.as_tensor(x)
    rows, cols = int(data.shape[1]), int(data.shape[2])
    r0, c0 = start
    r1, c1 = r0 + size[0], c0 + size[1]
    patch = data[:, max(r0, 0):min(r1, rows), max(c0, 0):min(c1, cols)]
    pad = (max(0, -c0), max(0, c1 - cols), max(0, -r0), max(0, r1 - rows))
    # a copy, never a view: nothing downstream can write into the (cached) input through a patch
    patch = _pad(patch, pad, pad_mode) if any(pad) else patch.clone()
    if meta is None:
        return patch
    return on_new_grid(meta, patch, np.array([[1.0, 0.0, r0], [0.0, 1.0, c0], [0.0, 0.0, 1.0]]))


def _pad(patch: torch.Tensor, pad: tuple[int, int, int, int], mode: str) -> torch.Tensor:
    if mode == "constant":
        return F.pad(patch, pad, mode="constant", value=0.0)
    work = patch if patch.is_floating_point() else patch.float()
    out = F.pad(work[None], pad, mode=mode)[0]
    return out if out.dtype == patch.dtype else out.to(patch.dtype)


def _contains(sorted_flat: np.ndarray, value: int) -> bool:
    i = int(np.searchsorted(sorted_flat, value))
    return i < sorted_flat.size and int(sorted_flat[i]) == value


def _distance(region: LesionRegion, row: int, col: int) -> float:
    rr, cc = np.nonzero(region.mask)
    return float(np.min(np.hypot(rr + region.rows.start - row, cc + region.cols.start - col)))
