"""Percentile bootstrap confidence intervals that resample *patients* (clusters), not images.

Images of one patient are correlated (two views, two breasts, repeated studies), so resampling images
as if independent gives confidence intervals that are too narrow. Here every draw samples the
``n_groups`` groups (patients) with replacement and takes *all* items of each drawn group, as many
times as the group was drawn (the cluster bootstrap).

Three levels, from the most generic to the most convenient:

- :func:`group_resample_counts`: the draws themselves, a ``(n_resamples, n_groups)`` matrix of how
  often each group was drawn; the same ``seed`` gives the same draws, so several metrics (or two models
  compared pairwise) can share them.
- :func:`bootstrap_by_group`: any statistic ``fn(indices) -> float`` of a resample given as item
  indices (repeated items appear repeatedly). This is what AUC (classification) or FROC (detection)
  evaluators use: ``fn`` picks ``y_true[indices]``, ``y_score[indices]`` and computes the metric.
- :func:`bootstrap_ci`: a statistic of per-item values (mean, median or a callable on the values),
  with vectorised fast paths for the mean and the median.

:class:`SharedResamples` computes a dict of statistics once per distinct resample, so that one
:func:`bootstrap_by_group` call per statistic (same seed, same draws) costs one computation per draw.

NaN handling (explicit, never silent):

- :func:`bootstrap_ci` with ``nan_policy="omit"`` (default) drops NaN values before anything else;
  ``n`` counts the values used, ``n_nan`` the ones dropped, and a group whose values are all NaN is not
  drawn at all (``n_groups`` counts the groups left). ``"propagate"`` returns NaN estimate and bounds
  when any value is NaN; ``"raise"`` raises ``ValueError``.
- :func:`bootstrap_by_group`: a resample for which ``fn`` returns NaN or inf (for example an AUC on a
  resample that holds only one class) is left out of the percentiles and counted in ``n_invalid``.
- With no data (``n == 0``) or no valid resample the estimate and/or bounds are NaN.

Example:
    >>> values = [0.9, 0.8, 0.85, 0.2, 0.3]          # per-image Dice
    >>> patients = ["a", "a", "a", "b", "c"]          # patient "a" has three images
    >>> ci = bootstrap_ci(values, patients, n_resamples=500, seed=0)
    >>> round(ci["estimate"], 3), ci["n"], ci["n_groups"], ci["low"] <= ci["estimate"] <= ci["high"]
    (0.61, 5, 3, True)
    >>> # any statistic of a resample, given as item indices (AUC, FROC, a paired difference, ...)
    >>> y = np.array([0, 1, 1, 0, 1]); s = np.array([0.1, 0.7, 0.9, 0.4, 0.3])
    >>> acc = bootstrap_by_group(lambda idx: float(np.mean((s[idx] > 0.5) == y[idx])), patients, seed=0)
    >>> acc["estimate"], acc["n_groups"]
    (0.8, 3)
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import Any

import numpy as np

__all__ = [
    "CONFIDENCE",
    "SharedResamples",
    "bootstrap_by_group",
    "bootstrap_ci",
    "factorize_groups",
    "group_resample_counts",
    "iter_group_resamples",
]

#: resamples drawn per block: bounds memory to about ``_BLOCK * n_groups`` integers (and, for the median
#: fast path, ``_BLOCK * n_items`` floats) whatever ``n_resamples`` is.
_BLOCK = 256
_NAN_POLICIES = ("omit", "propagate", "raise")
#: the confidence level of the evaluators' intervals (the reports' ``settings.confidence``)
CONFIDENCE = 0.95


def factorize_groups(groups: Sequence[Hashable] | np.ndarray) -> tuple[np.ndarray, list[Hashable]]:
    """Group labels -> ``(codes, uniques)``: ``codes[i]`` is the index in ``uniques`` of item ``i``'s group,
    ``uniques`` in order of first appearance (any hashable labels: strings, ints, tuples, ``None``).

    Example:
        >>> codes, uniques = factorize_groups(["p2", "p1", "p2"])
        >>> codes.tolist(), uniques
        ([0, 1, 0], ['p2', 'p1'])
    """
    index: dict[Hashable, int] = {}
    codes = np.empty(len(groups), dtype=np.int64)
    for i, g in enumerate(groups.tolist() if isinstance(groups, np.ndarray) else groups):
        codes[i] = index.setdefault(g, len(index))
    return codes, list(index)


def _check(n_resamples: int, confidence: float) -> None:
    if int(n_resamples) < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    if not 0.0 < float(confidence) < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")


def _count_blocks(n_groups: int, n_resamples: int, seed: int | np.random.Generator | None) -> Iterator[np.ndarray]:
    """Yield ``(block, n_groups)`` count matrices, ``n_resamples`` rows in all, from one generator."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    done = 0
    while done < n_resamples:
        rows = min(_BLOCK, n_resamples - done)
        if n_groups == 0:
            yield np.zeros((rows, 0), dtype=np.int64)
        else:
            draws = rng.integers(0, n_groups, size=(rows, n_groups))
            flat = (draws + (np.arange(rows)[:, None] * n_groups)).ravel()
            yield np.bincount(flat, minlength=rows * n_groups).reshape(rows, n_groups)
        done += rows


