"""Writers the bundles' inference configs end with: overlay PNGs of a prediction on its original image.

The masks themselves are written by MONAI's ``SaveImaged`` (NIfTI: MONAI's PNG writer transposes
``(rows, cols)`` arrays); :class:`SaveOverlayd` writes, next to them and under the same naming scheme
(MONAI's ``FolderLayout``: the image's folder below ``data_root_dir`` mirrored under ``output_dir``), a
PNG of the original mammogram with the predicted contour, for a person to look at.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from monai.config import KeysCollection
from monai.data.folder_layout import FolderLayout
from monai.transforms import MapTransform
from monai.utils import ImageMetaKey
from PIL import Image

from mammo_monai.io import read_mammogram

from .overlay import PRED_COLOUR, overlay_rgb

__all__ = ["SaveOverlayd"]

logger = logging.getLogger(__name__)


class SaveOverlayd(MapTransform):
    """Write ``<output_dir>/<relative folder>/<image stem>_<postfix>.png``: the original mammogram (read again
    from the prediction's ``filename_or_obj``, windowed between percentiles) shrunk to fit ``max_size`` px, with
    the contour of the prediction drawn in red.

    Put it after ``Invertd`` + ``AsDiscreted`` in an inference postprocessing, when ``keys`` (a ``(1, rows,
    cols)`` 0/1 prediction) lies on the original pixel grid. An existing PNG is replaced only with
    ``overwrite`` (the default, like MONAI's ``SaveImaged``, because predictions are outputs of this run).
    A prediction whose grid differs from its image's is reported (logged, nothing written), not drawn
    misaligned.

    Args:
        keys: prediction key(s).
        output_dir, data_root_dir: as in ``SaveImaged``.
        output_postfix: the file name's postfix.
        max_size: longest side of the PNG (smaller images keep their size).
        overwrite: replace an existing PNG (else ``FileExistsError``).

    Example (in an inference config, after ``SaveImaged``)::

        {"_target_": "mammo_monai.inference.SaveOverlayd", "keys": "pred", "output_dir": "@output_dir",
         "data_root_dir": "@data_root_dir"}
    """

    def __init__(self, keys: KeysCollection, output_dir: str | os.PathLike = "./", data_root_dir: str = "",
                 output_postfix: str = "overlay", max_size: int = 1024, overwrite: bool = True,
                 allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.layout = FolderLayout(output_dir, postfix=output_postfix, extension=".png", parent=False,
                                   makedirs=True, data_root_dir=data_root_dir)
        self.max_size, self.overwrite = int(max_size), bool(overwrite)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            pred = d[key]
            meta = getattr(pred, "meta", {}) or {}
            source = meta.get(ImageMetaKey.FILENAME_OR_OBJ)
            if not isinstance(source, (str, os.PathLike)) or not source:
                raise ValueError(f"SaveOverlayd: {key!r} has no source file name in its meta (filename_or_obj)")
            mask = np.asarray(pred.detach().cpu() if hasattr(pred, "detach") else pred)
            mask = mask[0] if mask.ndim == 3 else mask
            image, _ = read_mammogram(source)
            if image.shape != mask.shape:
                logger.error("SaveOverlayd: %s: prediction %s is not on the image grid %s; no overlay written",
                             source, mask.shape, image.shape)
                continue
            path = Path(self.layout.filename(subject=source))
            if path.exists() and not self.overwrite:
                raise FileExistsError(f"{path} exists (overwrite=False)")
            rgb = overlay_rgb(image, [(mask > 0, PRED_COLOUR)], min(self.max_size, max(image.shape)))  # no upscaling
            Image.fromarray(rgb, mode="RGB").save(path)
        return d
