"""Runs the ``mammo_patch_detection`` bundle's configs for real (tiny, CPU) through ``python -m monai.bundle``.

Every run works on a copy of the bundle in a temporary folder (``--bundle_root``); the embedded default data (a
synthetic CBIS-DDSM-shaped dataset with masses and calcifications) is generated there once. Overrides keep it
fast: 512 x 320 synthetic films at 0.4 mm (64 x 40 px), 16 px patches, a small ``DenseNet`` instead of
DenseNet121 (which :func:`test_verify_net_in_out` checks), hard-negative mining after every epoch.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image

from .bundle_checks import (
    ckpt_export_matches_checkpoint,
    config_list,
    ddp_trains_one_epoch,
    meta_args,
    run_bundle,
    verify_metadata,
    verify_net_in_out,
)

BUNDLE = Path(__file__).resolve().parents[2] / "bundles" / "mammo_patch_detection"
SMALL_NET = {"network_def": {"_target_": "DenseNet", "spatial_dims": 2, "in_channels": 1,
                             "out_channels": "@num_classes", "init_features": 8, "growth_rate": 4,
                             "block_config": [2, 2]}}
TINY = ["--synthetic_shape", "[512, 320]", "--pixdim", "0.4", "--patch_size", "16", "--num_samples", "4",
        "--num_workers", "0", "--batch_size", "2", "--nms_distance_mm", "4"]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the bundle trained for 2 epochs on the embedded default data, mining after the first."""
    root = tmp_path_factory.mktemp("bundle") / "mammo_patch_detection"
    shutil.copytree(BUNDLE, root, ignore=shutil.ignore_patterns("models", "data", "eval", "predictions"))
    (root / "small_net.json").write_text(json.dumps(SMALL_NET))
    out = run_bundle(["run", "training", "--config_file", config_list(root, "train.json", str(root / "small_net.json")),
                      *meta_args(root), *TINY, "--train#trainer#max_epochs", "2", "--hard_negative_mining", "True",
                      "--mining_start_epoch", "1", "--mining_interval", "1", "--mining_threshold", "0.0"], root)
    (root / "training.log").write_text(out)
    return root


def _datalist(bundle: Path) -> dict:
    return json.loads((bundle / "data" / "synthetic" / "datalist.json").read_text())


def test_configs_are_valid_json() -> None:
    for path in sorted((BUNDLE / "configs").glob("*.json")):
        json.loads(path.read_text())
    assert (BUNDLE / "LICENSE").is_file() and (BUNDLE / "docs" / "README.md").is_file()


def test_training_mines_hard_negatives_and_checkpoints(bundle: Path) -> None:
    models = bundle / "models"
    for name in ("model.pt", "model_final.pt", "checkpoint_epoch=2.pt"):
        assert (models / name).is_file(), sorted(p.name for p in models.iterdir())
    state = torch.load(models / "checkpoint_epoch=2.pt", map_location="cpu", weights_only=False)
    assert {"model", "optimizer", "lr_scheduler", "trainer"} <= set(state)
    log = (bundle / "training.log").read_text()
    assert log.count("hard-negative mining after epoch") == 1 and "val_auc" in log  # not after the last epoch
    assert any(t["lesions"] and t["lesions"][0]["type"] == "calcification" for s in _datalist(bundle).values()
               for t in s)  # the default data has both lesion types


def test_inference_writes_candidates_on_the_original_grid(bundle: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "predictions"
    run_bundle(["run", "inferring", "--config_file", config_list(bundle, "inference.json",
                                                                str(bundle / "small_net.json")),
                *meta_args(bundle), *TINY, "--output_dir", str(out_dir)], bundle)
    test = _datalist(bundle)["test"]
    written = sorted(out_dir.rglob("*_detections.json"))
    assert len(written) == len(test) and len(list(out_dir.rglob("*_heatmap.png"))) == len(test)
    images = {it["image"]: it for it in test}
    for path in written:
        record = json.loads(path.read_text())
        assert record["image"] in images and record["classes"] == ["normal", "mass", "calcification"]
        rows, cols = record["image_shape"]
        assert (rows, cols) == (512, 320)
        scores = [c["score"] for c in record["candidates"]]
        assert scores == sorted(scores, reverse=True) and len(scores) <= 50
        for cand in record["candidates"]:
            assert 0 <= cand["center"][0] < rows and 0 <= cand["center"][1] < cols
            r0, c0, r1, c1 = cand["box"]
            assert 0 <= r0 < r1 <= rows and 0 <= c0 < c1 <= cols and cand["class"] in ("mass", "calcification")
        with Image.open(path.with_name(path.name.replace("_detections.json", "_heatmap.png"))) as im:
            assert im.size == (320, 512)  # the original film (no upscaling)


def test_evaluate_writes_the_froc_report(bundle: Path) -> None:
    from mammo_monai.evaluation import DETECTION_REPORT_FILES

    out = run_bundle(["run", "evaluating", "--config_file",
                      config_list(bundle, "inference.json", "evaluate.json", str(bundle / "small_net.json")),
                      *meta_args(bundle), *TINY, "--n_resamples", "50"], bundle)
    assert "CPM" in out
    for name in DETECTION_REPORT_FILES.values():
        assert (bundle / "eval" / "froc" / name).is_file(), name
    metrics = json.loads((bundle / "eval" / "froc" / "detection_metrics.json").read_text())
    assert metrics["counts"]["missing"] == 0
    assert set(metrics["metrics"]["by_type"]) <= {"mass", "calcification"}


def test_verify_net_in_out() -> None:
    """The default network (DenseNet121 on 224 x 224 patches) against ``network_data_format``."""
    verify_net_in_out(BUNDLE, n=1)


def test_verify_metadata(tmp_path: Path) -> None:
    verify_metadata(BUNDLE, tmp_path)


def test_ckpt_export(bundle: Path) -> None:
    ckpt_export_matches_checkpoint(bundle, bundle / "small_net.json", (2, 1, 16, 16))


@pytest.mark.slow
def test_multi_gpu_train_ddp_gloo_two_cpu_processes(bundle: Path, tmp_path: Path) -> None:
    """``multi_gpu_train.json`` under torchrun with 2 CPU processes (gloo), 1 epoch with mining, on a fresh copy:
    each rank caches its own partition of the training images (where the miner writes)."""
    ddp_trains_one_epoch(bundle, tmp_path / "ddp_bundle", "small_net.json",
                         [*TINY, "--hard_negative_mining", "True", "--mining_start_epoch", "1"])
