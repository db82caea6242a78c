"""Runs the ``mammo_image_classification`` bundle's configs for real (tiny, CPU) through ``python -m monai.bundle``.

Every run works on a copy of the bundle in a temporary folder (``--bundle_root``); the embedded default data (a
synthetic CBIS-DDSM-shaped dataset, task ``malignant``) is generated there once. Overrides keep it fast: 64 px
images, a small ``DenseNet`` instead of DenseNet121 (which :func:`test_verify_net_in_out` checks on its own).
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from .bundle_checks import (
    ckpt_export_matches_checkpoint,
    config_list,
    ddp_trains_one_epoch,
    meta_args,
    run_bundle,
    verify_metadata,
    verify_net_in_out,
)

BUNDLE = Path(__file__).resolve().parents[2] / "bundles" / "mammo_image_classification"
SMALL_NET = {"network_def": {"_target_": "DenseNet", "spatial_dims": 2, "in_channels": 1,
                             "out_channels": "@num_classes", "init_features": 8, "growth_rate": 4,
                             "block_config": [2, 2]}}
TINY = ["--image_size", "64", "--n_patients", "8", "--num_workers", "0", "--batch_size", "4"]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the bundle, trained for 2 epochs on the embedded default data (small DenseNet, 64 px)."""
    root = tmp_path_factory.mktemp("bundle") / "mammo_image_classification"
    shutil.copytree(BUNDLE, root, ignore=shutil.ignore_patterns("models", "data", "eval", "predictions"))
    (root / "small_net.json").write_text(json.dumps(SMALL_NET))
    run_bundle(["run", "training", "--config_file", config_list(root, "train.json", str(root / "small_net.json")),
                *meta_args(root), *TINY, "--train#trainer#max_epochs", "2"], root)
    return root


def _datalist(bundle: Path) -> dict:
    return json.loads((bundle / "data" / "synthetic" / "datalist.json").read_text())


def test_configs_are_valid_json() -> None:
    for path in sorted((BUNDLE / "configs").glob("*.json")):
        json.loads(path.read_text())
    assert (BUNDLE / "LICENSE").is_file() and (BUNDLE / "docs" / "README.md").is_file()


def test_training_writes_checkpoints_and_validates_by_auc(bundle: Path) -> None:
    models = bundle / "models"
    for name in ("model.pt", "model_final.pt", "checkpoint_epoch=2.pt"):
        assert (models / name).is_file(), sorted(p.name for p in models.iterdir())
    state = torch.load(models / "checkpoint_epoch=2.pt", map_location="cpu", weights_only=False)
    assert {"model", "optimizer", "lr_scheduler", "trainer"} <= set(state)


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


def test_verify_net_in_out() -> None:
    """The default network (DenseNet121 on 1024 x 1024) against ``network_data_format``."""
    verify_net_in_out(BUNDLE, n=1)


def test_verify_metadata(tmp_path: Path) -> None:
    verify_metadata(BUNDLE, tmp_path)


def test_ckpt_export(bundle: Path) -> None:
    ckpt_export_matches_checkpoint(bundle, bundle / "small_net.json", (2, 1, 64, 64))


def test_pretrained_weights_from_a_path(bundle: Path, tmp_path: Path) -> None:
    """Fine-tuning starts from user-supplied weights (never downloaded); a missing file is a clear error."""
    root = tmp_path / "b"
    shutil.copytree(bundle, root, ignore=shutil.ignore_patterns("models", "eval", "predictions"))
    weights = bundle / "models" / "model.pt"
    out = run_bundle(["run", "training", "--config_file", config_list(root, "train.json", str(root / "small_net.json")),
                      *meta_args(root), *TINY, "--train#trainer#max_epochs", "1",
                      "--pretrained_weights", str(weights)], root)
    assert "pretrained_weights: loaded" in out


@pytest.mark.slow
def test_multi_gpu_train_ddp_gloo_two_cpu_processes(bundle: Path, tmp_path: Path) -> None:
    """``multi_gpu_train.json`` under torchrun with 2 CPU processes (gloo backend), 1 epoch, on a fresh copy."""
    ddp_trains_one_epoch(bundle, tmp_path / "ddp_bundle", "small_net.json", TINY)
