"""Class imbalance for the classification bundles, chosen in the open by one config key (``imbalance``).

Mammography labels are lopsided (MIAS: 96 normal against 56 abnormal training images; CBIS-DDSM lesions:
more benign than malignant), and a classifier trained without care predicts the majority class for
everything (the seeds' "54% accuracy with every prediction at 0.46"). The choices:

- ``"class_weights"``: cross-entropy weighted per class by ``n / (k * n_c)`` (scikit-learn's "balanced"
  weights: every class contributes as much to the loss as if the classes were equal);
- ``"sampler"``: plain cross-entropy, and a ``WeightedRandomSampler`` that draws every class equally often
  (each item with weight ``1 / n_c``, with replacement, one epoch = as many draws as items);
- ``"focal"``: MONAI's ``FocalLoss`` (softmax, ``gamma``), which down-weights the easy majority;
- ``"none"``: plain cross-entropy.

The counts come from the training items' ``label`` (the class index that
:func:`mammo_monai.data.labels.labelled_items` writes). Per-class results are reported by the evaluation
either way (``mammo-monai eval classification``).

Example:
    >>> items = [{"label": 0}, {"label": 0}, {"label": 0}, {"label": 1}]
    >>> class_counts(items, 2), [round(w, 3) for w in class_weights(items, 2).tolist()]
    ([3, 1], [0.667, 2.0])
    >>> type(classification_loss("class_weights", items, 2)).__name__
    'CrossEntropyLoss'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
from monai.losses import FocalLoss
from torch import nn
from torch.utils.data import WeightedRandomSampler

__all__ = [
    "IMBALANCE_CHOICES",
    "FocalClassificationLoss",
    "balanced_sampler",
    "class_counts",
    "class_weights",
    "classification_loss",
]

IMBALANCE_CHOICES = ("class_weights", "sampler", "focal", "none")


def class_counts(items: Iterable[Mapping[str, Any]], num_classes: int, key: str = "label") -> list[int]:
    """Items per class index ``0 .. num_classes - 1``.

    Raises:
        ValueError: an item without ``key``, or a class index outside the range.
    """
    counts = [0] * int(num_classes)
    for i, item in enumerate(items):
        if key not in item:
            raise ValueError(f"item {i} has no {key!r} (class index); build the items with labelled_items")
        value = int(item[key])
        if not 0 <= value < num_classes:
            raise ValueError(f"item {i}: class index {value} outside 0..{num_classes - 1}")
        counts[value] += 1
    return counts


def class_weights(items: Sequence[Mapping[str, Any]], num_classes: int, key: str = "label") -> torch.Tensor:
    """``n / (k * n_c)`` per class (float32); a class without items gets weight 0 (it cannot be learnt, and
    a weight would only matter if it were predicted)."""
    counts = class_counts(items, num_classes, key)
    total = sum(counts)
    present = sum(1 for c in counts if c)
    if not total:
        raise ValueError("no items to weight the classes by")
    return torch.tensor([total / (present * c) if c else 0.0 for c in counts], dtype=torch.float32)


def balanced_sampler(items: Sequence[Mapping[str, Any]], num_classes: int, key: str = "label",
                     num_samples: int | None = None, seed: int = 0) -> WeightedRandomSampler:
    """A ``WeightedRandomSampler`` drawing every present class equally often: item weight ``1 / n_c``, with
    replacement, ``num_samples`` draws per epoch (default: as many as items), from a seeded generator."""
    counts = class_counts(items, num_classes, key)
    weights = [1.0 / counts[int(item[key])] for item in items]
    generator = torch.Generator().manual_seed(int(seed))
    return WeightedRandomSampler(weights, num_samples or len(weights), replacement=True, generator=generator)


class FocalClassificationLoss(nn.Module):
    """MONAI's ``FocalLoss`` for ``(B, C)`` logits and ``(B,)`` class indices (softmax; the targets one-hot).

    Args:
        gamma: the focusing parameter (0: cross-entropy up to MONAI's mean over the class channel).
        weight: optional per-class weights (``(C,)``), as in ``FocalLoss``.
    """

    def __init__(self, gamma: float = 2.0, weight: torch.Tensor | Sequence[float] | None = None) -> None:
        super().__init__()
        self.focal = FocalLoss(to_onehot_y=True, use_softmax=True, gamma=float(gamma), weight=weight)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if logits.ndim != 2:
            raise ValueError(f"expected (B, C) logits, got {tuple(logits.shape)}")
        return self.focal(logits, target.reshape(-1, 1).long())


def classification_loss(imbalance: str, items: Sequence[Mapping[str, Any]], num_classes: int, key: str = "label",
                        gamma: float = 2.0) -> nn.Module:
    """The training loss for ``imbalance`` (one of :data:`IMBALANCE_CHOICES`; see the module docstring)."""
    if imbalance not in IMBALANCE_CHOICES:
        raise ValueError(f"imbalance must be one of {IMBALANCE_CHOICES}, got {imbalance!r}")
    if imbalance == "class_weights":
        return nn.CrossEntropyLoss(weight=class_weights(items, num_classes, key))
    if imbalance == "focal":
        return FocalClassificationLoss(gamma=gamma)
    return nn.CrossEntropyLoss()
