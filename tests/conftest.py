"""Shared test fixtures: where the real data lives, and skipping cleanly when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
#: The real data (`../shared/data` beside the repository), overridable with MAMMO_MONAI_SHARED_DATA.
SHARED_DATA = Path(os.environ.get("MAMMO_MONAI_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


def _shared_dir(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"real data not available: {path} is missing (clone with ../shared beside the repo "
                    f"or set MAMMO_MONAI_SHARED_DATA)")
    return path


@pytest.fixture(scope="session")
def shared_mias() -> Path:
    """``../shared/data/mias``: 216 mini-MIAS PNGs + Info.txt (skips when absent)."""
    return _shared_dir("mias")


@pytest.fixture(scope="session")
def shared_cbis_csv() -> Path:
    """``../shared/data/cbis-ddsm``: the four real CBIS-DDSM case-description CSVs (skips when absent)."""
    return _shared_dir("cbis-ddsm")


@pytest.fixture(scope="session")
def shared_dicom() -> Path:
    """``../shared/data/dicom``: four real CBIS-DDSM RLE mammograms and a DDSM JPEG 2000 (skips when absent)."""
    return _shared_dir("dicom")
