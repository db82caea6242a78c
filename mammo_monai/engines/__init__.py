"""Helpers the bundles' training/inference configs call in short ``$`` expressions."""

from .collate import mammogram_collate
from .default_data import ensure_default_datalist

__all__ = ["ensure_default_datalist", "mammogram_collate"]
