"""Cross-validation by woman through a bundle's own configs: ``mammo-monai cv BUNDLE --datalist X --out Y``.

For each of ``n_folds`` folds (:func:`mammo_monai.data.folds.cv_fold_datalists`: fold ``k``'s women are its
``test`` part, the other women are split into ``training`` / ``validation`` by woman), the bundle is trained
with ``python -m monai.bundle run training`` on its ``train.json`` (plus the recipe layers ``configs`` and the
``overrides``) into ``OUT/fold_k/bundle``, and ``inference.json`` writes the fold's predictions for its
``validation`` and ``test`` women. The test predictions of all folds are pooled (out-of-fold: every woman
scored once, by the model that never saw her) and scored with the project's evaluator; every threshold is
chosen on a fold's validation women and applied to that fold's test women only
(:mod:`mammo_monai.evaluation.cross_validation`). ``OUT/cv_report.json`` and ``OUT/cv_report.md`` hold the
pooled figures with bootstrap CIs by woman, one row per fold, the wall time and the command that reproduces
them; ``OUT/report/`` holds the evaluator's own files and plots.

Each step is a separate ``monai.bundle`` process, exactly what a user would run by hand (logs in
``OUT/fold_k/*.log``). A fold whose step finished (``OUT/fold_k/<step>.done``) is not run again, so an
interrupted CV goes on where it stopped; folds are always rebuilt from the datalist and the seed and must
match ``OUT/folds.json`` when one exists.

Bundles (:data:`BUNDLE_KINDS`):

- classification (``mammo_image_classification``, ``mammo_lesion_classification``): each fold's
  ``<split>_probabilities.csv`` for its validation and test women; the test files pooled and scored by
  ``mammo-monai eval classification`` (AUC, calibration, ... with CIs), plus, for a binary task, the operating
  point at each fold's own threshold (Youden's J on its validation women) and the shipped threshold (their median);
- detection (``mammo_patch_detection``): each fold's per-image candidate JSONs of its test women pooled and scored
  by ``mammo-monai eval detection`` (FROC, CPM, sensitivity at 1 FP/image);
- segmentation (``mammo_mass_segmentation``): each fold's ``*_seg`` masks of its test women pooled and scored by
  ``mammo-monai eval segmentation`` (Dice on lesion films, false-positive pixels on normal films).

Example:
    >>> run_cross_validation("bundles/mammo_image_classification", "work/mias.json", "outputs/cv_image",
    ...                      n_folds=5, configs=["mias_cpu.json"])  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mammo_monai.data.folds import (
    cv_fold_datalists,
    ensemble_member_datalists,
    fold_class_problems,
    fold_of_patient,
    out_of_fold_datalist,
)
from mammo_monai.data.labels import IMAGE_LEVEL, label_set
from mammo_monai.data.schema import IMAGE, PATIENT_ID, SPLITS
from mammo_monai.data.splits import LESION_TYPES
from mammo_monai.engines.datalist_items import all_items
from mammo_monai.engines.segmentation_rules import (
    score_segmentation_rules,
    segmentation_headline,
    target_truth_folds,
)
from mammo_monai.evaluation.classification import evaluate_classification, read_predictions
from mammo_monai.evaluation.cross_validation import (
    fold_thresholds,
    format_cv_markdown,
    pooled_operating_point,
    shipped_threshold,
)
from mammo_monai.evaluation.inputs import resolve_datalist_path
from mammo_monai.io.writers import atomic_write_text, ensure_outside_inputs, write_csv, write_json

__all__ = ["BUNDLE_KINDS", "CrossValidationError", "all_items", "bundle_setting", "json_literals",
           "run_cross_validation"]

#: what each shipped bundle predicts, hence how its folds are pooled and scored
BUNDLE_KINDS = {
    "mammo_image_classification": "classification",
    "mammo_lesion_classification": "classification",
    "mammo_patch_detection": "detection",
    "mammo_mass_segmentation": "segmentation",
}

#: the splits each kind predicts per fold (validation: where thresholds are chosen)
_INFER_SPLITS = {"classification": ("validation", "test"), "detection": ("test",),
                 "segmentation": ("validation", "test")}

#: inference overrides for CV runs: no overlay pictures (the evaluators draw their own); segmentation also writes
#: its foreground probabilities, from which the post-processing is chosen on each fold's validation women
_INFER_OVERRIDES = {"classification": {}, "detection": {"write_overlays": False},
                    "segmentation": {"write_overlays": False, "save_probabilities": True}}

class CrossValidationError(ValueError):
    """A cross-validation that cannot start or could not finish (the message names the fold, file or key)."""


def bundle_setting(bundle_dir: str | os.PathLike, configs: Sequence[str], overrides: Mapping[str, Any],
                   key: str, default: Any = None) -> Any:
    """A top-level setting as ``monai.bundle run`` would see it: ``overrides``, else the last of ``configs``
    that holds it, else ``train.json`` (literal values only; a ``$``/``@`` expression gives ``default``)."""
    if key in overrides:
        return overrides[key]
    value = default
    for name in ["train.json", *configs]:
        path = _config_path(bundle_dir, name)
        data = json.loads(path.read_text())
        if key in data:
            value = data[key]
    if isinstance(value, str) and value[:1] in ("$", "@", "%"):
        return default
    return value


def _config_path(bundle_dir: str | os.PathLike, name: str) -> Path:
    path = Path(name)
    if not path.is_absolute() and not path.exists():
        path = Path(bundle_dir) / "configs" / name
    if not path.is_file():
        raise CrossValidationError(f"{path}: bundle config not found")
    return path


def _cli_value(value: Any) -> str:
    """A config value as a ``monai.bundle run`` argument. That CLI parses values with python-fire, which reads
    Python literals (``False``, ``None``, ``[1, 2]``) and takes JSON's ``false``/``null`` as the *strings*
    ``"false"``/``"null"`` (truthy), so non-strings are written with ``repr``."""
    return value if isinstance(value, str) else repr(value)


def json_literals(value: Any) -> Any:
    """``value`` with the strings ``"true"``, ``"false"`` and ``"null"`` (what python-fire makes of JSON's
    literals in ``--overrides '{"contralateral": true}'``) turned into ``True``, ``False`` and ``None``, in nested
    dicts and lists too.

    Example:
        >>> json_literals({"contralateral": "true", "sizes": [1, "null"], "name": "x"})
        {'contralateral': True, 'sizes': [1, None], 'name': 'x'}
    """
    if isinstance(value, Mapping):
        return {k: json_literals(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_literals(v) for v in value]
    return {"true": True, "false": False, "null": None}.get(value, value) if isinstance(value, str) else value


class _Fold:
    """One fold's folder: its datalist, bundle root, predictions, logs and step markers."""

    def __init__(self, out: Path, k: int, prefix: str = "fold") -> None:
        self.k = k
        self.dir = out / f"{prefix}_{k}"
        self.datalist = self.dir / "datalist.json"
        self.bundle_root = self.dir / "bundle"
        self.predictions = self.dir / "predictions"

    def output_dir(self, kind: str, split: str) -> Path:
        """Where the fold's inference on ``split`` writes: one folder for the classifiers' CSVs (named by split),
        one per split for per-image files (candidate JSONs, masks)."""
        return self.predictions if kind == "classification" else self.predictions / split

    def done(self, step: str) -> bool:
        return (self.dir / f"{step}.done").is_file()

    def mark(self, step: str, seconds: float) -> None:
        write_json({"step": step, "seconds": seconds}, self.dir / f"{step}.done")

    def seconds(self, step: str) -> float:
        marker = self.dir / f"{step}.done"
        return float(json.loads(marker.read_text()).get("seconds", 0.0)) if marker.is_file() else 0.0