def group_resample_counts(n_groups: int, n_resamples: int = 2000, seed: int | None = 0) -> np.ndarray:
    """How often each of ``n_groups`` groups is drawn in each of ``n_resamples`` bootstrap draws.

    Each row sums to ``n_groups`` (a draw has as many groups as the data). Deterministic for a given
    ``seed`` (``None``: fresh randomness).

    Example:
        >>> counts = group_resample_counts(3, n_resamples=4, seed=0)
        >>> counts.shape, counts.sum(axis=1).tolist()
        ((4, 3), [3, 3, 3, 3])
    """
    _check(n_resamples, 0.5)
    return np.concatenate(list(_count_blocks(int(n_groups), int(n_resamples), seed)), axis=0)


def iter_group_resamples(
    groups: Sequence[Hashable] | np.ndarray, n_resamples: int = 2000, seed: int | None = 0
) -> Iterator[np.ndarray]:
    """Yield, for each bootstrap draw, the item indices of the drawn groups (in item order, each item
    repeated as many times as its group was drawn). The draws are those of :func:`group_resample_counts`
    with the same seed.

    Example:
        >>> [idx.tolist() for idx in iter_group_resamples(["a", "a", "b"], n_resamples=2, seed=1)]
        [[0, 1, 2], [2, 2]]
    """
    _check(n_resamples, 0.5)
    codes, uniques = factorize_groups(groups)
    items = np.arange(len(codes))
    for block in _count_blocks(len(uniques), int(n_resamples), seed):
        for row in block:
            yield np.repeat(items, row[codes])


def _interval(stats: np.ndarray, confidence: float) -> tuple[float, float]:
    if stats.size == 0:
        return float("nan"), float("nan")
    alpha = 1.0 - confidence
    low, high = np.percentile(stats, [100.0 * alpha / 2.0, 100.0 * (1.0 - alpha / 2.0)])
    return float(low), float(high)


def bootstrap_by_group(
    fn: Callable[[np.ndarray], float],
    groups: Sequence[Hashable] | np.ndarray,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int | None = 0,
) -> dict[str, Any]:
    """Percentile bootstrap CI of ``fn(indices)``, resampling the groups (patients) of the items.

    Args:
        fn: the statistic of a resample, called with an ``int`` index array into the items (the point
            estimate is ``fn(np.arange(n_items))``). It must not keep the array.
        groups: the group (patient id) of each item; ``range(n_items)`` for independent items.
        n_resamples: bootstrap draws.
        confidence: the interval's coverage (0.95: the 2.5th and 97.5th percentiles).
        seed: seed of :func:`numpy.random.default_rng`; the same seed gives the same draws.

    Returns:
        ``{"estimate", "low", "high", "confidence", "n", "n_groups", "n_resamples", "n_invalid"}``:
        ``n`` items, ``n_invalid`` draws whose ``fn`` value was NaN/inf and were left out of the
        percentiles (see the module docstring).

    Example:
        >>> auc_like = lambda idx: float(np.mean(idx % 2))
        >>> r = bootstrap_by_group(auc_like, ["p1", "p1", "p2", "p3"], n_resamples=200)
        >>> r["n"], r["n_groups"], r["n_resamples"]
        (4, 3, 200)
    """
    _check(n_resamples, confidence)
    codes, uniques = factorize_groups(groups)
    n = len(codes)
    estimate = float(fn(np.arange(n))) if n else float("nan")
    stats = np.array([float(fn(idx)) for idx in iter_group_resamples(groups, n_resamples, seed)]) if n else np.array([])
    valid = stats[np.isfinite(stats)]
    low, high = _interval(valid, confidence)
    return {
        "estimate": estimate,
        "low": low,
        "high": high,
        "confidence": float(confidence),
        "n": n,
        "n_groups": len(uniques),
        "n_resamples": int(n_resamples),
        "n_invalid": int(stats.size - valid.size) if n else int(n_resamples),
    }


class SharedResamples:
    """``fn(indices)`` computed once per distinct resample and shared by every metric's
    :func:`bootstrap_by_group` call: the same seed gives the same draws, so each metric's CI is read from
    the same resamples and the expensive work (ROC curves) is done once per draw.

    Args:
        fn: every statistic of a resample at once, ``indices -> {name: value}`` (the indices as
            :func:`bootstrap_by_group` passes them).

    Attributes:
        fn: the wrapped function.
        cache: ``{digest of the indices: fn(indices)}``, one entry per distinct resample seen.

    Example:
        >>> shared = SharedResamples(lambda idx: {"mean": float(np.mean(idx)), "max": float(np.max(idx))})
        >>> groups = ["a", "a", "b", "c"]
        >>> cis = {k: bootstrap_by_group(lambda idx, k=k: shared(idx)[k], groups, n_resamples=50, seed=0)
        ...        for k in ("mean", "max")}
        >>> len(shared.cache) <= 51  # the point estimate and the 50 draws, not twice that
        True
    """

    def __init__(self, fn: Callable[[np.ndarray], dict[str, float]]) -> None:
        self.fn = fn
        self.cache: dict[bytes, dict[str, float]] = {}

    def __call__(self, idx: np.ndarray) -> dict[str, float]:
        key = hashlib.blake2b(np.ascontiguousarray(idx, dtype=np.int64).tobytes(), digest_size=16).digest()
        if key not in self.cache:
            self.cache[key] = self.fn(idx)
        return self.cache[key]


