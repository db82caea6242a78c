"""The few pydicom calls whose names changed between pydicom 2.4 and 3 (MONAI Label still needs ``pydicom<3``).

Example:
    >>> isinstance(PYDICOM_MAJOR, int)
    True
"""

from __future__ import annotations

import os
from typing import Any, BinaryIO

import numpy as np
import pydicom
from pydicom.dataset import Dataset

from .writers import atomic_write_file

__all__ = ["PYDICOM_MAJOR", "compress_dataset", "encoder_available", "save_dataset"]

PYDICOM_MAJOR = int(pydicom.__version__.split(".")[0])


def save_dataset(ds: Dataset, path: str | os.PathLike | BinaryIO, overwrite: bool = True) -> None:
    """Write ``ds`` as a DICOM Part 10 file (preamble + file meta), on pydicom 2 and 3: to a path atomically (a
    temporary file beside ``path``, then renamed: :func:`~mammo_monai.io.writers.atomic_write_file`; an existing
    ``path`` raises ``FileExistsError`` unless ``overwrite``), or into an open binary file such as ``io.BytesIO``."""

    def write(f: BinaryIO) -> None:
        if PYDICOM_MAJOR >= 3:
            ds.save_as(f, enforce_file_format=True)
        else:
            ds.save_as(f, write_like_original=False)

    if hasattr(path, "write"):
        write(path)  # type: ignore[arg-type]
    else:
        atomic_write_file(path, write, overwrite=overwrite)


def compress_dataset(ds: Dataset, transfer_syntax: str, arr: np.ndarray, **kwargs: Any) -> None:
    """``Dataset.compress`` (RLE, JPEG-LS, JPEG 2000 with the installed encoders) on pydicom 2 and 3."""
    if PYDICOM_MAJOR >= 3:
        ds.compress(transfer_syntax, arr, generate_instance_uid=False, **kwargs)
    else:
        ds.compress(transfer_syntax, arr, **kwargs)


def encoder_available(transfer_syntax: str) -> bool:
    """Whether an installed encoder writes ``transfer_syntax``."""
    try:
        if PYDICOM_MAJOR >= 3:
            from pydicom.pixels import get_encoder
        else:
            from pydicom.encoders import get_encoder
        return bool(get_encoder(transfer_syntax).is_available)
    except (ImportError, NotImplementedError):
        return False
