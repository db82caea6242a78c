"""Handcrafted film-level features for a normal/abnormal film classifier that needs few films to train.

The whole-film CNN of the image classification bundle learns nothing that carries to unseen mini-MIAS women
(``docs/results.md``). What radiologists read on a film without a visible mass — and what a gradient-boosting
model can learn from a hundred women — is measured here on the preprocessed film (the full-mammogram pipeline:
breast crop, chest wall left, ``[0, 1]``) and on the woman's other breast aligned the same way
(:class:`~mammo_monai.transforms.ContralateralChanneld`):

- **density and texture** of the breast: quantiles, spread, skewness, kurtosis of its pixels (:data:`DENSITY`);
- **bilateral asymmetry**: the same quantiles minus the other breast's, and how much brighter than the mirrored
  place of the other breast the film is, smoothed to tolerate the imperfect alignment (:data:`ASYMMETRY`);
- **calcification spots**: on a finer grid, a white top-hat (small bright details) over the breast, the number of
  spots far above the breast's top-hat spread (and 0.08 above their surroundings) and their densest cluster
  (:data:`CALCIFICATION`);
- **the best blob candidates** of the two-stage detector's stage 1 (:data:`CANDIDATE_SUMMARY`), passed in.

:func:`film_features` returns them in the order of :data:`FILM_FEATURE_NAMES`.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> film = rng.random((64, 64)).astype(np.float32) * 0.2; breast = np.ones((64, 64), bool)
    >>> other = film.copy(); film[20:30, 20:30] += 0.6
    >>> f = dict(zip(FILM_FEATURE_NAMES, film_features(film, breast, other, breast, film, breast)))
    >>> bool(f["brighter_than_partner_p99"] > 0.3), float(f["has_partner"])
    (True, 1.0)
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage, stats

__all__ = ["ASYMMETRY", "CALCIFICATION", "CANDIDATE_SUMMARY", "DENSITY", "FILM_FEATURE_NAMES", "film_features"]

_QUANTILES = (0.5, 0.75, 0.9, 0.95, 0.99)
DENSITY = ("q50", "q75", "q90", "q95", "q99", "std", "skew", "kurtosis", "breast_fraction")
ASYMMETRY = ("d_q50", "d_q75", "d_q90", "d_q95", "d_q99", "d_std", "d_breast_fraction", "abs_difference_mean",
             "brighter_than_partner_p95", "brighter_than_partner_p99", "brighter_than_partner_area", "has_partner")
CALCIFICATION = ("tophat_p99", "tophat_max", "spots", "spot_cluster_max")
#: the columns of :func:`summarise_candidates` (its input: stage-1 candidate features of one film)
CANDIDATE_SUMMARY = ("cand_response_max", "cand_response_top5", "cand_contrast_max", "cand_relative_max",
                     "cand_partner_difference_max", "cand_contrast_minus_partner_max")
FILM_FEATURE_NAMES = (*DENSITY, *ASYMMETRY, *CALCIFICATION)


def _density(image: np.ndarray, breast: np.ndarray) -> list[float]:
    pixels = image[breast] if breast.any() else image.ravel()
    return [*np.quantile(pixels, _QUANTILES).tolist(), float(pixels.std()), float(stats.skew(pixels)),
            float(stats.kurtosis(pixels)), float(breast.mean())]


def _asymmetry(image: np.ndarray, breast: np.ndarray, own: list[float], partner: np.ndarray | None,
               partner_breast: np.ndarray | None) -> list[float]:
    if partner is None or partner_breast is None or not partner_breast.any():
        return [0.0] * len(ASYMMETRY)
    other = _density(partner, partner_breast)
    both = breast & partner_breast
    if not both.any():
        both = breast
    difference = ndimage.gaussian_filter(image, 2.0) - ndimage.gaussian_filter(partner, 2.0)
    inside = difference[both]
    p95, p99 = np.quantile(inside, (0.95, 0.99))
    return [*(a - b for a, b in zip(own[:6], other[:6])), own[8] - other[8], float(np.abs(inside).mean()),
            float(p95), float(p99), float((inside > 0.15).mean()), 1.0]


def _calcification(fine: np.ndarray, fine_breast: np.ndarray) -> list[float]:
    if not fine_breast.any():
        return [0.0] * len(CALCIFICATION)
    tophat = ndimage.white_tophat(fine, footprint=np.ones((5, 5), bool))
    inside = tophat[fine_breast]
    spread = float(np.median(np.abs(inside - np.median(inside)))) * 1.4826 + 1e-6
    # far above the breast's own top-hat spread, and at least 0.08 brighter than the tissue around (smooth
    # tissue has almost no spread: the floor keeps noise from counting as spots)
    spots_mask = (tophat > max(float(np.median(inside)) + 8 * spread, 0.08)) & fine_breast
    _, n_spots = ndimage.label(spots_mask)
    window = max(3, fine.shape[0] // 32)
    cluster = ndimage.uniform_filter(spots_mask.astype(np.float32), window) * window * window
    return [float(np.quantile(inside, 0.99)), float(inside.max()), float(n_spots), float(cluster.max())]


def film_features(image: np.ndarray, breast: np.ndarray, partner: np.ndarray | None,
                  partner_breast: np.ndarray | None, fine: np.ndarray, fine_breast: np.ndarray) -> np.ndarray:
    """``(len(FILM_FEATURE_NAMES),)`` float32 features of one film.

    Args:
        image, breast: the preprocessed film ``(H, W)`` in ``[0, 1]`` and its breast mask.
        partner, partner_breast: the other breast aligned to ``image`` (same shape), or None (asymmetry features
            are then 0, ``has_partner`` 0).
        fine, fine_breast: the same film on a finer grid (e.g. 1024 px) for the calcification spots.
    """
    image = np.asarray(image, np.float32)
    breast = np.asarray(breast, bool)
    own = _density(image, breast)
    if partner is not None and np.shape(partner) != image.shape:
        raise ValueError(f"the other breast {np.shape(partner)} must have the image's shape {image.shape}")
    asymmetry = _asymmetry(image, breast, own, None if partner is None else np.asarray(partner, np.float32),
                           None if partner_breast is None else np.asarray(partner_breast, bool))
    calcification = _calcification(np.asarray(fine, np.float32), np.asarray(fine_breast, bool))
    values = [*own, *asymmetry, *calcification]
    assert len(values) == len(FILM_FEATURE_NAMES), "a feature without a name"
    return np.asarray(values, np.float32)


def summarise_candidates(features: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """``(len(CANDIDATE_SUMMARY),)``: the best of one film's stage-1 candidate features (``(n, len(names))``,
    ranked by response; zeros without candidates)."""
    if len(features) == 0:
        return np.zeros(len(CANDIDATE_SUMMARY), np.float32)
    col = {n: features[:, names.index(n)] for n in ("response", "contrast", "relative_brightness",
                                                    "inside_minus_partner", "contrast_minus_partner")}
    top = np.sort(col["response"])[::-1][:5]
    return np.asarray([col["response"].max(), top.mean(), col["contrast"].max(), col["relative_brightness"].max(),
                       col["inside_minus_partner"].max(), col["contrast_minus_partner"].max()], np.float32)
