"""Turn a foreground probability map into a mask by a component rule (threshold, size, peak score, top-k).

A segmentation network's argmax paints small, faint blobs on normal films. :class:`ComponentRule` keeps a
connected component of ``probability > threshold`` only when it is at least ``min_size`` pixels and its peak
probability reaches ``min_peak``, and at most the ``max_components`` components with the highest peaks. With
``threshold=0.5`` and the other settings off, it is the argmax of a two-class softmax (ties go to background,
as argmax keeps the first maximum) followed by the removal of 4-connected components under ``min_size`` pixels
(MONAI's ``RemoveSmallObjects`` with scikit-image 0.26 also removes components of exactly ``min_size``).
The rule's values are chosen inside the folds of a cross-validation
(:func:`mammo_monai.evaluation.component_rule_selection.choose_component_rule`) and shipped in the
segmentation bundle's ``inference.json``.

Written with :func:`scipy.ndimage.label` / :func:`scipy.ndimage.maximum` rather than MONAI's
``KeepLargestConnectedComponent`` / ``RemoveSmallObjects``: those rank components by size only, and the rule
needs each component's peak probability.

Example:
    >>> import numpy as np
    >>> p = np.zeros((8, 8), np.float32); p[1:3, 1:3] = 0.6; p[5:8, 5:8] = 0.95
    >>> int(ComponentRule(threshold=0.5, min_peak=0.9)(p).sum())   # the faint 2x2 blob is dropped
    9
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform
from scipy import ndimage

__all__ = ["ComponentRule", "ComponentRuled", "label_components"]


def label_components(probability: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The 4-connected components of ``probability > threshold``.

    Args:
        probability: ``(H, W)`` foreground probabilities.
        threshold: a pixel is foreground when its probability is strictly above it.

    Returns:
        ``labels`` ``(H, W)`` int32 (0 = background, components 1..n), ``sizes`` ``(n,)`` pixels and ``peaks``
        ``(n,)`` the highest probability in each component.
    """
    labels, n = ndimage.label(probability > threshold)
    if n == 0:
        return labels.astype(np.int32), np.zeros(0, np.int64), np.zeros(0, np.float64)
    index = np.arange(1, n + 1)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    peaks = np.asarray(ndimage.maximum(probability, labels, index), np.float64)
    return labels.astype(np.int32), sizes, peaks


def kept_components(sizes: np.ndarray, peaks: np.ndarray, min_size: int, min_peak: float,
                    max_components: int | None) -> np.ndarray:
    """Indices (0-based) of the components a rule keeps, highest peak first."""
    keep = np.flatnonzero((sizes >= min_size) & (peaks >= min_peak))
    keep = keep[np.argsort(-peaks[keep], kind="stable")]
    return keep if max_components is None else keep[:max_components]


@dataclass(frozen=True)
class ComponentRule:
    """Foreground probability ``(H, W)`` (or ``(1, H, W)``) -> boolean mask of the same shape.

    Args:
        threshold: a pixel is a candidate when its probability is strictly above it (0.5: the argmax).
        min_size: smallest kept component, pixels of the map's grid (0: any).
        min_peak: a component is kept only when its highest probability reaches this (0: any).
        max_components: keep at most this many components, highest peaks first (None: all).
    """

    threshold: float = 0.5
    min_size: int = 0
    min_peak: float = 0.0
    max_components: int | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold < 1.0:
            raise ValueError(f"threshold must be in [0, 1), got {self.threshold}")
        if self.min_size < 0 or (self.max_components is not None and self.max_components < 1):
            raise ValueError(f"min_size must be >= 0 and max_components >= 1 or None, got {self.min_size}, "
                             f"{self.max_components}")

    def __call__(self, probability: np.ndarray) -> np.ndarray:
        array = np.asarray(probability, dtype=np.float32)
        plane = array.reshape(array.shape[-2:]) if array.ndim == 3 and array.shape[0] == 1 else array
        if plane.ndim != 2:
            raise ValueError(f"expected a (H, W) or (1, H, W) probability map, got shape {array.shape}")
        labels, sizes, peaks = label_components(plane, self.threshold)
        keep = kept_components(sizes, peaks, self.min_size, self.min_peak, self.max_components)
        lookup = np.zeros(sizes.size + 1, bool)
        lookup[keep + 1] = True
        return lookup[labels].reshape(array.shape)

    def as_dict(self) -> dict[str, Any]:
        """The rule's values (for reports and ``inference.json``)."""
        return asdict(self)


class ComponentRuled(MapTransform):
    """Dictionary wrapper of :class:`ComponentRule` for a two-class softmax output.

    ``data[key]``: ``(C, H, W)`` class probabilities (``C = 2``: background, foreground; the foreground channel
    ``channel`` is used) -> ``(1, H, W)`` float mask, the input's MetaTensor metadata kept.

    Example:
        >>> import torch
        >>> pred = torch.zeros(2, 6, 6); pred[1, 1:4, 1:4] = 0.8; pred[0] = 1 - pred[1]
        >>> ComponentRuled("pred", min_size=4)({"pred": pred})["pred"].shape
        torch.Size([1, 6, 6])
    """

    def __init__(self, keys: KeysCollection, threshold: float = 0.5, min_size: int = 0, min_peak: float = 0.0,
                 max_components: int | None = None, channel: int = 1, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.rule = ComponentRule(float(threshold), int(min_size), float(min_peak),
                                  None if max_components is None else int(max_components))
        self.channel = channel

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            pred = d[key]
            probability = pred[self.channel].detach().cpu().numpy() if torch.is_tensor(pred) else np.asarray(
                pred)[self.channel]
            mask = torch.from_numpy(self.rule(probability)[None].astype(np.float32))
            d[key] = MetaTensor(mask, meta=pred.meta) if isinstance(pred, MetaTensor) else mask
        return d
