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

The chest wall is expected on the left (after :class:`~mammo_monai.transforms.laterality.NormalizeLateralityd`);
``side="right"`` works on the mirrored image and maps the result back, and ``side="auto"`` decides per
image with :func:`~mammo_monai.transforms.laterality.chest_wall_side_from_image` on the breast mask (the end of
the breast's bounding box where it is tallest: right on 214 of the 216 mini-MIAS films, wrong on mdb151/152,
whose breasts fill the film; counting the mask pixels in the two outermost columns instead was wrong on 12).

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
from .laterality import chest_wall_side_from_image
from .utils import BREAST_MASK_KEY, CHEST_WALL_SIDE, PECTORAL_MASK_KEY, item_view

__all__ = ["PECTORAL_SIDES", "PectoralMuscleMask", "RemovePectoralMuscled", "pectoral_line_mask"]

PECTORAL_SIDES = ("left", "right", "auto")


def pectoral_line_mask(shape: Sequence[int], line: Sequence[Sequence[float]]) -> np.ndarray:
    """The muscle side of ``line`` = ``[[row_top, col_top], [row_wall, col_wall]]`` on a ``shape`` grid: the
    pixels strictly on the same side of the line as the corner ``(row_top, col_wall)`` (the top of the
    chest wall). For a line ``[[0, c], [r, 0]]`` that is ``rows / r + cols / c < 1``."""
    (r1, c1), (r2, c2) = ((float(a), float(b)) for a, b in line)
    rows, cols = np.ogrid[: int(shape[0]), : int(shape[1])]
    corner = (r1 - r1) * (c2 - c1) - (c2 - c1) * (r2 - r1)  # the side function at (r1, c2)
    if corner == 0:  # the two points coincide, or the line is parallel to an image axis through the corner
        return np.zeros((int(shape[0]), int(shape[1])), bool)
    side = (rows - r1) * (c2 - c1) - (cols - c1) * (r2 - r1)
    return side * np.sign(corner) > 0


