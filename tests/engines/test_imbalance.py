"""Class-imbalance choices of the classification bundles: weights, balanced sampler, focal loss, weights loading."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from torch import nn

from mammo_monai.engines import (
    FocalClassificationLoss,
    balanced_sampler,
    class_counts,
    class_weights,
    classification_loss,
    load_pretrained_weights,
)

ITEMS = [{"label": 0}] * 30 + [{"label": 1}] * 10


def test_balanced_weights_equalise_the_classes():
    weights = class_weights(ITEMS, 2)
    counts = torch.tensor(class_counts(ITEMS, 2), dtype=torch.float32)
    assert torch.allclose(weights * counts, torch.full((2,), 20.0))  # each class weighs as much in the loss
    assert class_weights([{"label": 0}, {"label": 0}], 3).tolist() == [1.0, 0.0, 0.0]  # absent classes: 0
    with pytest.raises(ValueError, match="class index 2"):
        class_counts([{"label": 2}], 2)
    with pytest.raises(ValueError, match="no 'label'"):
        class_counts([{}], 2)


def test_sampler_draws_classes_equally_and_is_seeded():
    assert len(list(balanced_sampler(ITEMS, 2, seed=1))) == len(ITEMS)  # one epoch: as many draws as items
    many = [ITEMS[i]["label"] for i in balanced_sampler(ITEMS, 2, num_samples=4000, seed=1)]
    assert abs(Counter(many)[1] / 4000 - 0.5) < 0.03
    assert list(balanced_sampler(ITEMS, 2, seed=3)) == list(balanced_sampler(ITEMS, 2, seed=3))


def test_losses_by_choice():
    logits, target = torch.randn(6, 2), torch.tensor([0, 1, 0, 0, 1, 0])
    weighted = classification_loss("class_weights", ITEMS, 2)
    assert torch.allclose(weighted.weight, class_weights(ITEMS, 2))
    assert isinstance(classification_loss("sampler", ITEMS, 2), nn.CrossEntropyLoss)
    focal = classification_loss("focal", ITEMS, 2, gamma=2.0)
    assert isinstance(focal, FocalClassificationLoss)
    assert focal(logits, target) < nn.functional.cross_entropy(logits, target)  # easy examples down-weighted
    flat = FocalClassificationLoss(gamma=0.0)(logits, target)
    assert torch.allclose(flat, nn.functional.cross_entropy(logits, target) / 2)  # MONAI averages over classes
    with pytest.raises(ValueError, match="imbalance must be one of"):
        classification_loss("smote", ITEMS, 2)
    with pytest.raises(ValueError, match="logits"):
        focal(torch.randn(2, 2, 3), target[:2])


def test_pretrained_weights_skip_a_different_head(tmp_path):
    source = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 3))
    torch.save({"model": source.state_dict()}, tmp_path / "ckpt.pt")
    target = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 2))  # another number of classes
    load_pretrained_weights(target, tmp_path / "ckpt.pt")
    assert torch.equal(target[0].weight, source[0].weight) and not torch.equal(target[1].bias[:2], source[1].bias[:2])
    with pytest.raises(FileNotFoundError, match="never downloaded"):
        load_pretrained_weights(target, tmp_path / "missing.pt")
    torch.save({"other": torch.zeros(3)}, tmp_path / "unrelated.pt")
    with pytest.raises(ValueError, match="nothing in"):
        load_pretrained_weights(target, tmp_path / "unrelated.pt")
