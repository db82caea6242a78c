"""Helpers the bundles' training/inference configs call in short ``$`` expressions."""

from .collate import mammogram_collate
from .default_data import ensure_default_datalist
from .demo import prediction_datalist, run_demo

__all__ = ["ensure_default_datalist", "mammogram_collate", "prediction_datalist", "run_demo"]
