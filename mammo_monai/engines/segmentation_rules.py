"""Segmentation post-processing chosen inside the folds of a cross-validation, and scored out of fold.

``mammo-monai cv bundles/mammo_mass_segmentation`` predicts each fold's validation and test women with
``save_probabilities`` (``<stem>_prob.nii.gz`` beside each ``<stem>_seg.nii.gz``). For each arm of
:data:`ARMS` this module chooses, on a fold's validation women only, a
:class:`~mammo_monai.inference.component_rule.ComponentRule` (threshold, smallest component, smallest peak,
at most k components; :func:`~mammo_monai.evaluation.component_rule_selection.choose_component_rule`) and,
for the gated arm, a film gate threshold on the two-stage detector's film score
(:func:`~mammo_monai.engines.two_stage_detection.fold_gate_scores`: stage 2 trained on the fold's training women
only); applies them to the fold's test women; and scores the pooled masks with ``mammo-monai eval
segmentation``. The shipped rule is the median of the fold rules
(:func:`~mammo_monai.evaluation.component_rule_selection.shipped_rule`).

Example:
    >>> arms = score_segmentation_rules(folds, prediction_dirs, "outputs/cv/segmentation")  # doctest: +SKIP
    >>> arms["rule"]["headline"]["dice_on_lesion_films"]  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from mammo_monai.data.folds import out_of_fold_datalist
from mammo_monai.data.schema import IMAGE, LABEL
from mammo_monai.engines.two_stage_detection import fold_gate_scores
from mammo_monai.evaluation import evaluate_segmentation, read_mask
from mammo_monai.evaluation.component_rule_selection import (
    DEFAULT_GRID,
    choose_component_rule,
    film_components,
    shipped_rule,
)
from mammo_monai.evaluation.inputs import file_stem
from mammo_monai.io.writers import write_json

__all__ = ["ARMS", "PROBABILITY_SUFFIX", "probability_files", "score_segmentation_rules", "segmentation_headline",
           "target_truth_folds"]

#: (arm name, uses the detector's film gate)
ARMS = (("rule", False), ("rule_gate", True))

#: the inference config's ``save_probabilities`` output, beside each ``<stem>_seg.nii.gz``
PROBABILITY_SUFFIX = "_prob.nii.gz"


def probability_files(folder: Path) -> dict[str, Path]:
    """``{image stem: probability file}`` of the ``*_prob.nii.gz`` files under ``folder``."""
    return {p.name[: -len(PROBABILITY_SUFFIX)]: p for p in sorted(folder.rglob(f"*{PROBABILITY_SUFFIX}"))}


def _probability(files: Mapping[str, Path], item: Mapping[str, Any], where: Path) -> np.ndarray:
    stem = file_stem(str(item[IMAGE]))
    if stem not in files:
        raise FileNotFoundError(f"{where}: no {stem}{PROBABILITY_SUFFIX} (was the fold inferred with "
                                "save_probabilities?)")
    return read_mask(files[stem]).astype(np.float32)


def _truth(item: Mapping[str, Any]) -> np.ndarray | None:
    return read_mask(item[LABEL]) != 0 if item.get(LABEL) else None


def _gated(mask: np.ndarray, score: float | None, gate_threshold: float | None) -> np.ndarray:
    if gate_threshold is not None and (score is None or score < gate_threshold):
        return np.zeros_like(mask)
    return mask


def target_truth_folds(folds: Sequence[Mapping[str, Sequence[Mapping[str, Any]]]], out_dir: str | Path,
                       lesion_types: Sequence[str], label_source: str = "file") -> list[dict[str, list[Any]]]:
    """The folds with each item's ``label`` holding its target lesions only, as the model was trained.

    With ``label_source="lesions"`` (the MIAS recipe: masses drawn from the datalist's circles, whatever the label
    files hold) each item with a positioned target lesion gets a mask of those circles on its original grid
    (:class:`~mammo_monai.transforms.lesions.LesionMask`, written as ``OUT/oof/truth/<stem>_target.png``) and
    every other item no ``label`` (a film without a target lesion); otherwise the items are returned as they are.
    A calcification or asymmetry circle in a label file is thus never scored as a missed mass.
    """
    if label_source != "lesions":
        return [{k: [dict(i) for i in v] for k, v in fold.items()} for fold in folds]
    from mammo_monai.evaluation.inputs import image_shape_and_spacing
    from mammo_monai.transforms.lesions import LesionMask

    draw = LesionMask(lesion_types=list(lesion_types))
    folder = Path(out_dir) / "oof" / "truth"
    out = []
    for fold in folds:
        converted: dict[str, list[Any]] = {}
        for split, items in fold.items():
            converted[split] = []
            for item in items:
                item = dict(item)
                item.pop(LABEL, None)
                targets = [les for les in item.get("lesions") or [] if les.get("type") in lesion_types]
                if targets:
                    shape, _ = image_shape_and_spacing(item[IMAGE], need_shape=True)
                    if shape is None:
                        shape = read_mask(item[IMAGE]).shape
                    mask = draw.draw(targets, shape)
                    if mask.any():
                        path = folder / f"{file_stem(str(item[IMAGE]))}_target.png"
                        path.parent.mkdir(parents=True, exist_ok=True)
                        Image.fromarray(mask).save(path)
                        item[LABEL] = str(path)
                converted[split].append(item)
        out.append(converted)
    return out


def score_segmentation_rules(
    folds: Sequence[Mapping[str, Sequence[Mapping[str, Any]]]],
    prediction_dirs: Sequence[tuple[Path, Path]],
    out_dir: str | Path,
    gate_cache: str | Path | None = None,
    lesion_types: Sequence[str] = ("mass",),
    max_normal_rate: float = 0.10,
    grid: Mapping[str, Sequence[Any]] | None = None,
    n_resamples: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """Choose each arm's rule on every fold's validation women, apply it to its test women, score the pool.

    Args:
        folds: the fold datalists (paths absolute), each item's ``label`` its target lesions only
            (:func:`target_truth_folds`).
        prediction_dirs: per fold, its (validation, test) inference folders holding ``*_prob.nii.gz``.
        out_dir: the CV folder; masks go to ``OUT/oof/masks_<arm>/fold_k``, reports to ``OUT/report_<arm>``.
        gate_cache: where the detector's stage-1 candidates are cached (None: ``OUT/candidates``).
        lesion_types: the detector's target lesions (the gate).
        max_normal_rate: the largest share of validation films without a target lesion that a rule may give
            any pixel.
        grid: the searched values (keys of :data:`~mammo_monai.evaluation.component_rule_selection.DEFAULT_GRID`).

    Returns:
        ``{arm: {"headline", "folds": [each fold's choice], "shipped_rule", "shipped_gate_threshold",
        "report_dir"}}``.
    """
    out_dir = Path(out_dir)
    grid = {**DEFAULT_GRID, **(grid or {})}
    gates = fold_gate_scores(folds, gate_cache or out_dir / "candidates", lesion_types, seed=seed)
    choices: dict[str, list[Any]] = {name: [] for name, _ in ARMS}
    for k, (fold, (val_dir, test_dir)) in enumerate(zip(folds, prediction_dirs)):
        files = probability_files(val_dir)
        films = [film_components(_probability(files, item, val_dir), _truth(item), grid["thresholds"],
                                 gates[k].get(str(item[IMAGE]))) for item in fold["validation"]]
        for name, gate in ARMS:
            choice = choose_component_rule(films, grid["thresholds"], grid["min_sizes"], grid["min_peaks"],
                                           grid["max_components"], gate=gate, max_normal_rate=max_normal_rate)
            choices[name].append(choice)
        test_files = probability_files(test_dir)
        for item in fold["test"]:
            probability = _probability(test_files, item, test_dir)
            for name, _ in ARMS:
                choice = choices[name][k]
                mask = _gated(choice.rule(probability), gates[k].get(str(item[IMAGE])), choice.gate_threshold)
                target = out_dir / "oof" / f"masks_{name}" / f"fold_{k}" / f"{file_stem(str(item[IMAGE]))}_seg.png"
                target.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(mask.astype(np.uint8)).save(target)
    oof_datalist = out_dir / "oof" / "datalist.json"
    write_json(out_of_fold_datalist(folds), oof_datalist)
    arms = {}
    for name, _ in ARMS:
        report = evaluate_segmentation(out_dir / "oof" / f"masks_{name}", oof_datalist, out_dir / f"report_{name}",
                                       n_resamples=n_resamples, seed=seed, overwrite=True)
        gate_values = [c.gate_threshold for c in choices[name] if c.gate_threshold is not None]
        arms[name] = {"headline": segmentation_headline(report.summary),
                      "folds": [c.as_dict() for c in choices[name]],
                      "shipped_rule": shipped_rule(choices[name]).as_dict(),
                      "shipped_gate_threshold": float(np.median(gate_values)) if gate_values else None,
                      "report_dir": str(out_dir / f"report_{name}")}
    return arms


def segmentation_headline(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The two headline figures of a segmentation evaluator summary: mean Dice on lesion films with its CI, and
    the count and share of films without a lesion given any false pixel."""
    lesion = ((summary.get("metrics") or {}).get("lesion") or {}).get("dice")
    dice = None
    if isinstance(lesion, Mapping):
        low, high, *_ = [*(lesion.get("mean_ci") or []), None, None]
        dice = {"estimate": lesion.get("mean"), "low": low, "high": high}
    counts = summary.get("counts") or {}
    n_normal = int(counts.get("gt_empty") or 0)
    false = int(counts.get("false_positive", 0) or 0)
    return {"dice_on_lesion_films": dice,
            "normal_films_with_false_pixels": f"{false} of {n_normal}" + (f" ({false / n_normal:.0%})"
                                                                          if n_normal else "")}

