"""Runs the ``mammo_image_classification`` bundle's configs for real (tiny, CPU) through ``python -m monai.bundle``.

Every run works on a copy of the bundle in a temporary folder (``--bundle_root``); the embedded default data (a
synthetic CBIS-DDSM-shaped dataset, task ``malignant``) is generated there once. Overrides keep it fast: 64 px
images, a small ``DenseNet`` instead of DenseNet121 (``bundle_checks.SPECS``). What every bundle must satisfy
(configs, checkpoints, verify_net_in_out on DenseNet121, verify_metadata, ckpt_export, DDP) is in
``test_bundle_conventions.py``.
"""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from .bundle_checks import SPECS, config_list, meta_args, run_bundle

SPEC = SPECS["mammo_image_classification"]
TINY = list(SPEC.tiny)


@pytest.fixture(scope="module")
def bundle(trained_bundle: Callable[[str], Path]) -> Path:
    """The session's copy of the bundle, trained for 2 epochs on the embedded default data (``conftest.py``)."""
    return trained_bundle(SPEC.name)


def _datalist(bundle: Path) -> dict:
    return json.loads((bundle / "data" / "synthetic" / "datalist.json").read_text())


@pytest.mark.parametrize("imbalance", ["sampler", "focal"])
def test_other_imbalance_choices_train(bundle: Path, tmp_path: Path, imbalance: str) -> None:
    root = tmp_path / "b"
    shutil.copytree(bundle, root, ignore=shutil.ignore_patterns("models", "eval", "predictions"))
    out = run_bundle(["run", "training", "--config_file", config_list(root, "train.json", str(root / "small_net.json")),
                      *meta_args(root), *TINY, "--train#trainer#max_epochs", "1", "--imbalance", imbalance], root)
    assert (root / "models" / "model_final.pt").is_file(), out[-2000:]


def test_evaluate_writes_metrics_and_probabilities(bundle: Path) -> None:
    run_bundle(["run", "evaluating", "--config_file",
                config_list(bundle, "train.json", "evaluate.json", str(bundle / "small_net.json")),
                *meta_args(bundle), *TINY],
               bundle)
    metrics = (bundle / "eval" / "metrics.csv").read_text()
    assert "val_auc" in metrics and "val_accuracy" in metrics
    with open(bundle / "eval" / "test_probabilities.csv") as f:
        rows = list(csv.DictReader(f))
    assert rows and set(rows[0]) == {"image", "prob_non_malignant", "prob_malignant"}


def test_inference_probabilities_feed_the_evaluation_cli(bundle: Path, tmp_path: Path) -> None:
    from mammo_monai.cli import main

    for split in ("validation", "test"):
        run_bundle(["run", "inferring", "--config_file",
                    config_list(bundle, "inference.json", str(bundle / "small_net.json")),
                    *meta_args(bundle), *TINY, "--infer_split", split], bundle)
    test_csv = bundle / "predictions" / "test_probabilities.csv"
    with open(test_csv) as f:
        rows = list(csv.DictReader(f))
    items = _datalist(bundle)["test"]
    assert sorted(r["image"] for r in rows) == sorted(i["image"] for i in items)
    probs = np.array([[float(r["prob_non_malignant"]), float(r["prob_malignant"])] for r in rows])
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5) and ((probs >= 0) & (probs <= 1)).all()
    out = tmp_path / "report"
    assert main(["eval", "classification", "--pred", str(test_csv), "--label",
                 str(bundle / "data" / "synthetic" / "datalist.json"), "--out", str(out), "--task", "malignant",
                 "--val_pred", str(bundle / "predictions" / "validation_probabilities.csv"),
                 "--n_resamples", "50"]) == 0
    report = json.loads((out / "classification_metrics.json").read_text())
    assert report["task"]["name"] == "malignant" and (out / "roc.png").is_file()


def test_pretrained_weights_from_a_path(bundle: Path, tmp_path: Path) -> None:
    """Fine-tuning starts from user-supplied weights (never downloaded); a missing file is a clear error."""
    root = tmp_path / "b"
    shutil.copytree(bundle, root, ignore=shutil.ignore_patterns("models", "eval", "predictions"))
    weights = bundle / "models" / "model.pt"
    out = run_bundle(["run", "training", "--config_file", config_list(root, "train.json", str(root / "small_net.json")),
                      *meta_args(root), *TINY, "--train#trainer#max_epochs", "1",
                      "--pretrained_weights", str(weights)], root)
    assert "pretrained_weights: loaded" in out


def test_one_listed_transform_is_overridden_from_the_cli(tmp_path: Path) -> None:
    """The pipelines list their transforms (issue 22): one transform's parameter is a ``monai.bundle run`` override.

    A probe run saves what the train and validate pipelines make of one training item, with the padding's size
    (``mammogram_preprocessing#transforms#5``: ``SpatialPadd``) and the augmentations' probabilities / intensity
    factor (``train#augmentation#transforms#K``) overridden on the command line.
    """
    import torch

    root = tmp_path / "b"
    shutil.copytree(SPEC.source, root, ignore=shutil.ignore_patterns("models", "data", "eval", "*predictions"))
    item = "dict(@train#items[0])"
    probe = {"probe": [f"$torch.save((@train#preprocessing({item})['image'], @validate#preprocessing({item})['image']),"
                       " @bundle_root + '/probe.pt')"]}
    (root / "probe.json").write_text(json.dumps(probe))
    augmentation = "--train#augmentation#transforms#"
    run_bundle(["run", "probe", "--config_file", config_list(root, "train.json", str(root / "probe.json")),
                *meta_args(root), *TINY, "--mammogram_preprocessing#transforms#5#spatial_size", "[80,80]",
                *[a for k in (0, 2, 3) for a in (f"{augmentation}{k}#prob", "0.0")],
                f"{augmentation}1#prob", "1.0", f"{augmentation}1#factors", "[1.0,1.0]"], root)
    train, val = torch.load(root / "probe.pt", weights_only=False)
    assert tuple(val.shape) == tuple(train.shape) == (1, 80, 80)  # the 64-px image (TINY) padded to 80
    assert val[:, :, 64:].abs().max() == 0 and val.max() > 0.5
    # only the intensity scale is left, with factor 1: x (1 + 1)
    assert torch.equal(torch.as_tensor(train), 2 * torch.as_tensor(val))
