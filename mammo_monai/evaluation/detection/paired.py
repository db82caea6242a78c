"""Paired comparison of two detection reports on the same images: the CPM difference with a CI by woman.

Two arms of an ablation scored on the same films share their women, so their CPMs are correlated: the overlap of
two separate CIs says little about whether one arm beats the other. :func:`paired_cpm_difference` resamples the
women once per draw and computes both arms' CPM on that same resample (:func:`~.froc.froc_metrics` on the FP
scores of the drawn films and the scores of their target lesions), so the CI of the difference is the one that
says whether a gain is larger than the noise of a few dozen lesions.

It reads what ``mammo-monai eval detection`` writes (``detection_per_image.csv``: each evaluated film's woman and
FP scores; ``detection_per_lesion.csv``: each target lesion's best hit score, empty when missed), so any two
reports of the same datalist can be compared.

Example:
    >>> d = paired_cpm_difference("outputs/cv/two_stage/stage2/report",
    ...                           "outputs/cv/two_stage/stage2_contralateral/report")  # doctest: +SKIP
    >>> d["estimate"], d["low"], d["high"]  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..bootstrap import bootstrap_by_group
from .froc import FP_RATES, froc_metrics

__all__ = ["paired_cpm_difference", "read_froc_inputs"]


def read_froc_inputs(report_dir: str | os.PathLike) -> dict[str, tuple[str, list[float], list[float]]]:
    """``{image: (woman, fp_scores, target_lesion_scores)}`` of one detection report (evaluated films only; a missed
    lesion's score is NaN).

    Raises:
        FileNotFoundError: the report folder lacks ``detection_per_image.csv`` or ``detection_per_lesion.csv``.
    """
    root = Path(report_dir)
    films: dict[str, tuple[str, list[float], list[float]]] = {}
    with open(root / "detection_per_image.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row["status"] == "ok":
                fps = [float(s) for s in row["fp_scores"].split(";") if s]
                films[row["image"]] = (row["patient_id"], fps, [])
    with open(root / "detection_per_lesion.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row["role"] == "target" and row["image"] in films:
                films[row["image"]][2].append(float(row["score"]) if row["score"] not in ("", "nan") else math.nan)
    return films


def paired_cpm_difference(report_a: str | os.PathLike, report_b: str | os.PathLike, n_resamples: int = 2000,
                          seed: int = 0, fp_rates: Sequence[float] = FP_RATES) -> dict[str, Any]:
    """CPM of ``report_b`` minus CPM of ``report_a``, with a percentile bootstrap CI resampling women (both arms on
    the same draws).

    Returns:
        :func:`~mammo_monai.evaluation.bootstrap.bootstrap_by_group`'s dict (``estimate``, ``low``, ``high``, ...)
        plus ``cpm_a`` and ``cpm_b`` (the point estimates).

    Raises:
        ValueError: the reports did not evaluate the same films, or hold no target lesion.
    """
    a, b = read_froc_inputs(report_a), read_froc_inputs(report_b)
    if set(a) != set(b):
        raise ValueError(f"{report_a} and {report_b} evaluated different films "
                         f"({len(set(a) ^ set(b))} differ); a paired comparison needs the same films")
    images = sorted(a)
    if not any(a[i][2] for i in images):
        raise ValueError(f"{report_a}: no target lesion among the evaluated films")
    women = [a[i][0] for i in images]

    def cpm(films: dict[str, tuple[str, list[float], list[float]]], idx: np.ndarray) -> float:
        picked = [films[images[i]] for i in idx]
        fps = [s for _, f, _ in picked for s in f]
        lesions = [s for _, _, les in picked for s in les]
        if not lesions:
            return math.nan
        return float(froc_metrics(fps, lesions, len(idx), fp_rates)["cpm"])

    result = bootstrap_by_group(lambda idx: cpm(b, idx) - cpm(a, idx), women, n_resamples=n_resamples, seed=seed)
    everything = np.arange(len(images))
    return {**result, "cpm_a": cpm(a, everything), "cpm_b": cpm(b, everything)}
