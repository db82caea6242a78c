"""Real lesions blended into other films: more positive examples for a detector trained on a few dozen masses.

:func:`blend_lesion` cuts a lesion out of its own (preprocessed) film as what it adds to its surroundings (the disc
minus the median of the ring around it, so the source film's tissue level does not travel with it) and adds that
excess, under a smooth round mask, at a site of another film (a normal one), clipped to the film's range. The
texture, shape and margin of the lesion are real; only its background is new. :func:`lesion_sites` draws sites
where the whole blended disc lies on breast tissue.

Written here rather than taken from a library: MONAI and scikit-image have Poisson/seamless cloning for
colour photographs (``skimage`` has none; OpenCV's ``seamlessClone`` is 8-bit and would quantise a [0, 1] film),
and an additive excess keeps the lesion's contrast against whatever tissue it lands on, which is what a detector
must see.

Example:
    >>> import numpy as np
    >>> source = np.full((64, 64), 0.4, np.float32); yy, xx = np.mgrid[:64, :64]
    >>> source[(yy - 20) ** 2 + (xx - 30) ** 2 <= 25] = 0.8         # a bright disc of radius 5 at (20, 30)
    >>> target = np.full((64, 64), 0.2, np.float32)
    >>> out = blend_lesion(target, source, (20, 30), 5, (40, 40))
    >>> round(float(out[40, 40]), 2), round(float(out[10, 10]), 2)  # the excess (0.4) lands at (40, 40) only
    (0.6, 0.2)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

__all__ = ["blend_lesion", "lesion_sites"]

#: the blended disc reaches this many lesion radii (the mask falls from 1 at one radius to 0 here)
BLEND_REACH = 1.5


def _ring_median(image: np.ndarray, center: Sequence[float], radius: float) -> float:
    """The median of ``image`` in the ring from 1.5 to 2.5 radii around ``center`` (the lesion's surroundings)."""
    rows, cols = np.ogrid[:image.shape[0], :image.shape[1]]
    d = np.hypot(rows - center[0], cols - center[1])
    ring = image[(d >= BLEND_REACH * radius) & (d <= 2.5 * radius)]
    return float(np.median(ring)) if ring.size else float(np.median(image))


def blend_lesion(target: np.ndarray, source: np.ndarray, source_center: Sequence[float], radius: float,
                 target_center: Sequence[float], value_range: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
    """``target`` with the lesion of ``source`` at ``source_center`` (``radius`` pixels) added at ``target_center``.

    Args:
        target: ``(H, W)`` the film that receives the lesion (not changed).
        source: ``(H', W')`` the lesion's film, on the same pixel grid scale as ``target``.
        source_center, target_center: ``(row, col)``.
        radius: the lesion's radius in pixels (> 0).
        value_range: the films' range; the result is clipped to it.

    Returns:
        ``(H, W)`` float32: ``target + mask * (source - ring median)`` around the site, where ``mask`` is 1 within
        ``radius`` and falls smoothly to 0 at ``BLEND_REACH * radius``.

    Raises:
        ValueError: a radius that is not positive, or images that are not 2D.
    """
    target = np.asarray(target, dtype=np.float32)
    source = np.asarray(source, dtype=np.float32)
    if target.ndim != 2 or source.ndim != 2:
        raise ValueError(f"blend_lesion takes 2D films, got {target.shape} and {source.shape}")
    if not radius > 0:
        raise ValueError(f"the lesion radius must be positive, got {radius}")
    reach = int(np.ceil(BLEND_REACH * radius)) + 1
    offsets = np.arange(-reach, reach + 1)
    d = np.hypot(offsets[:, None], offsets[None, :])
    mask = np.clip((BLEND_REACH * radius - d) / ((BLEND_REACH - 1.0) * radius), 0.0, 1.0)
    mask = 0.5 - 0.5 * np.cos(np.pi * mask)  # smooth at both ends
    sr, sc = (round(float(v)) for v in source_center)
    tr, tc = (round(float(v)) for v in target_center)
    patch = np.pad(source, reach, mode="edge")[sr: sr + 2 * reach + 1, sc: sc + 2 * reach + 1]
    excess = (patch - _ring_median(source, (sr, sc), radius)) * mask
    out = np.pad(target, reach, mode="constant")
    out[tr: tr + 2 * reach + 1, tc: tc + 2 * reach + 1] += excess
    out = out[reach: reach + target.shape[0], reach: reach + target.shape[1]]
    return np.clip(out, *value_range).astype(np.float32)


def lesion_sites(breast: np.ndarray, radius: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """``(m, 2)`` sites ``(row, col)``, ``m <= n``, drawn uniformly among the breast pixels at least
    ``BLEND_REACH * radius`` from the breast's edge (none when the breast is too small for the lesion).

    Example:
        >>> import numpy as np
        >>> breast = np.zeros((50, 50), bool); breast[5:45, 5:45] = True
        >>> sites = lesion_sites(breast, 4, 3, np.random.default_rng(0))
        >>> sites.shape, bool(((sites >= 11) & (sites <= 38)).all())
        ((3, 2), True)
    """
    depth = ndimage.distance_transform_edt(np.asarray(breast, dtype=bool))
    rows, cols = np.nonzero(depth >= BLEND_REACH * radius)
    if rows.size == 0 or n <= 0:
        return np.zeros((0, 2), np.int64)
    pick = rng.choice(rows.size, size=min(n, rows.size), replace=False)
    return np.stack([rows[pick], cols[pick]], axis=1).astype(np.int64)
