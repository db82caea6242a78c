"""Normal vs abnormal films from handcrafted film features and gradient boosting, cross-validated by woman.

Each film is described by :func:`mammo_monai.inference.film_features.film_features` (density and texture,
asymmetry against the woman's other breast, calcification spots on a finer grid) and, optionally, a summary of
the two-stage detector's stage-1 candidates (:func:`~mammo_monai.inference.film_features.summarise_candidates`,
read from the candidate cache of ``mammo-monai two_stage_cv``). For each fold (the same folds as ``mammo-monai
cv``: :func:`mammo_monai.data.folds.cv_fold_datalists`, same seed) a ``HistGradientBoostingClassifier`` is
trained on the fold's training women, its operating threshold chosen on its validation women (Youden's J) and its
test women scored; the pooled out-of-fold AUC, the sensitivity / specificity at the fold thresholds, and the AUC of
each lesion type against normal films come with bootstrap CIs by woman. :data:`ARMS` is the ablation: the film
alone, with the other breast, and with the candidates.

Example:
    >>> report = cross_validate_film_classifier("work/mias.json", "outputs/film_classifier")  # doctest: +SKIP
    >>> report["arms"]["film_partner_candidates"]["auc"]  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from mammo_monai.data.folds import cv_fold_datalists
from mammo_monai.data.schema import IMAGE, LESIONS, PATIENT_ID
from mammo_monai.engines.datalist_items import all_items
from mammo_monai.engines.two_stage_detection import cached_film_candidates, preprocessed_film
from mammo_monai.evaluation.bootstrap import bootstrap_by_group
from mammo_monai.evaluation.cross_validation import (
    fold_thresholds,
    format_interval,
    pooled_operating_point,
    shipped_threshold,
)
from mammo_monai.inference.blob_candidates import FEATURE_NAMES
from mammo_monai.inference.film_features import (
    ASYMMETRY,
    CANDIDATE_SUMMARY,
    FILM_FEATURE_NAMES,
    film_features,
    summarise_candidates,
)
from mammo_monai.io.writers import atomic_write_file, atomic_write_text, ensure_outside_inputs, write_json
from mammo_monai.transforms import full_mammogram_transforms
from mammo_monai.transforms.utils import BREAST_MASK_KEY

__all__ = ["ARMS", "cross_validate_film_classifier", "film_feature_vector", "format_film_classifier_markdown"]

#: the ablation arms: (name, uses the other breast, uses the stage-1 candidate summary)
ARMS = (("film", False, False), ("film_partner", True, False), ("film_partner_candidates", True, True))


def film_feature_vector(item: Mapping[str, Any], spatial_size: int = 256, fine_size: int = 1024) -> np.ndarray:
    """:func:`~mammo_monai.inference.film_features.film_features` of one datalist item (its
    ``contralateral_image`` as the other breast when it has one)."""
    image, breast, partner, partner_breast = preprocessed_film(item, spatial_size)
    fine = full_mammogram_transforms(spatial_size=fine_size, label_key=None)(
        {k: v for k, v in item.items() if k != "label"})
    return film_features(image[0].numpy(), breast, partner, partner_breast, fine[IMAGE][0].numpy(),
                         np.asarray(fine[BREAST_MASK_KEY])[0] > 0)


def _cached_vector(item: Mapping[str, Any], cache: Path, spatial_size: int, fine_size: int) -> np.ndarray:
    path = cache / f"{Path(str(item[IMAGE])).stem}_film_{spatial_size}_{fine_size}.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as z:
            if str(z["image"]) == str(item[IMAGE]) and tuple(str(n) for n in z["names"]) == FILM_FEATURE_NAMES:
                return z["features"]
    vector = film_feature_vector(item, spatial_size, fine_size)
    atomic_write_file(path, lambda f: np.savez(f, image=str(item[IMAGE]), features=vector,
                                               names=np.array(FILM_FEATURE_NAMES)), fsync=False)
    return vector


def _fit_predict(x_train: np.ndarray, y_train: np.ndarray, x_score: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.ensemble import HistGradientBoostingClassifier

    if np.unique(y_train).size < 2:
        raise ValueError(f"the training films hold one class only ({int(y_train.sum())} abnormal of {y_train.size})")
    model = HistGradientBoostingClassifier(max_depth=3, max_iter=100, learning_rate=0.05, min_samples_leaf=8,
                                           l2_regularization=1.0, class_weight="balanced", random_state=seed)
    with threadpool_limits(1):
        return model.fit(x_train, y_train).predict_proba(x_score)[:, 1]


def _auc_with_ci(y: np.ndarray, s: np.ndarray, women: np.ndarray, n_resamples: int, seed: int) -> dict[str, Any]:
    from sklearn.metrics import roc_auc_score

    def auc(idx: np.ndarray) -> float:
        return float(roc_auc_score(y[idx], s[idx])) if np.unique(y[idx]).size == 2 else float("nan")

    b = bootstrap_by_group(auc, women, n_resamples=n_resamples, seed=seed)
    return {"estimate": b["estimate"], "low": b["low"], "high": b["high"], "n": int(y.size), "n_positive": int(y.sum())}


def cross_validate_film_classifier(datalist: str | Path, out: str | Path, n_folds: int = 5, seed: int = 0,
                                   val_fraction: float = 0.2, candidates_cache: str | Path | None = None,
                                   spatial_size: int = 256, fine_size: int = 1024,
                                   n_resamples: int = 2000) -> dict[str, Any]:
    """The ablation of :data:`ARMS` on every item of ``datalist``, by woman; writes ``OUT/film_classifier_report.
    {json,md}``.

    Args:
        candidates_cache: the stage-1 candidate cache of ``mammo-monai two_stage_cv`` (default ``OUT/candidates``,
            computed where missing) for the candidate arm.

    Raises:
        ValueError: too few women for the folds, or a fold whose training women hold one class only.
    """
    datalist_path = Path(datalist).resolve()
    ensure_outside_inputs(out, datalist_path)
    out_dir = Path(out).resolve()
    start = time.perf_counter()
    items = all_items(datalist_path)
    folds = cv_fold_datalists(items, n_folds=n_folds, val_fraction=val_fraction, seed=seed)
    row = {str(item[IMAGE]): i for i, item in enumerate(items)}
    film = np.stack([_cached_vector(item, out_dir / "film_features", spatial_size, fine_size) for item in items])
    cache = Path(candidates_cache) if candidates_cache else out_dir / "candidates"
    candidates = np.stack([summarise_candidates(cached_film_candidates(item, spatial_size, cache).features,
                                                FEATURE_NAMES) for item in items])
    extract_s = time.perf_counter() - start
    y = np.array([int(bool(item.get(LESIONS))) for item in items])
    women = np.array([str(item.get(PATIENT_ID)) for item in items])
    partner_columns = [FILM_FEATURE_NAMES.index(n) for n in ASYMMETRY]
    own_columns = [i for i in range(len(FILM_FEATURE_NAMES)) if i not in partner_columns]
    arms: dict[str, Any] = {}
    for name, partner, with_candidates in ARMS:
        x = film if partner else film[:, own_columns]
        x = np.concatenate([x, candidates], axis=1) if with_candidates else x
        scores = np.full(len(items), np.nan)
        fold_of = np.full(len(items), -1)
        validation = []
        for k, fold in enumerate(folds):
            train = [row[str(i[IMAGE])] for i in fold["training"]]
            val = [row[str(i[IMAGE])] for i in fold["validation"]]
            test = [row[str(i[IMAGE])] for i in fold["test"]]
            try:
                predicted = _fit_predict(x[train], y[train], x[val + test], seed)
            except ValueError as e:
                raise ValueError(f"fold {k}: {e}") from e
            validation.append((y[val].tolist(), predicted[:len(val)].tolist()))
            scores[test], fold_of[test] = predicted[len(val):], k
        thresholds = [t for t, _ in fold_thresholds(validation)]
        by_type = {}
        normal = y == 0
        for lesion_type in sorted({les["type"] for item in items for les in item.get(LESIONS) or []}):
            has = np.array([any(les["type"] == lesion_type for les in item.get(LESIONS) or []) for item in items])
            keep = has | normal
            by_type[lesion_type] = _auc_with_ci(has[keep].astype(int), scores[keep], women[keep], n_resamples, seed)
        arms[name] = {"auc": _auc_with_ci(y, scores, women, n_resamples, seed),
                      "operating_point": pooled_operating_point(y, scores, fold_of, thresholds, women,
                                                                n_resamples=n_resamples, seed=seed),
                      "fold_thresholds": thresholds, "shipped_threshold": shipped_threshold(thresholds),
                      "auc_by_lesion_type_vs_normal": by_type}
    summary = {"datalist": str(datalist_path), "n_folds": n_folds, "seed": seed, "n_films": len(items),
               "n_women": len(set(women)), "n_abnormal": int(y.sum()), "features": list(FILM_FEATURE_NAMES),
               "candidate_features": list(CANDIDATE_SUMMARY), "extract_seconds": extract_s,
               "wall_seconds": time.perf_counter() - start, "arms": arms,
               "command": f"mammo-monai film_classifier_cv --datalist {datalist} --out {out} --folds {n_folds} "
                          f"--seed {seed}" + (f" --candidates_cache {candidates_cache}" if candidates_cache else "")}
    write_json(summary, out_dir / "film_classifier_report.json")
    atomic_write_text(out_dir / "film_classifier_report.md", format_film_classifier_markdown(summary))
    return summary


def format_film_classifier_markdown(summary: Mapping[str, Any]) -> str:
    """The ablation table of :func:`cross_validate_film_classifier` as markdown."""
    types = sorted({t for arm in summary["arms"].values() for t in arm["auc_by_lesion_type_vs_normal"]})
    lines = [f"# Normal vs abnormal films, film features + gradient boosting, {summary['n_folds']}-fold CV by woman",
             "", f"{summary['n_films']} films of {summary['n_women']} women ({summary['n_abnormal']} abnormal). Pooled "
             "out-of-fold, 95% CIs by woman; thresholds chosen on each fold's validation women.", "", "```bash",
             str(summary["command"]), "```", "",
             "| arm | AUC | sensitivity | specificity | " + " | ".join(f"AUC {t} vs normal" for t in types) + " |",
             "|---" * (4 + len(types)) + "|"]
    for name, arm in summary["arms"].items():
        op = arm["operating_point"]
        cells = [format_interval(arm["auc"]), format_interval(op.get("sensitivity")),
                 format_interval(op.get("specificity")),
                 *(format_interval(arm["auc_by_lesion_type_vs_normal"].get(t)) for t in types)]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append(f"\nFeature extraction: {summary['extract_seconds']:.0f} s; all arms: "
                 f"{summary['wall_seconds']:.0f} s.")
    return "\n".join(lines) + "\n"
