"""Helpers the bundles' training/inference configs call in short ``$`` expressions."""

from .collate import mammogram_collate
from .default_data import ensure_default_datalist
from .demo import prediction_datalist, run_demo
from .imbalance import (
    IMBALANCE_CHOICES,
    FocalClassificationLoss,
    balanced_sampler,
    class_counts,
    class_weights,
    classification_loss,
)
from .weights import load_pretrained_weights

__all__ = [
    "IMBALANCE_CHOICES",
    "FocalClassificationLoss",
    "balanced_sampler",
    "class_counts",
    "class_weights",
    "classification_loss",
    "ensure_default_datalist",
    "load_pretrained_weights",
    "mammogram_collate",
    "prediction_datalist",
    "run_demo",
]
