"""Stage 1 of two-stage detection: mass-sized bright blobs on the breast, and stage-2 features of each one.

:func:`blob_candidates` is a classical, training-free candidate generator tuned for sensitivity: the
scale-normalised Laplacian of Gaussian (``-sigma^2 * LoG``: bright blobs give positive responses) at mass-sized
radii on a preprocessed mammogram (breast crop, chest wall left, ``[0, 1]``: the full-mammogram pipeline), each
scale as z-scores over the breast, their maximum over scales, and that map's local maxima inside the breast. On
the 40 positioned mini-MIAS masses at 256 px (about 0.8 mm per pixel) the defaults put a candidate inside 37 of
them with 50 candidates per film (without the per-scale z-scores: 17 of 40 with 30 candidates, the largest scale
winning on dense tissue). Each candidate has a centre, a radius (the
scale of its best response, ``sigma * sqrt(2)``) and a response. scikit-image's ``blob_log`` is not used: it
thresholds the response before the breast mask is applied and returns no response value to rank by.

:func:`candidate_features` describes each candidate for a second-stage classifier that removes false positives
(:mod:`mammo_monai.engines.two_stage_detection`): its response and size, the contrast of its disc against the
ring around it, texture, where it sits in the breast, and, when the other breast is given (aligned the same way:
:class:`~mammo_monai.transforms.ContralateralChanneld`), the same measures at the mirrored place of the other
breast and the differences: a mass is what one breast has and the other has not.

Example:
    >>> import numpy as np
    >>> image = np.zeros((64, 64), np.float32); breast = np.zeros((64, 64), bool); breast[4:60, :48] = True
    >>> image[breast] = 0.3; yy, xx = np.mgrid[:64, :64]; image[(yy - 30) ** 2 + (xx - 20) ** 2 < 36] = 0.9
    >>> cands = blob_candidates(image, breast, radii=(4, 6, 8))
    >>> [round(c) for c in cands[0][:2]], round(cands[0][2])
    ([30, 20], 6)
    >>> feats = candidate_features(image, breast, cands[:1])
    >>> feats.shape == (1, len(FEATURE_NAMES)), round(float(feats[0, FEATURE_NAMES.index("contrast")]), 2)
    (True, 0.58)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage
from skimage.feature import peak_local_max

__all__ = ["CONTRALATERAL_FEATURES", "FEATURE_NAMES", "blob_candidates", "candidate_features"]

_OWN = ("response", "radius", "scale_rank", "inside_mean", "ring_mean", "contrast", "inside_std", "ring_std",
        "edge_strength", "row_fraction", "col_fraction", "depth_in_breast", "breast_mean", "relative_brightness")
#: the features that need the other breast (zero when it is missing)
CONTRALATERAL_FEATURES = ("partner_inside_mean", "partner_contrast", "inside_minus_partner",
                          "contrast_minus_partner", "partner_response", "response_minus_partner")
#: the columns of :func:`candidate_features`
FEATURE_NAMES = (*_OWN, *CONTRALATERAL_FEATURES, "has_partner")


def _scale_space(image: np.ndarray, sigmas: Sequence[float]) -> np.ndarray:
    """``(n_scales, H, W)`` of ``-sigma^2 * LoG(image)`` (bright blobs positive)."""
    return np.stack([-(s ** 2) * ndimage.gaussian_laplace(image, s) for s in sigmas])


def blob_candidates(image: np.ndarray, breast: np.ndarray, radii: Sequence[float] = (4, 6, 9, 13, 19, 28),
                    max_candidates: int = 50, min_distance: int | None = None,
                    threshold: float = -np.inf) -> list[tuple[float, float, float, float]]:
    """Bright blobs of the given radii on the breast, best first.

    Args:
        image: ``(H, W)`` preprocessed mammogram (``[0, 1]``, background 0).
        breast: ``(H, W)`` boolean breast mask.
        radii: blob radii in pixels of ``image`` (the LoG's ``sigma = radius / sqrt(2)``).
        max_candidates: at most this many.
        min_distance: peaks closer than this (px) are suppressed; default the smallest radius.
        threshold: minimum response (z-score of its scale).

    Returns:
        ``[(row, col, radius, response), ...]`` sorted by response (highest first).

    Raises:
        ValueError: ``image`` and ``breast`` differ in shape, or ``image`` is not 2D.
    """
    image = np.asarray(image, dtype=np.float32)
    breast = np.asarray(breast, dtype=bool)
    if image.ndim != 2 or image.shape != breast.shape:
        raise ValueError(f"image {image.shape} and breast mask {breast.shape} must be the same 2D shape")
    sigmas = [r / np.sqrt(2.0) for r in radii]
    space = _scale_space(image, sigmas)
    if breast.sum() > 1:  # each scale as z-scores over the breast: large scales would otherwise win everywhere
        values = space[:, breast]
        space = (space - values.mean(axis=1)[:, None, None]) / (values.std(axis=1)[:, None, None] + 1e-6)
    best = space.max(axis=0)
    best[~breast] = -np.inf
    if not np.isfinite(best).any():
        return []
    floor = float(best[np.isfinite(best)].min())
    best = np.where(np.isfinite(best), best, floor)
    distance = int(min_distance if min_distance is not None else max(1, round(min(radii))))
    peaks = peak_local_max(best, min_distance=distance, threshold_abs=threshold, exclude_border=False,
                           labels=breast.astype(np.uint8), num_peaks=max_candidates)
    out = []
    for r, c in peaks:
        k = int(np.argmax(space[:, r, c]))
        out.append((float(r), float(c), float(radii[k]), float(best[r, c])))
    out.sort(key=lambda t: -t[3])
    return out[:max_candidates]


def _disc_ring_stats(image: np.ndarray, r: float, c: float, radius: float) -> tuple[float, float, float, float, float]:
    """Mean and std inside the disc and in the ring ``radius..2*radius``, and the mean gradient on the rim."""
    h, w = image.shape
    r0, r1 = max(0, int(r - 2 * radius) - 1), min(h, int(r + 2 * radius) + 2)
    c0, c1 = max(0, int(c - 2 * radius) - 1), min(w, int(c + 2 * radius) + 2)
    patch = image[r0:r1, c0:c1]
    yy, xx = np.mgrid[r0:r1, c0:c1]
    d = np.hypot(yy - r, xx - c)
    inside, ring = patch[d <= radius], patch[(d > radius) & (d <= 2 * radius)]
    rim = (d > 0.75 * radius) & (d <= 1.25 * radius)
    grad = np.hypot(*np.gradient(patch)) if min(patch.shape) > 1 else np.zeros_like(patch)

    def stat(x: np.ndarray, fn) -> float:
        return float(fn(x)) if x.size else 0.0

    return (stat(inside, np.mean), stat(ring, np.mean), stat(inside, np.std), stat(ring, np.std),
            stat(grad[rim], np.mean))


def candidate_features(image: np.ndarray, breast: np.ndarray, candidates: Sequence[Sequence[float]],
                       partner: np.ndarray | None = None, partner_breast: np.ndarray | None = None) -> np.ndarray:
    """``(n_candidates, len(FEATURE_NAMES))`` float32 features of :func:`blob_candidates`' output.

    Args:
        image, breast: as given to :func:`blob_candidates`.
        candidates: ``(row, col, radius, response)`` each.
        partner, partner_breast: the other breast, preprocessed and aligned like ``image`` (same shape), or None
            (its features are then 0 and ``has_partner`` is 0).
    """
    image = np.asarray(image, dtype=np.float32)
    breast = np.asarray(breast, dtype=bool)
    h, w = image.shape
    depth = ndimage.distance_transform_edt(breast)
    rows, cols = np.nonzero(breast)
    box = (rows.min(), rows.max() + 1, cols.min(), cols.max() + 1) if rows.size else (0, h, 0, w)
    breast_mean = float(image[breast].mean()) if breast.any() else 0.0
    has_partner = partner is not None
    if has_partner:
        partner = np.asarray(partner, dtype=np.float32)
        if partner.shape != image.shape:
            raise ValueError(f"the other breast {partner.shape} must have the image's shape {image.shape}")
        radii = sorted({float(c[2]) for c in candidates})
        partner_space = dict(zip(radii, _scale_space(partner, [r / np.sqrt(2.0) for r in radii]))) if radii else {}
    feats = np.zeros((len(candidates), len(FEATURE_NAMES)), np.float32)
    for i, (r, c, radius, response) in enumerate(candidates):
        inside, ring, inside_std, ring_std, edge = _disc_ring_stats(image, r, c, radius)
        ri, ci = round(min(max(r, 0), h - 1)), round(min(max(c, 0), w - 1))
        own = [response, radius, i, inside, ring, inside - ring, inside_std, ring_std, edge,
               (r - box[0]) / max(1, box[1] - box[0]), (c - box[2]) / max(1, box[3] - box[2]),
               float(depth[ri, ci]) / max(radius, 1.0), breast_mean, inside - breast_mean]
        other = [0.0] * len(CONTRALATERAL_FEATURES)
        if has_partner:
            p_inside, p_ring, *_ = _disc_ring_stats(partner, r, c, radius)
            p_response = float(partner_space[float(radius)][ri, ci])
            other = [p_inside, p_inside - p_ring, inside - p_inside, (inside - ring) - (p_inside - p_ring),
                     p_response, response - p_response]
        feats[i] = [*own, *other, float(has_partner)]
    return feats
