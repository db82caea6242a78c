"""The ``mammo-monai`` command line (python-fire): thin wrappers that call the library and print summaries.

    mammo-monai index mias DIR --out FILE
    mammo-monai index cbis_ddsm ROOT --csv_dir DIR --out FILE
    mammo-monai index dicom DIR --out FILE
    mammo-monai restructure cbis_ddsm ROOT OUT [--mode copy] [--dry_run]
    mammo-monai synth cbis_ddsm OUT --n_patients N --seed S
    mammo-monai synth mias OUT
    mammo-monai eval segmentation --pred DIR_OR_DATALIST --label DATALIST --out DIR
    mammo-monai eval classification --pred CSV_OR_JSON --label DATALIST --out DIR --task TASK [--val_pred FILE]
    mammo-monai eval detection --pred DIR --label DATALIST --out DIR [--lesion_types '["mass"]']
    mammo-monai info FILE
    mammo-monai cv BUNDLE_DIR --datalist DATALIST --out DIR [--folds 5] [--configs '["mias_cpu.json"]']
    mammo-monai two_stage_cv --datalist DATALIST --out DIR [--folds 5]
    mammo-monai film_classifier_cv --datalist DATALIST --out DIR [--folds 5] [--candidates_cache DIR]
    mammo-monai demo [--out DIR]

Every command that writes refuses to overwrite an existing output unless given ``--overwrite``.
Errors that name a file (missing input, unreadable DICOM, existing output, an output inside an input folder)
are printed on one line and exit with status 2, without a traceback. An ``index`` run reports each bad
file/line/row in its problem report and goes on; it exits with status 1 only when nothing at all could be
indexed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import fire

from .data.summary import format_summary
from .io import MammogramReadError

__all__ = ["main"]

_USER_ERRORS = (OSError, MammogramReadError, ValueError)


class NothingIndexedError(RuntimeError):
    """An indexer ran but no image could be indexed: every input was a reported problem (exit status 1)."""


def _print_index(result: Any) -> None:
    """Print the summary; raise :class:`NothingIndexedError` when the datalist is empty (the report says why)."""
    print(format_summary(result.summary, result.problems))
    if not result.summary.get("images"):
        raise NothingIndexedError(f"nothing could be indexed ({len(result.problems)} problem(s)); see the problem "
                                  f"report {result.summary.get('problems_path')}")


class Index:
    """Turn a download into a MONAI datalist JSON (training/validation/test, one item per image)."""

    def mias(self, mias_dir: str, out: str, masks_dir: str | None = None, fractions: dict | None = None,
             seed: int = 0, overwrite: bool = False, progress: bool = True, stratify: str = "pathology",
             mask_types: list | None = None) -> None:
        """Index a MIAS folder (Info.txt + mdbNNN.png/pgm); lesion circles become masks beside OUT.
        --stratify lesion_types spreads the women of each lesion type over the splits; --mask_types '["mass"]'
        keeps only masses in the masks (mass segmentation)."""
        from .data.mias import index_mias

        _print_index(index_mias(mias_dir, out, masks_dir=masks_dir, fractions=fractions, seed=seed,
                                overwrite=overwrite, progress=progress, stratify=stratify, mask_types=mask_types))

    def cbis_ddsm(self, root: str, csv_dir: str, out: str, masks_dir: str | None = None, abnormality: str = "both",
                  val_fraction: float = 0.1, seed: int = 0, overwrite: bool = False, progress: bool = True) -> None:
        """Index a CBIS-DDSM TCIA download (either folder layout) with its four case-description CSVs."""
        from .data.cbis_ddsm import index_cbis_ddsm

        _print_index(index_cbis_ddsm(root, csv_dir, out, masks_dir=masks_dir, overwrite=overwrite,
                                     abnormality=abnormality, val_fraction=val_fraction, seed=seed,
                                     progress=progress))

    def dicom(self, dicom_dir: str, out: str, fractions: dict | None = None, seed: int = 0,
              modalities: tuple[str, ...] = ("MG",), overwrite: bool = False, progress: bool = True) -> None:
        """Index any folder of MG DICOM (grouped by patient/study; no findings)."""
        from .data.dicom_folder import index_dicom_folder

        _print_index(index_dicom_folder(dicom_dir, out, fractions=fractions, seed=seed, modalities=modalities,
                                        overwrite=overwrite, progress=progress))


class Restructure:
    """Build other layouts from a download, by hard link or copy; the originals are never touched."""

    def cbis_ddsm(self, root: str, out: str, mode: str = "hardlink", dry_run: bool = False,
                  progress: bool = True) -> None:
        """Flat descriptive layout: Mass-Train_P_00038_LEFT_CC_FULL.dcm, ..._CROP_1.dcm, ..._MASK_1.dcm."""
        from .data.restructure import restructure_cbis_ddsm

        summary = restructure_cbis_ddsm(root, out, mode=mode, dry_run=dry_run, progress=progress)
        problems = summary.get("problems") or []
        for key, value in summary.items():
            if key != "problems":
                print(f"{key}: {value}")
        print(f"problems: {len(problems)}")
        for problem in list(problems)[:20]:
            print(f"  {problem}")


class Eval:
    """Evaluate predictions against a datalist: metrics, bootstrap CIs resampled by patient, reports, plots."""

    def segmentation(self, pred: str, label: str, out: str, split: str = "test", threshold: float = 0.5,
                     spacing: float | None = None, n_resamples: int = 2000, seed: int = 0, overlays: int = 4,
                     overwrite: bool = False) -> None:
        """Dice, IoU, HD95 per image + summary with 95% CIs; PRED is a mask folder or a datalist with 'pred'."""
        from .evaluation import evaluate_segmentation, format_segmentation_summary

        report = evaluate_segmentation(pred, label, out, split=split, threshold=threshold, spacing=spacing,
                                       n_resamples=n_resamples, seed=seed, overlays=overlays, overwrite=overwrite)
        print(format_segmentation_summary(report))

    def classification(self, pred: str, label: str, out: str, task: str, split: str = "test",
                       val_pred: str | None = None, include_normal: bool = False,
                       fixed_sensitivities: tuple[float, ...] = (0.9,), n_resamples: int = 2000, seed: int = 0,
                       n_bins: int = 10, overwrite: bool = False) -> None:
        """AUC, balanced accuracy, per-class metrics, operating points, ECE with 95% CIs + ROC/PR/reliability PNGs.
        TASK: abnormal | malignant (image level), pathology | type_pathology (lesion level); PRED: a CSV/JSON
        with image[, lesion_index], prob_<class>; --val_pred (validation predictions) chooses the binary threshold."""
        from .evaluation import evaluate_classification, format_classification_summary

        report = evaluate_classification(pred, label, out, task, split=split, val_pred=val_pred,
                                         include_normal=include_normal, fixed_sensitivities=fixed_sensitivities,
                                         n_resamples=n_resamples, seed=seed, n_bins=n_bins, overwrite=overwrite)
        print(format_classification_summary(report))

    def detection(self, pred: str, label: str, out: str, split: str = "test",
                  lesion_types: tuple[str, ...] = ("mass", "calcification"),
                  fp_rates: tuple[float, ...] = (0.125, 0.25, 0.5, 1, 2, 4, 8), n_resamples: int = 2000,
                  seed: int = 0, overwrite: bool = False) -> None:
        """Lesion-level FROC: sensitivity at FP_RATES false positives per image and CPM with 95% CIs, overall and per
        lesion type, + per-lesion/per-image CSVs and a FROC PNG. PRED: a folder of per-image JSON files
        {"image", "candidates": [{"score", "center": [row, col]}, ...]} in the original image's pixel grid;
        --lesion_types: the targets (other types are ignored)."""
        from .evaluation import evaluate_detection, format_detection_summary

        report = evaluate_detection(pred, label, out, split=split, lesion_types=lesion_types, fp_rates=fp_rates,
                                    n_resamples=n_resamples, seed=seed, overwrite=overwrite)
        print(format_detection_summary(report))


class Synth:
    """Write small synthetic datasets shaped like the real downloads (for tests, demos, smoke runs)."""

    def cbis_ddsm(self, out: str, n_patients: int = 6, seed: int = 0, image_shape: tuple[int, int] = (512, 320),
                  layout: str = "tcia", overwrite: bool = False) -> None:
        """A CBIS-DDSM-shaped tree (nested UID folders, real CSV columns and quirks) + ground_truth.json."""
        from .data.synthetic import synthesize_cbis_ddsm

        summary = synthesize_cbis_ddsm(out, n_patients=n_patients, seed=seed, image_shape=tuple(image_shape),
                                       layout=layout, overwrite=overwrite)
        print(json.dumps(summary, indent=1, default=str))

    def mias(self, out: str, n_patients: int = 4, seed: int = 0, size: int = 1024, fmt: str = "pgm",
             overwrite: bool = False) -> None:
        """A MIAS-shaped folder (mdbNNN.pgm + Info.txt in every line form) + ground_truth.json."""
        from .data.synthetic import synthesize_mias

        summary = synthesize_mias(out, n_patients=n_patients, seed=seed, size=size, fmt=fmt, overwrite=overwrite)
        print(json.dumps(summary, indent=1, default=str))


class Cli:
    """mammo-monai: from a mammography download to MONAI datalists, models and reports."""

    def __init__(self) -> None:
        self.index = Index()
        self.restructure = Restructure()
        self.synth = Synth()
        self.eval = Eval()

    def info(self, path: str, apply_voi_lut: bool = False) -> None:
        """Decode one mammogram and print its metadata, shape and pixel range."""
        from .io import read_mammogram

        arr, meta = read_mammogram(path, apply_voi_lut=apply_voi_lut)
        shown = {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in meta.items()}
        shown.update({"shape": list(arr.shape), "dtype": str(arr.dtype), "min": arr.min().item(),
                      "max": arr.max().item()})
        print(json.dumps(shown, indent=1, default=str))

    def cv(self, bundle: str, datalist: str, out: str, folds: int = 5, configs: list | str | None = None,
           overrides: dict | None = None, val_fraction: float = 0.2, seed: int = 0, n_resamples: int = 2000,
           folds_only: bool = False, infer_overrides: dict | None = None, train_from: str | None = None,
           gate_cache: str | None = None, fold_ensemble: bool = False) -> None:
        """Cross-validate a bundle by woman: train each fold through its train.json (+ --configs recipes,
        --overrides values), predict each fold's held-out women, pool the out-of-fold predictions and score them
        (thresholds chosen inside each fold's training women); OUT/cv_report.{json,md} + OUT/report/.
        --infer_overrides '{"tta": true}' --train_from EARLIER_OUT: an inference option on the same fold models.
        Segmentation: the post-processing rule and the detector's film gate are chosen on each fold's validation
        women too (OUT/report_rule, OUT/report_rule_gate); --gate_cache DIR reuses the detector's candidates.
        --fold_ensemble True (classification): each fold's test women scored by the mean of folds-1 member models
        trained inside the fold (nested CV), the threshold chosen on the members' scores of its training women."""
        from .engines.cross_validation import json_literals, run_cross_validation
        from .evaluation.cross_validation import format_cv_markdown

        layers = [configs] if isinstance(configs, str) else list(configs or [])
        report = run_cross_validation(bundle, datalist, out, n_folds=folds, configs=layers,
                                      overrides=json_literals(overrides or {}), val_fraction=val_fraction, seed=seed,
                                      n_resamples=n_resamples, folds_only=folds_only,
                                      infer_overrides=json_literals(infer_overrides or {}), train_from=train_from,
                                      gate_cache=gate_cache, fold_ensemble=bool(json_literals(fold_ensemble)))
        if folds_only:
            print(f"folds written: {Path(out) / 'folds.json'} and {Path(out)}/fold_*/datalist.json")
        else:
            print(format_cv_markdown(report))

    def two_stage_cv(self, datalist: str, out: str, folds: int = 5, seed: int = 0, lesion_types: list | None = None,
                     spatial_size: int = 256, n_resamples: int = 2000, crop_embedding: bool = False,
                     blend_lesions: int = 0, blend_seed: int | None = None) -> None:
        """Two-stage mass detection cross-validated by woman (blob candidates, then a gradient-boosting false-positive
        classifier with and without the other breast's features): FROC of each arm on the same folds as `cv`.
        --crop_embedding True: two more arms with CNN features of two-scale candidate crops (an autoencoder
        pretrained on every film's unlabelled crops, and the same network untrained as the control).
        --blend_lesions N: one more arm whose stage 2 also learns from each training mass blended into N normal
        films of the fold's other training women (--blend_seed S: draw them with another seed)."""
        from .engines.two_stage_detection import cross_validate_two_stage, format_two_stage_markdown

        print(format_two_stage_markdown(cross_validate_two_stage(
            datalist, out, n_folds=folds, seed=seed, lesion_types=lesion_types or ["mass"],
            spatial_size=spatial_size, n_resamples=n_resamples, crop_embedding=bool(crop_embedding),
            blend_lesions=int(blend_lesions), blend_seed=None if blend_seed is None else int(blend_seed))))

    def film_classifier_cv(self, datalist: str, out: str, folds: int = 5, seed: int = 0,
                           candidates_cache: str | None = None, n_resamples: int = 2000) -> None:
        """Normal vs abnormal films from handcrafted film features (density, asymmetry against the other breast,
        calcification spots, the detector's best candidates) and gradient boosting, cross-validated by woman on the
        same folds as `cv`: AUC, sensitivity/specificity at thresholds chosen inside folds, AUC per lesion type.
        --candidates_cache: the candidates of an earlier `two_stage_cv` run (OUT/candidates)."""
        from .engines.film_classifier import cross_validate_film_classifier, format_film_classifier_markdown

        print(format_film_classifier_markdown(cross_validate_film_classifier(
            datalist, out, n_folds=folds, seed=seed, candidates_cache=candidates_cache, n_resamples=n_resamples)))

    def demo(self, out: str = "outputs/demo", epochs: int = 30, image_size: int = 256, n_patients: int = 32,
             seed: int = 0, bundle: str | None = None) -> None:
        """The whole path on the embedded default data: synthesise, index, train, evaluate, infer, report."""
        import mammo_monai
        from mammo_monai.engines.demo import run_demo

        bundle_dir = Path(bundle) if bundle else Path(mammo_monai.__file__).resolve().parents[1] / "bundles" / \
            "mammo_mass_segmentation"
        if not (bundle_dir / "configs" / "train.json").is_file():
            raise FileNotFoundError(f"{bundle_dir}: mass segmentation bundle not found (pass --bundle DIR)")
        from .evaluation import format_segmentation_summary

        outputs, report = run_demo(out, bundle_dir, epochs=epochs, image_size=image_size, n_patients=n_patients,
                                   seed=seed, log=print)
        print(format_segmentation_summary(report))
        print("\ndone (a smoke run on synthetic data: its Dice says nothing about real mammograms). outputs:")
        for name, path in outputs.items():
            print(f"  {name:<12} {path}")


def main(argv: list[str] | None = None) -> int:
    """Console entry point (``mammo-monai``)."""
    try:
        fire.Fire(Cli, command=argv, name="mammo-monai")
    except NothingIndexedError as e:
        print(f"mammo-monai: error: {e}", file=sys.stderr)
        return 1
    except _USER_ERRORS as e:
        print(f"mammo-monai: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
