"""Runs the ``mammo_mass_segmentation`` bundle's configs for real (tiny, CPU) through ``python -m monai.bundle``.

Every run works on a copy of the bundle in a temporary folder (``--bundle_root``), so nothing is written into
the repository; the embedded default data (a synthetic CBIS-DDSM-shaped dataset) is generated there once.
Overrides keep it fast: 64 px images, 6 synthetic patients, a small ``UNet`` instead of the VGG16-BN
FlexibleUNet (which :func:`test_verify_net_in_out` checks on its own).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
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

BUNDLE = Path(__file__).resolve().parents[2] / "bundles" / "mammo_mass_segmentation"
SMALL_NET = {"network_def": {"_target_": "UNet", "spatial_dims": 2, "in_channels": 1, "out_channels": "@num_classes",
                             "channels": [8, 16, 32], "strides": [2, 2], "num_res_units": 1}}
TINY = ["--image_size", "64", "--n_patients", "6", "--num_workers", "0", "--batch_size", "2", "--patch_size", "[32,32]",
        "--patches_per_image", "2", "--patch_jitter", "4", "--patch_min_distance", "4"]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the bundle, trained for 1 epoch on the embedded default data (small UNet, 64 px)."""
    root = tmp_path_factory.mktemp("bundle") / "mammo_mass_segmentation"
    shutil.copytree(BUNDLE, root, ignore=shutil.ignore_patterns("models", "data", "eval", "predictions"))
    (root / "small_net.json").write_text(json.dumps(SMALL_NET))
    run_bundle(["run", "training", "--config_file", config_list(root, "train.json", str(root / "small_net.json")),
                *meta_args(root), *TINY, "--train#trainer#max_epochs", "1"], root)
    return root


def test_configs_are_valid_json() -> None:
    for path in sorted((BUNDLE / "configs").glob("*.json")):
        json.loads(path.read_text())
    assert (BUNDLE / "LICENSE").is_file() and (BUNDLE / "docs" / "README.md").is_file()


def test_training_writes_checkpoints(bundle: Path) -> None:
    models = bundle / "models"
    for name in ("model.pt", "model_final.pt", "checkpoint_epoch=1.pt"):
        assert (models / name).is_file(), sorted(p.name for p in models.iterdir())
    datalist = json.loads((bundle / "data" / "synthetic" / "datalist.json").read_text())
    assert datalist["training"] and datalist["validation"] and datalist["test"]
    state = torch.load(models / "checkpoint_epoch=1.pt", map_location="cpu", weights_only=False)
    assert {"model", "optimizer", "lr_scheduler", "trainer"} <= set(state)


def test_training_resumes_from_last_checkpoint(bundle: Path) -> None:
    out = run_bundle(["run", "training", "--config_file",
                      config_list(bundle, "train.json", str(bundle / "small_net.json")),
                      *meta_args(bundle), *TINY, "--train#trainer#max_epochs", "2"], bundle)
    assert "Restored all variables from" in out and "checkpoint_epoch=1.pt" in out
    assert "Epoch[1] Complete" not in out.split("Restored all variables")[1]  # epoch 1 is not trained again
    assert (bundle / "models" / "checkpoint_epoch=2.pt").is_file()


def test_evaluate(bundle: Path) -> None:
    run_bundle(["run", "evaluating", "--config_file",
                config_list(bundle, "train.json", "evaluate.json", str(bundle / "small_net.json")),
                *meta_args(bundle), *TINY],
               bundle)
    metrics = (bundle / "eval" / "metrics.csv").read_text()
    assert metrics.startswith("val_mean_dice,")
    raw = (bundle / "eval" / "val_mean_dice_raw.csv").read_text().splitlines()
    test_items = json.loads((bundle / "data" / "synthetic" / "datalist.json").read_text())["test"]
    assert len(raw) == 1 + len(test_items)


def _predictions(bundle: Path, out_dir: str) -> dict[str, Path]:
    found = sorted((bundle / out_dir).rglob("*_seg.nii.gz"))
    root = bundle / "data" / "synthetic"
    return {str(root / p.relative_to(bundle / out_dir).parent / p.name.replace("_seg.nii.gz", ".dcm")): p
            for p in found}


def test_inference_masks_on_original_grid(bundle: Path) -> None:
    import nibabel as nib

    from mammo_monai.io import read_mammogram

    run_bundle(["run", "inferring", "--config_file",
                config_list(bundle, "inference.json", str(bundle / "small_net.json")),
                *meta_args(bundle), *TINY], bundle)
    items = json.loads((bundle / "data" / "synthetic" / "datalist.json").read_text())["test"]
    predictions = _predictions(bundle, "predictions")
    assert sorted(predictions) == sorted(item["image"] for item in items)
    for image, mask_path in predictions.items():
        mask = np.asarray(nib.load(mask_path).dataobj)
        assert mask.shape == read_mammogram(image)[0].shape
        assert set(np.unique(mask)) <= {0, 1}
        overlay = mask_path.with_name(mask_path.name.replace("_seg.nii.gz", "_overlay.png"))
        with Image.open(overlay) as png:  # the original image with the contour, aspect kept
            assert png.mode == "RGB" and max(png.size) == max(mask.shape) and png.size == mask.shape[::-1]


def test_inference_inverse_lines_up_with_the_image(bundle: Path) -> None:
    """With an identity "network" the prediction is the preprocessed image: mapped back it must cover the breast."""
    import nibabel as nib
    from skimage.filters import threshold_otsu

    from mammo_monai.io import read_mammogram

    override = {"network_def": {"_target_": "torch.nn.Identity"},
                "postprocessing#transforms#0": {"_target_": "Identityd", "keys": "pred"},
                "postprocessing#transforms#2": {"_target_": "AsDiscreted", "keys": "pred", "threshold": 0.05},
                "handlers": [], "output_dir": "$@bundle_root + '/identity_predictions'"}
    (bundle / "identity.json").write_text(json.dumps(override))
    run_bundle(["run", "inferring", "--config_file",
                config_list(bundle, "inference.json", str(bundle / "identity.json")),
                *meta_args(bundle), *TINY], bundle)
    predictions = _predictions(bundle, "identity_predictions")
    assert predictions
    for image, mask_path in predictions.items():
        pred = np.asarray(nib.load(mask_path).dataobj) > 0
        arr = read_mammogram(image)[0].astype(np.float32)
        breast = arr > threshold_otsu(arr)

        def iou(a: np.ndarray, b: np.ndarray) -> float:
            return float((a & b).sum() / max((a | b).sum(), 1))

        assert pred.shape == breast.shape
        aligned, flipped = iou(pred, breast), iou(pred, breast[:, ::-1])
        assert aligned > 0.5 and aligned > flipped + 0.3, (image, aligned, flipped)


def test_verify_net_in_out() -> None:
    """The default network (FlexibleUNet, VGG16-BN encoder) against ``network_data_format``."""
    verify_net_in_out(BUNDLE, n=2)


def test_verify_metadata(tmp_path: Path) -> None:
    verify_metadata(BUNDLE, tmp_path)


def test_ckpt_export(bundle: Path) -> None:
    ckpt_export_matches_checkpoint(bundle, bundle / "small_net.json", (1, 1, 64, 64))


@pytest.mark.slow
def test_multi_gpu_train_ddp_gloo_two_cpu_processes(bundle: Path, tmp_path: Path) -> None:
    """``multi_gpu_train.json`` under torchrun with 2 CPU processes (gloo backend), 1 epoch, on a fresh copy."""
    ddp_trains_one_epoch(bundle, tmp_path / "ddp_bundle", "small_net.json", TINY)