def _run_step(args: list[str], log: Path, what: str) -> float:
    """Run one ``monai.bundle`` command with its output in ``log``; its wall time in seconds."""
    start = time.perf_counter()
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as f:
        f.write("$ " + shlex.join(args) + "\n")
        f.flush()
        code = subprocess.call(args, stdout=f, stderr=subprocess.STDOUT)
    if code != 0:
        raise CrossValidationError(f"{what} failed (exit {code}); see {log}")
    return time.perf_counter() - start


def _class_problems(folds: Sequence[Mapping[str, Any]], task: str, include_normal: bool) -> list[str]:
    ls = label_set(task, include_normal=include_normal)

    def expand(fold: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
        return {s: ls.items(fold[s], require_position=ls.level != IMAGE_LEVEL) for s in SPLITS}

    def class_of(item: Mapping[str, Any]) -> str | None:
        target = ls.target(item)
        return None if target is None else ls.classes[target]

    return fold_class_problems([expand(f) for f in folds], class_of, ls.classes)


def _target_lesion_types(kind: str, bundle_dir: Path, configs: Sequence[str], overrides: Mapping[str, Any],
                         task: Any) -> tuple[str, ...]:
    """The lesion types a detector or segmenter is scored on (its patch task's targets; masses to segment)."""
    if kind == "detection":
        from mammo_monai.engines.patch_tasks import patch_task

        return tuple(patch_task(task or "type").lesion_types)
    if kind == "segmentation":
        return ("mass",)
    return ()


def _lesion_problems(folds: Sequence[Mapping[str, Any]], lesion_types: Sequence[str]) -> list[str]:
    """A fold split with no lesion of the target types cannot train or score a detector or segmenter."""

    def class_of(item: Mapping[str, Any]) -> str | None:
        return "lesion" if any(les.get("type") in lesion_types for les in item.get("lesions") or []) else None

    return [p.replace("'lesion' item", f"{'/'.join(lesion_types)} lesion")
            for p in fold_class_problems(folds, class_of, ["lesion"], splits=("training", "test"))]


def _scored(pred_csv: Path, items: Sequence[Mapping[str, Any]], task: str, include_normal: bool,
            base: Path) -> tuple[list[int], list[float], list[str]]:
    """Truth, positive-class score and woman of each row of a binary task's prediction file."""
    ls = label_set(task, include_normal=include_normal)
    truth: dict[tuple[str | None, Any], tuple[int, str]] = {}
    for item in ls.items(items, require_position=ls.level != IMAGE_LEVEL):
        target = ls.target(item)
        if target is not None:
            key = (resolve_datalist_path(item.get(IMAGE), base),
                   None if ls.level == IMAGE_LEVEL else item.get("lesion_index"))
            truth[key] = (target, str(item.get(PATIENT_ID)))
    y, scores, women = [], [], []
    for row in read_predictions(pred_csv, ls):
        if row.probs is None:
            continue
        key = (resolve_datalist_path(row.image, pred_csv.parent),
               None if ls.level == IMAGE_LEVEL else row.lesion_index)
        if key in truth:
            y.append(truth[key][0])
            scores.append(float(row.probs[1]))
            women.append(truth[key][1])
    return y, scores, women


def _pool_csv(files: Sequence[Path], out: Path) -> Path:
    header: list[str] | None = None
    rows: list[dict[str, str]] = []
    for path in files:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            if header is None:
                header = list(reader.fieldnames or [])
            elif list(reader.fieldnames or []) != header:
                raise CrossValidationError(f"{path}: columns {reader.fieldnames} differ from the other folds' "
                                           f"{header}")
            rows.extend(reader)
    return write_csv(rows, out, header or ["image"])


def run_cross_validation(
    bundle: str | os.PathLike,
    datalist: str | os.PathLike,
    out: str | os.PathLike,
    n_folds: int = 5,
    configs: Sequence[str] = (),
    overrides: Mapping[str, Any] | None = None,
    val_fraction: float = 0.2,
    seed: int = 0,
    stratify: str | None = LESION_TYPES,
    n_resamples: int = 2000,
    folds_only: bool = False,
    infer_overrides: Mapping[str, Any] | None = None,
    train_from: str | os.PathLike | None = None,
    gate_cache: str | os.PathLike | None = None,
    fold_ensemble: bool = False,
    python: str = sys.executable,
) -> dict[str, Any]:
    """Cross-validate ``bundle`` by woman on every item of ``datalist`` (all its splits pooled); see the module.

    Args:
        bundle: the bundle folder (``configs/train.json``, ``inference.json``, ``metadata.json``,
            ``logging.conf``); its folder name says how its predictions are pooled (:data:`BUNDLE_KINDS`).
        datalist: a datalist JSON (``mammo-monai index ...``); its own split is ignored.
        out: the CV folder (created; an earlier CV there with the same folds is resumed).
        n_folds: folds (>= 2).
        configs: recipe layers over the bundle's configs (names inside ``bundle/configs`` or paths), e.g.
            ``["mias_cpu.json"]``.
        overrides: config values given to every ``monai.bundle`` command (``{"max_epochs": 20}``).
        val_fraction: each fold's share of training women kept for validation (early stopping, thresholds).
        seed: fold and inner-split seed; the bundles' own ``seed`` stays as configured.
        stratify: what the women are stratified by (default: worst pathology and lesion types).
        n_resamples: bootstrap draws of the CIs.
        folds_only: write the fold datalists and ``folds.json``, check them, and stop (no training).
        infer_overrides: config values given to the inference commands only (``{"tta": true}``): an inference-time
            option measured on the same fold models.
        train_from: an earlier CV folder with the same folds whose fold models are used instead of training (its
            ``fold_k/bundle``; nothing there is written): inference-time options on trained folds.
        gate_cache: segmentation only: where the two-stage detector's stage-1 candidates are cached for the film
            gate of the post-processing chosen in folds (:mod:`mammo_monai.engines.segmentation_rules`; default
            ``OUT/candidates``, computed when missing).
        fold_ensemble: classification only: predict each fold's test women with a fold ensemble (nested CV: one
            member per other fold, :func:`~mammo_monai.data.folds.ensemble_member_datalists`, in
            ``OUT/fold_k/member_j``; their mean probability through the bundle's ``ensemble_checkpoints``) instead
            of one model; the threshold is chosen on the members' out-of-fold scores of the fold's training women.
            ``n_folds - 1`` trainings per fold.
        python: the interpreter that runs ``monai.bundle``.

    Returns:
        the report written to ``OUT/cv_report.json``.

    Raises:
        CrossValidationError: (before any training) an unknown bundle, a missing config, too few women for the
            folds, a class with no example in some fold's split, folds that differ from an earlier run in
            ``out``; (later) a failed step, naming its log.
    """
    bundle_dir = Path(bundle).resolve()
    name = bundle_dir.name
    kind = _bundle_kind(bundle_dir, fold_ensemble, train_from is not None)
    overrides = dict(overrides or {})
    config_paths = [str(_config_path(bundle_dir, c)) for c in configs]
    task = bundle_setting(bundle_dir, config_paths, overrides, "task")
    include_normal = bool(bundle_setting(bundle_dir, config_paths, overrides, "include_normal", False))
    if kind == "classification" and task is None:
        raise CrossValidationError(f"{bundle_dir}: its configs name no literal 'task' (give --overrides "
                                   "'{\"task\": ...}')")
    lesion_types = _target_lesion_types(kind, bundle_dir, config_paths, overrides, task)
    datalist_path = Path(datalist).resolve()
    items = all_items(datalist_path)
    folds = _usable_folds(items, kind, task, include_normal, lesion_types, datalist_path, n_folds=n_folds,
                          val_fraction=val_fraction, seed=seed, stratify_key=stratify)
    out_dir = Path(out).resolve()
    ensure_outside_inputs(out, bundle_dir, datalist_path, train_from)
    owner = fold_of_patient(folds)
    assignment = {"n_folds": n_folds, "seed": seed, "val_fraction": val_fraction, "stratify": stratify,
                  "datalist": str(datalist_path), "fold_of_patient": owner}
    source = _check_earlier_runs(out_dir, assignment, train_from)
    write_json(assignment, out_dir / "folds.json")
    fold_dirs = [_Fold(out_dir, k) for k in range(n_folds)]
    for fold, part in zip(fold_dirs, folds):
        if not fold.datalist.is_file():
            write_json(part, fold.datalist)
    if folds_only:
        return assignment

    cv_start = time.perf_counter()
    infer_overrides = dict(infer_overrides or {})
    for fold in fold_dirs:
        if fold_ensemble:
            _run_ensemble_fold(fold, folds, bundle_dir / "configs", config_paths, overrides, infer_overrides, python)
        else:
            _run_fold(fold, kind, bundle_dir / "configs", config_paths, overrides, infer_overrides, source, python)

    if kind == "classification":
        # a fold ensemble's threshold comes from its members' scores of all the fold's training women
        scored = [{"validation": [*f["training"], *f["validation"]], "test": f["test"]} for f in folds]
        report = _score_classification(bundle_dir, fold_dirs, scored if fold_ensemble else folds, out_dir, task,
                                       include_normal, n_resamples, seed)
    elif kind == "detection":
        report = _score_pooled_folder(kind, fold_dirs, folds, out_dir, lesion_types, n_resamples, seed)
    else:
        label_source = bundle_setting(bundle_dir, config_paths, overrides, "label_source", "file")
        report = _score_segmentation(fold_dirs, folds, out_dir, lesion_types, str(label_source), gate_cache,
                                     n_resamples, seed)
    report.update(
        bundle=name, kind=kind, task=task, n_folds=n_folds, seed=seed, val_fraction=val_fraction,
        n_women=len(owner), n_items=len(items), configs=list(configs), overrides=overrides,
        infer_overrides=infer_overrides, train_from=str(source) if source else None, fold_ensemble=fold_ensemble,
        datalist=str(datalist_path),
        wall_seconds_this_run=time.perf_counter() - cv_start,
        wall_seconds_steps=sum(f.seconds(s) for f in fold_dirs
                               for s in ("training", *(f"inferring_{x}" for x in _INFER_SPLITS[kind]))),
        command=_cv_command(bundle, datalist, out, n_folds, configs, overrides, seed, infer_overrides, train_from,
                            gate_cache, fold_ensemble),
    )
    write_json(report, out_dir / "cv_report.json")
    atomic_write_text(out_dir / "cv_report.md", format_cv_markdown(report))
    return report


def _bundle_kind(bundle_dir: Path, fold_ensemble: bool, has_train_from: bool) -> str:
    """The bundle's kind (:data:`BUNDLE_KINDS`), refused when unknown, when a config is missing, or when a fold
    ensemble is asked of a kind it is not measured for or with earlier fold models (it trains its own members)."""
    kind = BUNDLE_KINDS.get(bundle_dir.name)
    if kind is None:
        raise CrossValidationError(f"{bundle_dir}: no cross-validation for bundle {bundle_dir.name!r}; known: "
                                   f"{sorted(BUNDLE_KINDS)}")
    for needed in ("train.json", "inference.json", "metadata.json", "logging.conf"):
        _config_path(bundle_dir, needed)
    if fold_ensemble and (kind != "classification" or has_train_from):
        raise CrossValidationError(f"{bundle_dir}: fold_ensemble is measured for the classification bundles and "
                                   "trains its own members (no train_from)")
    return kind


def _cv_command(bundle: str | os.PathLike, datalist: str | os.PathLike, out: str | os.PathLike, n_folds: int,
                configs: Sequence[str], overrides: Mapping[str, Any], seed: int, infer_overrides: Mapping[str, Any],
                train_from: str | os.PathLike | None, gate_cache: str | os.PathLike | None,
                fold_ensemble: bool) -> str:
    """The ``mammo-monai cv`` command line that reproduces a run."""
    return shlex.join(["mammo-monai", "cv", str(Path(bundle)), "--datalist", str(datalist), "--out", str(out),
                       "--folds", str(n_folds), "--configs", json.dumps(list(configs)),
                       "--overrides", json.dumps(dict(overrides)), "--seed", str(seed),
                       *(["--infer_overrides", json.dumps(dict(infer_overrides))] if infer_overrides else []),
                       *(["--train_from", str(train_from)] if train_from is not None else []),
                       *(["--gate_cache", str(gate_cache)] if gate_cache is not None else []),
                       *(["--fold_ensemble", "True"] if fold_ensemble else [])])


def _usable_folds(items: Sequence[Mapping[str, Any]], kind: str, task: Any, include_normal: bool,
                  lesion_types: Sequence[str], datalist_path: Path, **fold_args: Any) -> list[dict[str, Any]]:
    """The fold datalists, refused (naming what is missing) when a fold could not be trained or scored."""
    try:
        folds = cv_fold_datalists(items, **fold_args)
    except ValueError as e:
        raise CrossValidationError(f"{datalist_path}: {e}") from e
    problems = (_class_problems(folds, task, include_normal) if kind == "classification"
                else _lesion_problems(folds, lesion_types))
    if problems:
        what = f"task {task!r}" if kind == "classification" else f"{kind} of {list(lesion_types)}"
        shown = "; ".join(problems[:6]) + (f"; and {len(problems) - 6} more" if len(problems) > 6 else "")
        raise CrossValidationError(f"{datalist_path}: {what} cannot be cross-validated in {len(folds)} folds: "
                                   f"{shown}")
    return folds


def _check_earlier_runs(out_dir: Path, assignment: Mapping[str, Any],
                        train_from: str | os.PathLike | None) -> Path | None:
    """An earlier CV in ``out_dir`` must have the same folds (it is resumed); ``train_from`` too (its models are
    used). Returns ``train_from`` resolved."""
    owner = assignment["fold_of_patient"]
    folds_file = out_dir / "folds.json"
    if folds_file.is_file():
        earlier = json.loads(folds_file.read_text())
        if earlier.get("fold_of_patient") != owner or earlier.get("val_fraction") != assignment["val_fraction"]:
            raise CrossValidationError(f"{folds_file}: an earlier CV in {out_dir} used other folds; choose another "
                                       "--out (nothing was changed)")
    if train_from is None:
        return None
    source = Path(train_from).resolve()
    source_folds = source / "folds.json"
    if not source_folds.is_file() or json.loads(source_folds.read_text()).get("fold_of_patient") != owner:
        raise CrossValidationError(f"{source_folds}: train_from must be a CV of the same folds (same datalist, "
                                   "n_folds, seed and val_fraction)")
    if source == out_dir:
        raise CrossValidationError(f"{out_dir}: train_from is the output folder itself")
    return source


def _run_fold(fold: _Fold, kind: str, configs_dir: Path, config_paths: Sequence[str], overrides: Mapping[str, Any],
              infer_overrides: Mapping[str, Any], source: Path | None, python: str) -> None:
    """Train one fold (unless done, or its model comes from ``source``) and predict its women."""
    bundle_root = fold.bundle_root if source is None else _Fold(source, fold.k).bundle_root
    if source is not None and not (bundle_root / "models" / "model.pt").is_file():
        raise CrossValidationError(f"{bundle_root / 'models' / 'model.pt'}: fold {fold.k} of train_from has no "
                                   "trained model")
    common = _bundle_args(configs_dir, bundle_root, fold.datalist, overrides)
    if source is None:
        _bundle_step(fold, "training", python, configs_dir, config_paths, common, f"fold {fold.k} training")
    infer_extra = _infer_args(kind, overrides, infer_overrides)
    for split in _INFER_SPLITS[kind]:
        _bundle_step(fold, f"inferring_{split}", python, configs_dir, config_paths,
                     [*common, *infer_extra, "--output_dir", str(fold.output_dir(kind, split)), "--infer_split", split],
                     f"fold {fold.k} inference on its {split} women")


def _bundle_step(unit: _Fold, step: str, python: str, configs_dir: Path, config_paths: Sequence[str],
                 args: Sequence[str], what: str) -> None:
    """``python -m monai.bundle run`` of ``step`` (``training`` on ``train.json``, ``inferring_*`` on
    ``inference.json``, each with the recipe layers) for a fold or member, unless its marker says it is done; its
    log is ``<unit>/<step>.log`` and its wall time goes into the marker."""
    if unit.done(step):
        return
    run, config = ("training", "train.json") if step == "training" else ("inferring", "inference.json")
    layers = json.dumps([str(configs_dir / config), *config_paths])
    unit.mark(step, _run_step([python, "-m", "monai.bundle", "run", run, "--config_file", layers, *args],
                              unit.dir / f"{step}.log", what))


def _bundle_args(configs_dir: Path, bundle_root: Path, datalist: Path, overrides: Mapping[str, Any]) -> list[str]:
    """The arguments every ``monai.bundle`` command of a fold gets."""
    return ["--meta_file", str(configs_dir / "metadata.json"), "--logging_file", str(configs_dir / "logging.conf"),
            "--bundle_root", str(bundle_root), "--datalist", str(datalist),
            *(a for k, v in overrides.items() for a in (f"--{k}", _cli_value(v)))]


def _infer_args(kind: str, overrides: Mapping[str, Any], infer_overrides: Mapping[str, Any]) -> list[str]:
    """The CV's own inference settings (unless the user set them) and the inference-only overrides."""
    settings = {**{k: v for k, v in _INFER_OVERRIDES[kind].items() if k not in overrides}, **infer_overrides}
    return [a for k, v in settings.items() for a in (f"--{k}", _cli_value(v))]


def _run_ensemble_fold(fold: _Fold, folds: Sequence[Mapping[str, Any]], configs_dir: Path,
                       config_paths: Sequence[str], overrides: Mapping[str, Any], infer_overrides: Mapping[str, Any],
                       python: str) -> None:
    """Fold ``k`` as a fold ensemble (classification): train its members (``fold_k/member_j``), each predicting its
    validation fold; pool those into the fold's validation file and predict the test women with all members."""
    infer_extra = _infer_args("classification", overrides, infer_overrides)
    members = []
    for j, part in ensemble_member_datalists(folds, fold.k):
        member = _Fold(fold.dir, j, prefix="member")
        members.append(member)
        if not member.datalist.is_file():
            write_json(part, member.datalist)
        common = _bundle_args(configs_dir, member.bundle_root, member.datalist, overrides)
        what = f"fold {fold.k} member {j}"
        _bundle_step(member, "training", python, configs_dir, config_paths, common, f"{what} training")
        _bundle_step(member, "inferring_validation", python, configs_dir, config_paths,
                     [*common, *infer_extra, "--output_dir", str(member.predictions), "--infer_split", "validation"],
                     f"{what} inference on fold {j}")
    if not fold.done("training"):
        fold.mark("training", sum(m.seconds("training") for m in members))
    if not fold.done("inferring_validation"):
        _pool_csv([m.predictions / "validation_probabilities.csv" for m in members],
                  fold.predictions / "validation_probabilities.csv")
        fold.mark("inferring_validation", sum(m.seconds("inferring_validation") for m in members))
    checkpoints = [str(m.bundle_root / "models" / "model.pt") for m in members]
    common = _bundle_args(configs_dir, fold.bundle_root, fold.datalist, overrides)
    _bundle_step(fold, "inferring_test", python, configs_dir, config_paths,
                 [*common, *infer_extra, "--ensemble_checkpoints", _cli_value(checkpoints), "--output_dir",
                  str(fold.predictions), "--infer_split", "test"],
                 f"fold {fold.k} ensemble inference on its test women")


def _score_classification(bundle_dir: Path, fold_dirs: Sequence[_Fold], folds: Sequence[Mapping[str, Any]],
                          out_dir: Path, task: str, include_normal: bool, n_resamples: int,
                          seed: int) -> dict[str, Any]:
    """Pool the folds' test probabilities, score them, and add the operating point at the fold thresholds."""
    ls = label_set(task, include_normal=include_normal)
    oof_dir = out_dir / "oof"
    tests = [f.predictions / "test_probabilities.csv" for f in fold_dirs]
    for path in tests:
        if not path.is_file():
            raise CrossValidationError(f"{path}: the fold's test predictions are missing (see its inferring log)")
    oof_csv = _pool_csv(tests, oof_dir / "test_probabilities.csv")
    oof_datalist = oof_dir / "datalist.json"
    write_json(out_of_fold_datalist(folds), oof_datalist)
    evaluation = evaluate_classification(oof_csv, oof_datalist, out_dir / "report", task=task, split="test",
                                         include_normal=include_normal, n_resamples=n_resamples, seed=seed,
                                         overwrite=True)
    metrics = evaluation.summary
    headline: dict[str, Any] = {"auc": _interval(((metrics.get("metrics") or {}).get("auc") or {}).get("macro"))}
    per_fold: list[dict[str, Any]] = []
    report: dict[str, Any] = {"report_dir": str(out_dir / "report"), "oof_predictions": str(oof_csv)}
    if ls.is_binary:
        validation = []
        y, scores, fold_ids, women = [], [], [], []
        for fold, part in zip(fold_dirs, folds):
            validation.append(_scored(fold.predictions / "validation_probabilities.csv", part["validation"], task,
                                      include_normal, fold.datalist.parent)[:2])
            ty, ts, tw = _scored(fold.predictions / "test_probabilities.csv", part["test"], task, include_normal,
                                 fold.datalist.parent)
            y += ty
            scores += ts
            women += tw
            fold_ids += [fold.k] * len(ty)
        chosen = fold_thresholds(validation)
        thresholds = [t for t, _ in chosen]
        point = pooled_operating_point(y, scores, fold_ids, thresholds, women, n_resamples=n_resamples, seed=seed)
        headline["sensitivity_at_fold_threshold"] = point["sensitivity"]
        headline["specificity_at_fold_threshold"] = point["specificity"]
        headline["balanced_accuracy_at_fold_threshold"] = point["balanced_accuracy"]
        report["operating_point"] = point
        report["shipped_threshold"] = shipped_threshold(thresholds)
        from sklearn.metrics import roc_auc_score

        for fold, (t, info) in zip(fold_dirs, chosen):
            fy = [yy for yy, k in zip(y, fold_ids) if k == fold.k]
            fs = [ss for ss, k in zip(scores, fold_ids) if k == fold.k]
            per_fold.append({"fold": fold.k, "n_test": len(fy), "n_test_positive": int(sum(fy)),
                             "threshold": t, "threshold_note": info.get("reason", ""),
                             "test_auc": float(roc_auc_score(fy, fs)) if len(set(fy)) == 2 else None,
                             "train_s": round(fold.seconds("training"), 1)})
    else:
        per_fold = [{"fold": f.k, "n_test": len(p["test"]), "train_s": round(f.seconds("training"), 1)}
                    for f, p in zip(fold_dirs, folds)]
    report.update(headline=headline, folds=per_fold, evaluator_summary=metrics)
    return report


def _score_segmentation(fold_dirs: Sequence[_Fold], folds: Sequence[Mapping[str, Any]], out_dir: Path,
                        lesion_types: Sequence[str], label_source: str, gate_cache: str | os.PathLike | None,
                        n_resamples: int, seed: int) -> dict[str, Any]:
    """The pooled masks as inferred, then the post-processing chosen inside folds (with and without the detector's
    film gate), all against the target lesions only, drawn the way the recipe drew its training masks."""
    truth_folds = target_truth_folds(folds, out_dir, lesion_types, label_source)
    report = _score_pooled_folder("segmentation", fold_dirs, truth_folds, out_dir, lesion_types, n_resamples, seed)
    arms = score_segmentation_rules(truth_folds, [(f.output_dir("segmentation", "validation"),
                                                   f.output_dir("segmentation", "test")) for f in fold_dirs],
                                    out_dir, gate_cache, lesion_types, n_resamples=n_resamples, seed=seed)
    report["post_processing"] = arms
    for arm, entry in arms.items():
        report["headline"].update({f"{key} ({arm})": value for key, value in entry["headline"].items()})
    return report


def _score_pooled_folder(kind: str, fold_dirs: Sequence[_Fold], folds: Sequence[Mapping[str, Any]], out_dir: Path,
                         lesion_types: Sequence[str], n_resamples: int, seed: int) -> dict[str, Any]:
    """Pool the folds' per-image test outputs (candidate JSONs or masks) into one folder and score it."""
    from mammo_monai.evaluation import evaluate_detection, evaluate_segmentation

    pooled = out_dir / "oof" / ("detections" if kind == "detection" else "masks")
    wanted = "*.json" if kind == "detection" else "*_seg.*"
    for fold in fold_dirs:
        source = fold.output_dir(kind, "test")
        if not source.is_dir():
            raise CrossValidationError(f"{source}: the fold's test predictions are missing (see its inferring log)")
        target = pooled / f"fold_{fold.k}"
        target.mkdir(parents=True, exist_ok=True)
        for path in sorted(source.rglob(wanted)):
            (target / path.relative_to(source)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target / path.relative_to(source))
    oof_datalist = out_dir / "oof" / "datalist.json"
    write_json(out_of_fold_datalist(folds), oof_datalist)
    report_dir = out_dir / "report"
    headline: dict[str, Any] = {}
    if kind == "detection":
        evaluation = evaluate_detection(pooled, oof_datalist, report_dir, lesion_types=list(lesion_types),
                                        n_resamples=n_resamples, seed=seed, overwrite=True)
        summary = evaluation.summary
        overall = (summary.get("metrics") or {}).get("all") or {}
        headline["cpm"] = _interval(overall.get("cpm"))
        headline["sensitivity_at_1_fp_per_image"] = _interval((overall.get("sensitivity") or {}).get("1"))
    else:
        evaluation = evaluate_segmentation(pooled, oof_datalist, report_dir, n_resamples=n_resamples, seed=seed,
                                           overwrite=True)
        summary = evaluation.summary
        headline.update(segmentation_headline(summary))
    per_fold = [{"fold": f.k, "n_test": len(p["test"]), "train_s": round(f.seconds("training"), 1)}
                for f, p in zip(fold_dirs, folds)]
    return {"report_dir": str(report_dir), "oof_predictions": str(pooled), "headline": headline,
            "folds": per_fold, "evaluator_summary": summary}


def _interval(entry: Any, estimate_key: str = "estimate", ci_key: str = "ci") -> dict[str, Any] | None:
    """An evaluator's ``{"estimate", "ci": [low, high]}`` (or ``{"mean", "mean_ci"}``) as ``{"estimate", "low",
    "high"}``; None when the evaluator gave nothing."""
    if not isinstance(entry, Mapping):
        return None
    low, high, *_ = [*(entry.get(ci_key) or []), None, None]
    return {"estimate": entry.get(estimate_key), "low": low, "high": high}