class PectoralMuscleMask(Transform):
    """Find the pectoral muscle of a ``(C, rows, cols)`` MLO image whose chest wall is on ``side``.

    Args:
        working_size: longest side of the working copy.
        angle_range: Hough normal angles in degrees (0 = a vertical line, 90 = horizontal).
        min_contrast: the triangle must be brighter than the tissue band below the line by this fraction of
            the breast's 5-95 percentile range.
        area_range: the triangle's share of the breast.
        side: where the chest wall is: ``"left"`` (default, the package convention), ``"right"`` or
            ``"auto"`` (decided from the breast mask, see the module docstring).

    ``__call__(img, breast_mask=None, side=None)`` returns ``(mask (1, rows, cols) uint8, line or None)``;
    the line is ``[[row, col] where it cuts the top of the breast, [row, col] where it cuts the chest wall]``
    on the image grid (the breast's top row and chest-wall column, i.e. ``[[0, c], [r, 0]]`` for a breast
    against the top-left corner). ``side`` overrides the constructor's; the side used is in
    :attr:`last_side`.
    """

    def __init__(self, working_size: int = 256, angle_range: Sequence[float] = (10.0, 55.0),
                 min_contrast: float = 0.08, area_range: Sequence[float] = (0.02, 0.4),
                 side: str = CHEST_WALL_SIDE) -> None:
        if side not in PECTORAL_SIDES:
            raise ValueError(f"side must be one of {PECTORAL_SIDES}, got {side!r}")
        self.side = side
        self.last_side: str | None = None
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
        # how far the breast reaches along its top rows: a line cutting the top beyond that takes the whole top
        # band of a breast whose top is narrow (the axillary tail), not a triangle (mdb080, mdb093)
        top_rows = breast[: max(1, round(0.03 * height))]
        top_width = float(top_rows.sum(axis=1).mean())
        for theta, rho in zip(peak_thetas, peak_rhos):
            if rho <= 0:
                continue
            col_top, row_left = rho / math.cos(theta), rho / math.sin(theta)
            # a muscle reaches well down the chest wall: shallow slivers along the top edge are film borders
            if not (0.1 * width <= col_top <= 0.95 * width and 0.2 * height <= row_left <= 1.2 * height):
                continue
            if col_top > 1.05 * top_width:
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

    def __call__(self, img: Any, breast_mask: Any = None,
                 side: str | None = None) -> tuple[torch.Tensor, list[list[float]] | None]:
        side = self.side if side is None else side
        if side not in PECTORAL_SIDES:
            raise ValueError(f"side must be one of {PECTORAL_SIDES}, got {side!r}")
        arr = img.detach().cpu().numpy() if isinstance(img, torch.Tensor) else np.asarray(img)
        plane = np.asarray(arr[0] if arr.ndim == 3 else arr, dtype=np.float32)
        if plane.ndim != 2:
            raise ValueError(f"PectoralMuscleMask: expected a (C, rows, cols) image, got shape {arr.shape}")
        stride = max(1, math.ceil(max(plane.shape) / self.working_size))
        small = plane[::stride, ::stride]
        full_breast = None
        if breast_mask is not None:
            bm = breast_mask.detach().cpu().numpy() if isinstance(breast_mask, torch.Tensor) else breast_mask
            if np.size(bm) != plane.size:
                raise ValueError(f"PectoralMuscleMask: breast mask of shape {np.shape(bm)} does not match the "
                                 f"image {plane.shape}")
            full_breast = np.asarray(bm).reshape(plane.shape) > 0
            breast = full_breast[::stride, ::stride]
        else:
            breast, _ = breast_mask_small(small, working_size=max(small.shape))
        if side == "auto":
            side = chest_wall_side_from_image(small, breast) if breast.any() else CHEST_WALL_SIDE
        self.last_side = side
        mirrored = side == "right"
        if mirrored:
            small, breast = small[:, ::-1], breast[:, ::-1]
        # search in the breast's bounding box: its top row and its chest-wall column are the triangle's edges
        # (films are often padded, so the breast need not touch the image's top-left corner)
        r0, c0 = (int(np.argmax(breast.any(axis=a))) for a in (1, 0)) if breast.any() else (0, 0)
        found = self._find_line(small[r0:, c0:], breast[r0:, c0:])
        if found is None:
            return self._as_image_mask(np.zeros(plane.shape, bool), img), None
        # the two intercepts, on the image grid (the chest-wall column mirrored back for a right chest wall)
        top, wall = (r0 * stride, (c0 + found[0]) * stride), ((r0 + found[1]) * stride, c0 * stride)
        if mirrored:
            last = plane.shape[1] - 1
            top, wall = (top[0], last - top[1]), (wall[0], last - wall[1])
        line = [[float(top[0]), float(top[1])], [float(wall[0]), float(wall[1])]]
        mask = pectoral_line_mask(plane.shape, line)
        if full_breast is not None:
            mask = mask & full_breast
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
        side: the chest-wall side, ``"left"`` (default: after laterality normalisation), ``"right"`` or
            ``"auto"`` (see :class:`PectoralMuscleMask`).
    """

    OBLIQUE_VIEWS = ("MLO", "ML", "LM", "LMO", "SIO")

    def __init__(self, keys: KeysCollection, image_key: str = "image", mask_key: str | None = BREAST_MASK_KEY,
                 suppress: bool = True, write_mask: bool = False, working_size: int = 256,
                 side: str = CHEST_WALL_SIDE, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.image_key, self.mask_key = image_key, mask_key
        self.suppress, self.write_mask = suppress, write_mask
        self.finder = PectoralMuscleMask(working_size=working_size, side=side)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        view = item_view(d, self.image_key)
        if view not in self.OBLIQUE_VIEWS:
            d["pectoral_line"] = None
            return d
        if self.image_key not in d:
            raise KeyError(f"RemovePectoralMuscled: no {self.image_key!r} in the item")
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
