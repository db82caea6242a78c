"""Fixtures for the io tests."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def mammo_array() -> np.ndarray:
    """A 64x48 uint16 'mammogram': background 100, a bright breast blob up to 40000 on the left."""
    rows, cols = np.mgrid[:64, :48]
    breast = ((rows - 32) / 28.0) ** 2 + (cols / 30.0) ** 2 <= 1
    arr = np.full((64, 48), 100, np.uint16)
    arr[breast] = (20000 + 20000 * np.exp(-((rows - 32) ** 2 + (cols - 8) ** 2) / 300.0))[breast].astype(np.uint16)
    return arr
