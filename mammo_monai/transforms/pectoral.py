"""Pectoral muscle detection and removal on MLO views (chest wall on the left, as after laterality normalisation).

On an MLO view the pectoral muscle is a bright, roughly triangular region in the top chest-wall corner;
its lower edge is close to a straight line from the top edge of the image down to the chest wall. Left
in, it looks like dense tissue to a classifier and like a mass to a detector. The detection, on a working
copy whose longest side is ``working_size`` pixels:

1. Canny edges (scikit-image) of the smoothed image inside the breast mask, in the top chest-wall region;
2. a Hough transform (scikit-image) restricted to lines whose normal points into the breast
   (``theta`` in ``angle_range``), i.e. lines that cut the top edge at column ``c`` and the chest wall at row
   ``r``;
3. each strong line is scored by the contrast between the triangle it cuts off and a band of tissue just
   below it; a line is accepted only if the triangle is brighter than that band by ``min_contrast`` (in
   units of the breast's intensity range) and covers ``area_range`` of the breast. No acceptable line: no
   muscle (a CC view, a muscle that is not visible) and nothing is removed.

The muscle region is everything of the breast on the chest-wall side of the accepted line. The line is
recorded as two ``[row, col]`` points on the image grid (``pectoral_line``).

Example:
    >>> import numpy as np, torch
    >>> rows, cols = np.mgrid[:200, :150]
    >>> img = np.where(cols < 120, 0.4, 0.0); img[rows * 100 + cols * 80 < 8000] = 0.9  # muscle triangle
    >>> mask, line = PectoralMuscleMask()(torch.as_tensor(img[None], dtype=torch.float32), breast_mask=img > 0)
    >>> line is not None, float(mask[0, 5, 5]), float(mask[0, 150, 60])
    (True, 1.0, 0.0)
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.data.meta_obj import get_track_meta
from monai.transforms import MapTransform, Transform
from monai.utils import convert_to_tensor
from scipy import ndimage
from skimage.feature import canny
from skimage.transform import hough_line, hough_line_peaks

from .breast import breast_mask_small
from .utils import BREAST_MASK_KEY, PECTORAL_MASK_KEY, item_view

__all__ = ["PectoralMuscleMask", "RemovePectoralMuscled", "pectoral_line_mask"]


def pectoral_line_mask(shape: Sequence[int], line: Sequence[Sequence[float]]) -> np.ndarray:
    """The chest-wall side (left, top) of ``line`` = ``[[0, col_top], [row_left, 0]]`` on a ``shape`` grid."""
    (_, col_top), (row_left, _) = line
    rows, cols = np.ogrid[: int(shape[0]), : int(shape[1])]
    if col_top <= 0 or row_left <= 0:
        return np.zeros((int(shape[0]), int(shape[1])), bool)
    return rows / row_left + cols / col_top < 1.0


class PectoralMuscleMask(Transform):
    """Find the pectoral muscle of a ``(C, rows, cols)`` MLO image whose chest wall is on the left.

    Args:
        working_size: longest side of the working copy.
        angle_range: Hough normal angles in degrees (0 = a vertical line, 90 = horizontal).
        min_contrast: the triangle must be brighter than the tissue band below the line by this fraction of
            the breast's 5-95 percentile range.
        area_range: the triangle's share of the breast.

    ``__call__(img, breast_mask=None)`` returns ``(mask (1, rows, cols) uint8, line or None)``; the line is
    ``[[0, col at the top edge], [row at the chest wall, 0]]`` on the image grid.
    """

    def __init__(self, working_size: int = 256, angle_range: Sequence[float] = (10.0, 55.0),
                 min_contrast: float = 0.08, area_range: Sequence[float] = (0.02, 0.4)) -> None:
        self.working_size = int(working_size)
        self.angles = np.deg2rad(np.linspace(float(angle_range[0]), float(angle_range[1]), 61))
        self.min_contrast = float(min_contrast)
        self.area_range = (float(area_range[0]), float(area_range[1]))

    def _find_line(self, small: np.ndarray, breast: np.ndarray) -> tuple[float, float] | None:
        """``(col at the top edge, row at the left edge)`` on the working copy, or ``None``."""
        if breast.sum() < 100:
            return None
        values = small[breast]
        low, high = np.percentile(values, (5, 95))
        spread = max(float(high - low), 1e-6)
        rows, cols = np.nonzero(breast)
        height, width = rows.max() + 1, cols.max() + 1
        region = np.zeros_like(breast)
        region[: int(height * 0.7), : int(width * 0.8)] = True
        smooth = ndimage.gaussian_filter(small, 1.5)
        edges = canny(smooth, sigma=1.0, mask=breast & region)
        if edges.sum() < 10:
            return None
        accumulator, thetas, distances = hough_line(edges, theta=self.angles)
        _, peak_thetas, peak_rhos = hough_line_peaks(accumulator, thetas, distances, num_peaks=8,
                                                     threshold=0.2 * accumulator.max())
        grid_r, grid_c = np.ogrid[: small.shape[0], : small.shape[1]]
        best, best_contrast = None, self.min_contrast
        band = 0.08 * math.hypot(height, width)
        for theta, rho in zip(peak_thetas, peak_rhos):
            if rho <= 0:
                continue
            col_top, row_left = rho / math.cos(theta), rho / math.sin(theta)
            # a muscle reaches well down the chest wall: shallow slivers along the top edge are film borders
            if not (0.1 * width <= col_top <= 0.95 * width and 0.2 * height <= row_left <= 1.2 * height):
                continue
            signed = grid_c * math.cos(theta) + grid_r * math.sin(theta) - rho
            muscle = breast & (signed < 0)
            below = breast & (signed >= 0) & (signed < band)
            share = muscle.sum() / breast.sum()
            if not (self.area_range[0] <= share <= self.area_range[1]) or below.sum() < 20:
                continue
            contrast = (float(np.median(small[muscle])) - float(np.median(small[below]))) / spread
            if contrast > best_contrast:
                best, best_contrast = (col_top, row_left), contrast
        return best

    def __call__(self, img: Any, breast_mask: Any = None) -> tuple[torch.Tensor, list[list[float]] | None]:
        arr = img.detach().cpu().numpy() if isinstance(img, torch.Tensor) else np.asarray(img)
        plane = np.asarray(arr[0] if arr.ndim == 3 else arr, dtype=np.float32)
        stride = max(1, math.ceil(max(plane.shape) / self.working_size))
        small = plane[::stride, ::stride]
        full_breast = None
        if breast_mask is not None:
            bm = breast_mask.detach().cpu().numpy() if isinstance(breast_mask, torch.Tensor) else breast_mask
            full_breast = np.asarray(bm).reshape(plane.shape) > 0
            breast = full_breast[::stride, ::stride]
        else:
            breast, _ = breast_mask_small(small, working_size=max(small.shape))
        found = self._find_line(small, breast)
        if found is None:
            return self._as_image_mask(np.zeros(plane.shape, bool), img), None
        line = [[0.0, float(found[0] * stride)], [float(found[1] * stride), 0.0]]
        mask = pectoral_line_mask(plane.shape, line)
        if full_breast is not None:
            mask &= full_breast
        return self._as_image_mask(mask, img), line

    @staticmethod
    def _as_image_mask(mask: np.ndarray, img: Any) -> torch.Tensor:
        """``(1, rows, cols)`` uint8; a MetaTensor carrying the image's affine and records when the image is one,
        so ``Invertd`` can take the muscle mask back to the original grid."""
        out = torch.from_numpy(mask.astype(np.uint8)[None])
        if isinstance(img, MetaTensor) and get_track_meta():
            records = [dict(op) for op in img.applied_operations]
            return MetaTensor(out, affine=img.affine.clone(), applied_operations=records)
        return out


class RemovePectoralMuscled(MapTransform):
    """Remove the pectoral muscle of MLO views from the image (set to the background) and/or the breast mask.

    Only items whose view (item ``view`` key, else the DICOM header) is an oblique or lateral view (``MLO``,
    ``ML``, ``LM``, ``LMO``, ``SIO``) are touched; CC and unknown views pass unchanged. The chest wall
    must be on the left (run :class:`~mammo_monai.transforms.laterality.NormalizeLateralityd` first). The
    item gets ``pectoral_line`` (``None`` when no muscle was found) and, with ``write_mask``, the muscle
    mask under :data:`~mammo_monai.transforms.utils.PECTORAL_MASK_KEY`.

    Args:
        keys: image keys to suppress the muscle in (``[]`` to only update the breast mask).
        image_key: the image the muscle is found on.
        mask_key: the breast mask to use and update (the muscle is removed from it), if present.
        suppress: set the muscle's pixels of ``keys`` to the image minimum.
        write_mask: also store the muscle mask.
    """

    OBLIQUE_VIEWS = ("MLO", "ML", "LM", "LMO", "SIO")

    def __init__(self, keys: KeysCollection, image_key: str = "image", mask_key: str | None = BREAST_MASK_KEY,
                 suppress: bool = True, write_mask: bool = False, working_size: int = 256,
                 allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.image_key, self.mask_key = image_key, mask_key
        self.suppress, self.write_mask = suppress, write_mask
        self.finder = PectoralMuscleMask(working_size=working_size)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        view = item_view(d, self.image_key)
        if view not in self.OBLIQUE_VIEWS:
            d["pectoral_line"] = None
            return d
        breast = d.get(self.mask_key) if self.mask_key else None
        muscle, line = self.finder(d[self.image_key], breast)
        d["pectoral_line"] = line
        if self.write_mask:
            d[PECTORAL_MASK_KEY] = muscle
        if line is None:
            return d
        inside = muscle.bool()
        if breast is not None:
            kept = convert_to_tensor(breast, track_meta=get_track_meta())
            d[self.mask_key] = kept.masked_fill(inside.expand_as(kept), 0)
        if self.suppress:
            for key in self.key_iterator(d):
                img = convert_to_tensor(d[key], track_meta=get_track_meta())
                d[key] = img.masked_fill(inside.expand_as(img), float(img.min()))
                if isinstance(d[key], MetaTensor):
                    d[key].meta["pectoral_line"] = line
        return d
