"""Reading raster mammograms (PNG, PGM, TIFF: MIAS, Kaggle re-releases, our own mask files).

They carry no DICOM header, so every :class:`~mammo_monai.io.metadata.MetaKeys` entry is ``None``
except the pixel format; laterality and view come from the datalist item instead.

Example:
    >>> arr, meta = read_raster_mammogram("mdb001.png")  # doctest: +SKIP
    >>> arr.shape, arr.dtype  # doctest: +SKIP
    ((1024, 1024), dtype('uint8'))
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import CorruptPixelDataError, MammogramReadError
from .metadata import MetaKeys

__all__ = ["RASTER_SUFFIXES", "read_raster_mammogram"]

RASTER_SUFFIXES = (".png", ".pgm", ".pnm", ".tif", ".tiff")


def read_raster_mammogram(path: str | os.PathLike) -> tuple[np.ndarray, dict[str, Any]]:
    """Read a greyscale raster image as ``(rows, cols)`` in its own integer dtype (8 or 16 bit).

    Raises:
        FileNotFoundError: no such file.
        MammogramReadError: not an image PIL can open, or a colour image.
        CorruptPixelDataError: truncated pixel data.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    try:
        with Image.open(path) as img:
            mode = img.mode
            if mode not in ("L", "I;16", "I;16B", "I;16L", "I", "1", "P"):
                raise MammogramReadError(path, f"colour image (PIL mode {mode}): a mammogram must be greyscale")
            if mode == "P":
                img = img.convert("L")
            arr = np.array(img)  # a writable copy (torch refuses read-only buffers)
    except UnidentifiedImageError as e:
        raise MammogramReadError(path, "not an image file PIL can read") from e
    except (OSError, SyntaxError) as e:
        raise CorruptPixelDataError(path, f"truncated or corrupt image ({e})") from e
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    if arr.dtype == np.int32 and arr.size and arr.min() >= 0 and arr.max() <= 65535:
        arr = arr.astype(np.uint16)
    bits = 8 if arr.dtype == np.uint8 else 16
    meta: dict[str, Any] = dict.fromkeys(MetaKeys.all())
    meta.update(
        {
            MetaKeys.PHOTOMETRIC: "MONOCHROME2",
            MetaKeys.BITS_STORED: bits,
            MetaKeys.VALUE_RANGE: [0.0, float(2**bits - 1)],
            MetaKeys.INVERTED: False,
            MetaKeys.DECODER: "pillow",
            "spatial_shape": np.asarray(arr.shape),
            "filename_or_obj": str(path),
        }
    )
    return arr, meta
