"""Two-stage mass detection, cross-validated by woman: blob candidates, then a false-positive classifier.

Stage 1 (:func:`mammo_monai.inference.blob_candidates.blob_candidates`) finds mass-sized bright blobs on each
preprocessed film (the full-mammogram pipeline: breast crop, chest wall left, ``[0, 1]``) at high sensitivity,
ranked by their blob response. Stage 2 is a scikit-learn gradient-boosting classifier
(``HistGradientBoostingClassifier``) over each candidate's features
(:func:`~mammo_monai.inference.blob_candidates.candidate_features`: contrast to its surroundings, size, texture,
place in the breast and, with ``contralateral``, the same at the mirrored place of the woman's other breast),
trained on the candidates of a fold's training and validation women (a candidate is positive when its centre
lies within a target lesion's radius of the lesion's centre, or inside its box) and scoring the fold's test
women. Both stages' candidates are written per film in the detection JSON format, in the original image's
pixels, and scored by ``mammo-monai eval detection`` (FROC, CPM, sensitivity at 1 FP/image, CIs by woman) on the
same folds as ``mammo-monai cv`` (:func:`mammo_monai.data.folds.cv_fold_datalists` with the same seed).

:func:`cross_validate_two_stage` runs the ablation in one go: stage 1 alone, stage 2 without the other breast,
stage 2 with it (same folds, same candidates), and writes ``OUT/two_stage_report.{json,md}``. Each film is also
scored by its best candidate (:func:`film_level_aucs`): the image-level AUC a detector gives for free.

Example:
    >>> report = cross_validate_two_stage("work/mias.json", "outputs/two_stage")  # doctest: +SKIP
    >>> report["arms"]["stage2_contralateral"]["cpm"]  # doctest: +SKIP
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from mammo_monai.data.folds import cv_fold_datalists, fold_of_patient, out_of_fold_datalist
from mammo_monai.data.schema import IMAGE, LESIONS, PATIENT_ID
from mammo_monai.engines.datalist_items import all_items
from mammo_monai.evaluation import evaluate_detection
from mammo_monai.evaluation.cross_validation import format_interval
from mammo_monai.evaluation.detection.paired import paired_cpm_difference
from mammo_monai.inference.blob_candidates import (
    CONTRALATERAL_FEATURES,
    FEATURE_NAMES,
    blob_candidates,
    candidate_features,
)
from mammo_monai.inference.crop_embedding import candidate_crops
from mammo_monai.inference.detection import grid_to_original
from mammo_monai.io.writers import atomic_write_file, atomic_write_text, ensure_outside_inputs, write_json
from mammo_monai.transforms import ContralateralChanneld, full_mammogram_transforms
from mammo_monai.transforms.lesion_blend import blend_lesion, lesion_sites
from mammo_monai.transforms.utils import BREAST_MASK_KEY

__all__ = [
    "ARMS",
    "BLEND_ARM",
    "EMBEDDING_ARMS",
    "FilmCandidates",
    "blended_positives",
    "candidate_hits",
    "crop_embedding_features",
    "cross_validate_two_stage",
    "film_candidates",
    "film_crops",
    "film_level_aucs",
    "fold_gate_scores",
    "format_two_stage_markdown",
    "train_stage2",
]

#: the ablation arms: (name, uses stage 2, uses the other breast's features)
ARMS = (("stage1", False, False), ("stage2", True, False), ("stage2_contralateral", True, True))
#: the arms added by ``crop_embedding``: stage 2 with the other breast plus CNN features of two-scale crops, from
#: the crop autoencoder pretrained on every film's unlabelled crops, and from the same network untrained (control)
EMBEDDING_ARMS = (("stage2_crop_embedding", "pretrained"), ("stage2_crop_embedding_untrained", "untrained"))
#: the arm added by ``blend_lesions``: stage 2 with the other breast, its training candidates joined by the positive
#: candidates of each training woman's masses blended into normal films of other training women
BLEND_ARM = "stage2_contralateral_blended"
#: each arm's parent in the ablation: the arm it adds one thing to (the paired CPM difference is taken against it)
PARENT_ARM = {"stage2": "stage1", "stage2_contralateral": "stage2", "stage2_crop_embedding": "stage2_contralateral",
              "stage2_crop_embedding_untrained": "stage2_contralateral", BLEND_ARM: "stage2_contralateral"}
#: principal components of the crop embedding given to stage 2
EMBEDDING_COMPONENTS = 8


class FilmCandidates:
    """One film's stage-1 candidates: features on the preprocessed grid, centres and radii in original pixels.

    Attributes:
        image: the datalist's ``image``.
        patient: the woman.
        centers: ``(n, 2)`` candidate centres ``[row, col]`` in the original image's pixels.
        radii: ``(n,)`` candidate radii in original pixels.
        features: ``(n, len(FEATURE_NAMES))``.
        image_shape: the original ``[rows, cols]``.
    """

    def __init__(self, image: str, patient: str, centers: np.ndarray, radii: np.ndarray, features: np.ndarray,
                 image_shape: Sequence[int]) -> None:
        self.image, self.patient = image, patient
        self.centers, self.radii, self.features = centers, radii, features
        self.image_shape = [int(s) for s in image_shape]


def preprocessed_film(item: Mapping[str, Any], spatial_size: int = 256
                      ) -> tuple[Any, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """One datalist item through the full-mammogram pipeline, with its ``contralateral_image`` aligned the same way.

    Returns:
        the preprocessed film ``(1, S, S)`` (MetaTensor, for the grid-to-original matrix), its breast mask
        ``(S, S)`` bool, and the other breast ``(S, S)`` with its breast mask (None, None without a partner).

    Raises:
        ValueError / MammogramReadError: (naming the file) a film or its partner that cannot be read.
    """
    pipeline = full_mammogram_transforms(spatial_size=spatial_size, label_key=None)
    out = pipeline({k: v for k, v in item.items() if k != "label"})
    breast = np.asarray(out[BREAST_MASK_KEY])[0] > 0
    if not item.get("contralateral_image"):
        return out[IMAGE], breast, None, None
    stacked = ContralateralChanneld(IMAGE, preprocess=pipeline)(
        dict(out, contralateral_image=item["contralateral_image"]))[IMAGE]
    partner = stacked[1].numpy()
    return out[IMAGE], breast, partner, partner > 0


def film_candidates(item: Mapping[str, Any], spatial_size: int = 256,
                    radii: Sequence[float] = (4, 6, 9, 13, 19, 28), max_candidates: int = 50) -> FilmCandidates:
    """Stage-1 candidates of one datalist item and their features (with its ``contralateral_image`` if any).

    Raises:
        ValueError / MammogramReadError: (naming the file) a film or its partner that cannot be read.
    """
    image, breast, partner, partner_breast = preprocessed_film(item, spatial_size)
    grid = image[0].numpy()
    cands = blob_candidates(grid, breast, radii=radii, max_candidates=max_candidates)
    feats = candidate_features(grid, breast, cands, partner, partner_breast)
    to_original = grid_to_original(image)
    scale = float(np.sqrt(abs(np.linalg.det(to_original[:2, :2]))))
    centers = np.array([(to_original @ np.array([r, c, 1.0]))[:2] for r, c, _, _ in cands]).reshape(-1, 2)
    shape = list(image.meta.get("spatial_shape", grid.shape))[:2]
    return FilmCandidates(str(item[IMAGE]), str(item.get(PATIENT_ID)), centers,
                          np.array([c[2] * scale for c in cands]), feats, shape)


def cached_film_candidates(item: Mapping[str, Any], spatial_size: int, cache: Path) -> FilmCandidates:
    """:func:`film_candidates`, kept in ``cache/<stem>_<size>.npz`` so a rerun (another arm, an interrupted run)
    does not preprocess every film again; a cached file of other features or another image is recomputed."""
    path = cache / f"{Path(str(item[IMAGE])).stem}_{spatial_size}.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as z:
            if (str(z["image"]) == str(item[IMAGE]) and str(z["partner"]) == str(item.get("contralateral_image"))
                    and tuple(str(n) for n in z["feature_names"]) == FEATURE_NAMES):
                return FilmCandidates(str(item[IMAGE]), str(item.get(PATIENT_ID)), z["centers"], z["radii"],
                                      z["features"], z["image_shape"].tolist())
    film = film_candidates(item, spatial_size=spatial_size)
    arrays = {"image": film.image, "partner": str(item.get("contralateral_image")), "centers": film.centers,
              "radii": film.radii, "features": film.features, "image_shape": np.array(film.image_shape),
              "feature_names": np.array(FEATURE_NAMES)}
    atomic_write_file(path, lambda f: np.savez(f, **arrays), fsync=False)
    return film


def film_crops(item: Mapping[str, Any], film: FilmCandidates, spatial_size: int = 256) -> np.ndarray:
    """Two-scale crops (:func:`~mammo_monai.inference.crop_embedding.candidate_crops`) of a film's candidates on
    its preprocessed grid: ``(n, 2, 32, 32)``; the candidates' original-pixel centres and radii are mapped back
    through the inverse of the grid-to-original matrix."""
    out = full_mammogram_transforms(spatial_size=spatial_size, label_key=None)(
        {k: v for k, v in item.items() if k != "label"})
    image = out[IMAGE]
    to_grid = np.linalg.inv(grid_to_original(image))
    scale = float(np.sqrt(abs(np.linalg.det(to_grid[:2, :2]))))
    centers = np.array([(to_grid @ np.array([r, c, 1.0]))[:2] for r, c in film.centers]).reshape(-1, 2)
    return candidate_crops(image[0].numpy(), centers, film.radii * scale)


def _cached_film_crops(item: Mapping[str, Any], film: FilmCandidates, spatial_size: int, cache: Path) -> np.ndarray:
    """:func:`film_crops`, kept in ``cache/<stem>_<size>_crops.npz`` (recomputed when the candidates changed)."""
    path = cache / f"{Path(str(item[IMAGE])).stem}_{spatial_size}_crops.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as z:
            if str(z["image"]) == str(item[IMAGE]) and np.array_equal(z["centers"], film.centers):
                return z["crops"]
    crops = film_crops(item, film, spatial_size)
    atomic_write_file(path, lambda f: np.savez(f, image=film.image, centers=film.centers, crops=crops), fsync=False)
    return crops


def _cached_grid(item: Mapping[str, Any], spatial_size: int, cache: Path) -> dict[str, np.ndarray]:
    """:func:`preprocessed_film` as arrays, kept in ``cache/<stem>_<size>_grid.npz``: ``image`` and ``breast``
    ``(S, S)``, ``partner`` and ``partner_breast`` (empty without a partner), ``to_original`` ``(3, 3)``."""
    path = cache / f"{Path(str(item[IMAGE])).stem}_{spatial_size}_grid.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as z:
            partner = str(item.get("contralateral_image"))
            if str(z["source"]) == str(item[IMAGE]) and str(z["partner_source"]) == partner:
                return {k: z[k] for k in ("image", "breast", "partner", "partner_breast", "to_original")}
    image, breast, partner, partner_breast = preprocessed_film(item, spatial_size)
    grid = {"image": image[0].numpy().astype(np.float32), "breast": breast,
            "partner": partner if partner is not None else np.zeros((0, 0), np.float32),
            "partner_breast": partner_breast if partner_breast is not None else np.zeros((0, 0), bool),
            "to_original": np.asarray(grid_to_original(image), np.float64)}
    sources = {"source": str(item[IMAGE]), "partner_source": str(item.get("contralateral_image"))}
    atomic_write_file(path, lambda f: np.savez(f, **sources, **grid), fsync=False)
    return grid


def blended_positives(mass_items: Sequence[Mapping[str, Any]], normal_items: Sequence[Mapping[str, Any]],
                      lesion_types: Sequence[str], spatial_size: int, cache: Path, per_lesion: int = 3,
                      seed: int = 0) -> np.ndarray:
    """Stage-2 features ``(n, len(FEATURE_NAMES))`` of the positive stage-1 candidates found on normal films after
    each target lesion of ``mass_items`` was blended into ``per_lesion`` of them
    (:func:`~mammo_monai.transforms.lesion_blend.blend_lesion`, at a random site deep in the breast): real
    lesions on new backgrounds, with the normal film's other breast (which has no lesion there) as context.

    Pass the training women's films only: the blended films inherit nothing else, so no held-out woman leaks in.
    """
    rng = np.random.default_rng(seed)
    normals = [(_cached_grid(i, spatial_size, cache), str(i.get(PATIENT_ID))) for i in normal_items]
    rows = []
    for item in mass_items:
        grid = _cached_grid(item, spatial_size, cache)
        to_grid = np.linalg.inv(grid["to_original"])
        scale = float(np.sqrt(abs(np.linalg.det(to_grid[:2, :2]))))
        others = [g for g, woman in normals if woman != str(item.get(PATIENT_ID))]
        for lesion in item.get(LESIONS) or []:
            if lesion.get("type") not in lesion_types or lesion.get("center") is None or not lesion.get("radius"):
                continue
            center = (to_grid @ np.array([*map(float, lesion["center"]), 1.0]))[:2]
            radius = float(lesion["radius"]) * scale
            for n in rng.choice(len(others), size=min(per_lesion, len(others)), replace=False):
                normal = others[n]
                site = lesion_sites(normal["breast"], radius, 1, rng)
                if not len(site):
                    continue
                film = blend_lesion(normal["image"], grid["image"], center, radius, site[0])
                partner = normal["partner"] if normal["partner"].size else None
                partner_breast = normal["partner_breast"] if partner is not None else None
                cands = blob_candidates(film, normal["breast"])
                hit = [k for k, (r, c, _, _) in enumerate(cands)
                       if math.hypot(r - site[0][0], c - site[0][1]) <= radius]
                if hit:
                    feats = candidate_features(film, normal["breast"], cands, partner, partner_breast)
                    rows.append(feats[hit])
    return np.concatenate(rows) if rows else np.zeros((0, len(FEATURE_NAMES)), np.float32)


def crop_embedding_features(crops: Sequence[np.ndarray], mode: str, seed: int = 0,
                            n_components: int = EMBEDDING_COMPONENTS) -> list[np.ndarray]:
    """Per film ``(n, n_components)``: the crop autoencoder's embedding of every candidate crop, reduced by PCA.

    The autoencoder is pretrained (``mode="pretrained"``) by masked-image modelling on the crops of **all** films,
    without labels, or left at its seeded initialisation (``"untrained"``, the control); the PCA is fitted on all
    embeddings, also without labels. Nothing here sees a lesion label, so using every film is not a leak.
    """
    from sklearn.decomposition import PCA

    from mammo_monai.inference.crop_embedding import crop_autoencoder, crop_embeddings, pretrain_crop_autoencoder

    everything = np.concatenate([c for c in crops if len(c)])
    if mode == "pretrained":
        model = pretrain_crop_autoencoder(everything, seed=seed)
    elif mode == "untrained":
        torch.manual_seed(seed)
        model = crop_autoencoder(everything.shape[1]).eval()
    else:
        raise ValueError(f"crop embedding mode must be 'pretrained' or 'untrained', got {mode!r}")
    reduced = PCA(n_components=n_components, random_state=seed).fit_transform(crop_embeddings(model, everything))
    return np.split(reduced.astype(np.float32), np.cumsum([len(c) for c in crops])[:-1])


def candidate_hits(film: FilmCandidates, item: Mapping[str, Any], lesion_types: Sequence[str]) -> np.ndarray:
    """``(n,)`` 0/1: the candidate's centre is within a target lesion's radius of its centre, or in its box."""
    hits = np.zeros(len(film.centers), np.int64)
    for lesion in item.get(LESIONS) or []:
        if lesion.get("type") not in lesion_types:
            continue
        center, radius, box = lesion.get("center"), lesion.get("radius"), lesion.get("box")
        for i, (r, c) in enumerate(film.centers):
            near = center is not None and radius and math.hypot(r - center[0], c - center[1]) <= float(radius)
            inside = box is not None and box[0] <= r < box[2] and box[1] <= c < box[3]
            if near or inside:
                hits[i] = 1
    return hits


def train_stage2(features: np.ndarray, labels: np.ndarray, seed: int = 0) -> Any:
    """The stage-2 classifier fitted on candidates (``features``, 0/1 ``labels``): a small, balanced gradient-
    boosting model (shallow trees, strong regularisation: a few dozen positives per fold on mini-MIAS).

    Raises:
        ValueError: the labels hold one class only (no positive candidate among the training women).
    """
    from sklearn.ensemble import HistGradientBoostingClassifier

    if np.unique(labels).size < 2:
        raise ValueError(f"stage 2 needs positive and negative candidates; got {int(labels.sum())} positive of "
                         f"{labels.size}")
    model = HistGradientBoostingClassifier(max_depth=3, max_iter=150, learning_rate=0.05, min_samples_leaf=10,
                                           l2_regularization=1.0, class_weight="balanced", random_state=seed)
    with threadpool_limits(1):  # a few thousand rows: OpenMP threads only add overhead (and spin on a busy CPU)
        return model.fit(features, labels)


def _predict(model: Any, features: np.ndarray) -> np.ndarray:
    """Positive-class probabilities of ``features`` ``(n, f)`` in one call, on one thread."""
    with threadpool_limits(1):
        return model.predict_proba(features)[:, 1]


def film_level_aucs(films: Sequence[FilmCandidates], items: Sequence[Mapping[str, Any]],
                    scores: Sequence[np.ndarray], lesion_types: Sequence[str], n_resamples: int = 2000,
                    seed: int = 0) -> dict[str, Any]:
    """Each film scored by its best candidate: ROC AUC of films with a target lesion against normal films
    (``target_film_auc``) and of films with any lesion against normal films (``abnormal_film_auc``), each with a
    bootstrap CI by woman (``{"estimate", "ci"}``). Films with other lesions only are left out of the first."""
    from sklearn.metrics import roc_auc_score

    from mammo_monai.evaluation.bootstrap import bootstrap_by_group

    best = np.array([float(s.max()) if len(s) else -np.inf for s in scores])
    finite = best[np.isfinite(best)]
    best[~np.isfinite(best)] = finite.min() - 1.0 if finite.size else 0.0
    women = np.array([f.patient for f in films])
    lesions = [item.get(LESIONS) or [] for item in items]
    normal = np.array([not les for les in lesions])
    target = np.array([any(x.get("type") in lesion_types for x in les) for les in lesions])
    out: dict[str, Any] = {}
    for key, positive in (("target_film_auc", target), ("abnormal_film_auc", ~normal)):
        keep = np.flatnonzero(positive | normal)
        y, s, g = positive[keep].astype(int), best[keep], women[keep]

        def auc(idx: np.ndarray, y: np.ndarray = y, s: np.ndarray = s) -> float:
            return float(roc_auc_score(y[idx], s[idx])) if np.unique(y[idx]).size == 2 else float("nan")

        b = bootstrap_by_group(auc, g, n_resamples=n_resamples, seed=seed)
        out[key] = {"estimate": b["estimate"], "ci": [b["low"], b["high"]], "n_films": int(keep.size),
                    "n_positive": int(y.sum())}
    return out


def _write_detections(films: Sequence[FilmCandidates], scores: Sequence[np.ndarray], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for film, score in zip(films, scores):
        order = np.argsort(-score, kind="stable")
        candidates = [{"score": float(score[i]), "center": [round(float(film.centers[i, 0]), 2),
                                                             round(float(film.centers[i, 1]), 2)],
                       "radius": round(float(film.radii[i]), 2), "class": "mass"} for i in order]
        name = Path(film.image).stem + ".json"
        write_json({"image": film.image, "image_shape": film.image_shape, "candidates": candidates}, folder / name)


def cross_validate_two_stage(datalist: str | Path, out: str | Path, n_folds: int = 5, seed: int = 0,
                             val_fraction: float = 0.2, lesion_types: Sequence[str] = ("mass",),
                             spatial_size: int = 256, n_resamples: int = 2000,
                             crop_embedding: bool = False, blend_lesions: int = 0,
                             blend_seed: int | None = None) -> dict[str, Any]:
    """The three-arm ablation (:data:`ARMS`) on every item of ``datalist`` by woman; see the module docstring.
    With ``crop_embedding``, the two arms of :data:`EMBEDDING_ARMS` too (CNN features of two-scale crops from an
    autoencoder pretrained on the unlabelled crops of every film, and from the same network untrained). With
    ``blend_lesions`` ``n > 0``, the arm :data:`BLEND_ARM` too: each fold's stage 2 also learns from its training
    women's masses (those stage 1 finds on their own film) blended into ``n`` normal films of its other training
    women each (:func:`blended_positives`;
    sites and films drawn with ``blend_seed`` + fold, default the CV ``seed``). Each arm also gets the paired CPM
    difference to its parent arm (:data:`PARENT_ARM`; :func:`~mammo_monai.evaluation.detection.paired.
    paired_cpm_difference`, both arms on the same bootstrap draws of women).

    Returns:
        the report written as ``OUT/two_stage_report.json``: per arm the pooled CPM and sensitivity at 1 FP/image
        with CIs (and the evaluator's report folder), the folds, timings.

    Raises:
        ValueError: too few women for the folds, no target lesion among some fold's training women.
    """
    datalist_path = Path(datalist).resolve()
    ensure_outside_inputs(out, datalist_path)
    items = all_items(datalist_path)
    folds = cv_fold_datalists(items, n_folds=n_folds, val_fraction=val_fraction, seed=seed)
    owner = fold_of_patient(folds)
    out_dir = Path(out).resolve()
    start = time.perf_counter()
    films = [cached_film_candidates(item, spatial_size, out_dir / "candidates") for item in items]
    extract_s = time.perf_counter() - start
    hits = [candidate_hits(f, i, lesion_types) for f, i in zip(films, items)]
    fold_of_film = np.array([owner[f.patient] for f in films])
    n_lesions = sum(1 for i in items for les in i.get(LESIONS) or [] if les.get("type") in lesion_types)
    found = sum(1 for f, i in zip(films, items) for les in i.get(LESIONS) or []
                if les.get("type") in lesion_types and candidate_hits(f, {LESIONS: [les]}, lesion_types).any())
    own_columns = [k for k, n in enumerate(FEATURE_NAMES) if n not in CONTRALATERAL_FEATURES and n != "has_partner"]
    oof_datalist = out_dir / "datalist.json"
    write_json(out_of_fold_datalist(folds), oof_datalist)
    all_columns = list(range(len(FEATURE_NAMES)))
    arm_features = {name: [f.features[:, all_columns if contralateral else own_columns] for f in films]
                    for name, stage2, contralateral in ARMS if stage2}
    if crop_embedding:
        crops = [_cached_film_crops(i, f, spatial_size, out_dir / "candidates") for f, i in zip(films, items)]
        for name, mode in EMBEDDING_ARMS:
            embedded = crop_embedding_features(crops, mode, seed=seed)
            arm_features[name] = [np.concatenate([f.features, e], axis=1) for f, e in zip(films, embedded)]
    if blend_lesions > 0:
        arm_features[BLEND_ARM] = arm_features["stage2_contralateral"]
    arms: dict[str, Any] = {}
    for name in [a[0] for a in ARMS] + ([a[0] for a in EMBEDDING_ARMS] if crop_embedding else []) + (
            [BLEND_ARM] if blend_lesions > 0 else []):
        arm_start = time.perf_counter()
        scores = [f.features[:, FEATURE_NAMES.index("response")].astype(float) for f in films]
        if name in arm_features:
            features = arm_features[name]
            for k in range(n_folds):
                train = [j for j in range(len(films)) if fold_of_film[j] != k and len(films[j].centers)]
                x = np.concatenate([features[j] for j in train])
                y = np.concatenate([hits[j] for j in train])
                if name == BLEND_ARM:
                    # blended: the masses stage 1 finds on the fold's training films, into its films without lesions
                    training_films = [j for j in range(len(films)) if fold_of_film[j] != k]
                    extra = blended_positives([items[j] for j in training_films if hits[j].any()],
                                              [items[j] for j in training_films if not items[j].get(LESIONS)],
                                              lesion_types, spatial_size, out_dir / "candidates", blend_lesions,
                                              seed=(seed if blend_seed is None else blend_seed) + k)
                    x, y = np.concatenate([x, extra]), np.concatenate([y, np.ones(len(extra), y.dtype)])
                try:
                    model = train_stage2(x, y, seed=seed)
                except ValueError as e:
                    raise ValueError(f"fold {k}: {e}") from e
                for j in np.flatnonzero(fold_of_film == k):
                    if len(films[j].centers):
                        scores[j] = _predict(model, features[j])
        _write_detections(films, scores, out_dir / name / "detections")
        report = evaluate_detection(out_dir / name / "detections", oof_datalist, out_dir / name / "report",
                                    lesion_types=list(lesion_types), n_resamples=n_resamples, seed=seed,
                                    overwrite=True)
        overall = (report.summary.get("metrics") or {}).get("all") or {}
        arms[name] = {"cpm": overall.get("cpm"), "sensitivity_at_1": (overall.get("sensitivity") or {}).get("1"),
                      "sensitivity": overall.get("sensitivity"), "seconds": time.perf_counter() - arm_start,
                      "report_dir": str(out_dir / name / "report"),
                      **film_level_aucs(films, items, scores, lesion_types, n_resamples=n_resamples, seed=seed)}
    for name, arm in arms.items():
        parent = PARENT_ARM.get(name)
        if parent in arms:
            d = paired_cpm_difference(arms[parent]["report_dir"], arm["report_dir"], n_resamples=n_resamples, seed=seed)
            arm["cpm_minus_parent"] = {"parent": parent, "estimate": d["estimate"], "ci": [d["low"], d["high"]]}
    summary = {"datalist": str(datalist_path), "n_folds": n_folds, "seed": seed, "val_fraction": val_fraction,
               "lesion_types": list(lesion_types), "spatial_size": spatial_size, "n_films": len(films),
               "n_women": len(owner), "n_lesions": n_lesions, "stage1_lesions_with_a_candidate": found,
               "candidates_per_film": float(np.mean([len(f.centers) for f in films])),
               "extract_seconds": extract_s, "wall_seconds": time.perf_counter() - start, "arms": arms,
               "command": f"mammo-monai two_stage_cv --datalist {datalist} --out {out} --folds {n_folds} --seed {seed}"
                          + (" --crop_embedding True" if crop_embedding else "")
                          + (f" --blend_lesions {blend_lesions}" if blend_lesions else "")
                          + (f" --blend_seed {blend_seed}" if blend_seed is not None else "")}
    write_json(summary, out_dir / "two_stage_report.json")
    atomic_write_text(out_dir / "two_stage_report.md", format_two_stage_markdown(summary))
    return summary


def fold_gate_scores(folds: Sequence[Mapping[str, Sequence[Mapping[str, Any]]]], cache: str | Path,
                     lesion_types: Sequence[str] = ("mass",), spatial_size: int = 256,
                     seed: int = 0) -> list[dict[str, float]]:
    """Film-level gate scores for each fold: stage 2 (with the other breast's features) trained on the fold's
    ``training`` women only, each of its ``validation`` and ``test`` films scored by its best candidate (0 without
    candidates). A gate threshold chosen on the validation films is thus applied to test films by the same model,
    and no model saw the women it scores.

    Args:
        folds: fold datalists (:func:`mammo_monai.data.folds.cv_fold_datalists`), paths absolute.
        cache: where stage-1 candidates are kept (``<stem>_<size>.npz``; shared with :func:`cross_validate_two_stage`).

    Returns:
        per fold, ``{image: score}`` of its validation and test films.

    Raises:
        ValueError: (naming the fold) no target lesion among a fold's training candidates.
    """
    cache = Path(cache)
    out = []
    for k, fold in enumerate(folds):
        films = [(cached_film_candidates(i, spatial_size, cache), i) for i in fold["training"]]
        train = [(f, i) for f, i in films if len(f.centers)]
        if not train:
            raise ValueError(f"fold {k}: no stage-1 candidate on any film of its training women")
        x = np.concatenate([f.features for f, _ in train])
        y = np.concatenate([candidate_hits(f, i, lesion_types) for f, i in train])
        try:
            model = train_stage2(x, y, seed=seed)
        except ValueError as e:
            raise ValueError(f"fold {k}: {e}") from e
        scored = [(cached_film_candidates(i, spatial_size, cache), i) for i in [*fold["validation"], *fold["test"]]]
        with_candidates = [f.features for f, _ in scored if len(f.centers)]
        probabilities = iter(np.split(_predict(model, np.concatenate(with_candidates)),
                                      np.cumsum([len(x) for x in with_candidates])[:-1]) if with_candidates else [])
        out.append({str(i[IMAGE]): float(next(probabilities).max()) if len(f.centers) else 0.0 for f, i in scored})
    return out


def format_two_stage_markdown(summary: Mapping[str, Any]) -> str:
    """The ablation table of :func:`cross_validate_two_stage` as markdown."""
    lines = [f"# Two-stage detection of {', '.join(summary['lesion_types'])}, {summary['n_folds']}-fold CV by woman",
             "", f"{summary['n_films']} films of {summary['n_women']} women, {summary['n_lesions']} target lesions; "
             f"stage 1 puts a candidate on {summary['stage1_lesions_with_a_candidate']} of them "
             f"({summary['candidates_per_film']:.1f} candidates per film). Pooled out-of-fold, 95% CIs by woman.",
             "", "```bash", str(summary["command"]), "```", "",
             "| arm | CPM | CPM minus its parent arm's (paired) | sensitivity at 1 FP/image | film AUC, target lesion "
             "vs normal | film AUC, any lesion vs normal | wall |", "|---|---|---|---|---|---|---|"]
    for name, arm in summary["arms"].items():
        paired = arm.get("cpm_minus_parent")
        cells = [format_interval(arm.get("cpm")),
                 f"{format_interval(paired)} vs {paired['parent']}" if paired else "—",
                 *(format_interval(arm.get(k)) for k in ("sensitivity_at_1", "target_film_auc", "abnormal_film_auc"))]
        lines.append(f"| {name} | {' | '.join(cells)} | {arm['seconds']:.0f} s |")
    lines.append(f"\nCandidate extraction: {summary['extract_seconds']:.0f} s.")
    return "\n".join(lines) + "\n"