def _weighted_medians(sorted_values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Row-wise median of ``sorted_values`` each repeated ``weights[r, i]`` times (numpy's median: the mean
    of the two middle values for an even total)."""
    cum = np.cumsum(weights, axis=1)
    total = cum[:, -1]
    k_low = (total + 1) // 2  # 1-based ranks of the two middle elements
    k_high = total // 2 + 1
    i_low = (cum >= k_low[:, None]).argmax(axis=1)
    i_high = (cum >= k_high[:, None]).argmax(axis=1)
    return 0.5 * (sorted_values[i_low] + sorted_values[i_high])


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    groups: Sequence[Hashable] | np.ndarray | None = None,
    statistic: str | Callable[[np.ndarray], float] = "mean",
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int | None = 0,
    nan_policy: str = "omit",
) -> dict[str, Any]:
    """Percentile bootstrap CI of a statistic of per-item ``values``, resampling ``groups`` (patients).

    Args:
        values: one number per item (image), e.g. its Dice.
        groups: the patient of each item; ``None``: each item is its own group (plain bootstrap).
        statistic: ``"mean"`` or ``"median"`` (vectorised; ``np.mean``/``np.median`` are recognised as
            these), or a callable on the resampled values array returning a float.
        n_resamples, confidence, seed: as in :func:`bootstrap_by_group`.
        nan_policy: ``"omit"`` (drop NaN values, count them in ``n_nan``), ``"propagate"`` (any NaN makes
            the result NaN) or ``"raise"``.

    Returns:
        ``{"estimate", "low", "high", "confidence", "n", "n_nan", "n_groups", "n_resamples", "n_invalid"}``.

    Example:
        >>> r = bootstrap_ci([1.0, float("nan"), 3.0], ["a", "b", "c"], statistic="median", n_resamples=100)
        >>> r["estimate"], r["n"], r["n_nan"], r["n_groups"]
        (2.0, 2, 1, 2)
    """
    _check(n_resamples, confidence)
    if nan_policy not in _NAN_POLICIES:
        raise ValueError(f"nan_policy must be one of {_NAN_POLICIES}, got {nan_policy!r}")
    values = np.asarray(values, dtype=float).ravel()
    groups_arr = np.arange(values.size) if groups is None else groups
    if len(groups_arr) != values.size:
        raise ValueError(f"values and groups differ in length: {values.size} != {len(groups_arr)}")
    nan = np.isnan(values)
    n_nan = int(nan.sum())
    if n_nan and nan_policy == "raise":
        raise ValueError(f"{n_nan} of {values.size} values are NaN (nan_policy='raise')")
    if statistic is np.mean or statistic is np.nanmean:
        statistic = "mean"
    elif statistic is np.median or statistic is np.nanmedian:
        statistic = "median"
    if isinstance(statistic, str) and statistic not in ("mean", "median"):
        raise ValueError(f"statistic must be 'mean', 'median' or a callable, got {statistic!r}")

    keep = ~nan
    codes, uniques = factorize_groups([g for g, k in zip(groups_arr, keep) if k])
    values = values[keep]
    n, n_groups = values.size, len(uniques)
    result: dict[str, Any] = {
        "estimate": float("nan"),
        "low": float("nan"),
        "high": float("nan"),
        "confidence": float(confidence),
        "n": n,
        "n_nan": n_nan,
        "n_groups": n_groups,
        "n_resamples": int(n_resamples),
        "n_invalid": int(n_resamples),
    }
    if n == 0 or (n_nan and nan_policy == "propagate"):
        return result

    if callable(statistic):
        fn = statistic
        boot = bootstrap_by_group(lambda idx: fn(values[idx]), codes, n_resamples, confidence, seed)
        result.update({k: boot[k] for k in ("estimate", "low", "high", "n_invalid")})
        return result

    stats = []
    if statistic == "mean":
        result["estimate"] = float(values.mean())
        sums = np.bincount(codes, weights=values, minlength=n_groups)
        sizes = np.bincount(codes, minlength=n_groups).astype(float)
        for counts in _count_blocks(n_groups, int(n_resamples), seed):
            stats.append((counts @ sums) / (counts @ sizes))
    else:
        result["estimate"] = float(np.median(values))
        order = np.argsort(values, kind="stable")
        sorted_values, sorted_codes = values[order], codes[order]
        for counts in _count_blocks(n_groups, int(n_resamples), seed):
            stats.append(_weighted_medians(sorted_values, counts[:, sorted_codes]))
    stats_arr = np.concatenate(stats)
    valid = stats_arr[np.isfinite(stats_arr)]
    result["low"], result["high"] = _interval(valid, confidence)
    result["n_invalid"] = int(stats_arr.size - valid.size)
    return result
