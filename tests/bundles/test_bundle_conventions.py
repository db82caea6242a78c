"""What every bundle must satisfy, the four bundles alike (the bundle-specific behaviour is in each bundle's own
module): valid configs and the model-zoo files, the shared training (``conftest.py``) writing resumable
checkpoints, ``monai.bundle verify_net_in_out`` on the default network, ``verify_metadata``, ``ckpt_export``
against the checkpoint, and ``multi_gpu_train.json`` on two gloo processes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from .bundle_checks import SPECS, BundleSpec, ckpt_export_matches_checkpoint, ddp_trains_one_epoch, verify_metadata
from .bundle_checks import verify_net_in_out as verify_default_net

# the default networks verify_net_in_out checks: image classifier DenseNet121 on 1024 x 1024, lesion classifier
# DenseNet121 on 224 x 224 crops, segmentation FlexibleUNet with a VGG16-BN encoder, patch detector DenseNet121
# on 224 x 224 patches
NAMES = sorted(SPECS)


@pytest.fixture(params=NAMES)
def spec(request: pytest.FixtureRequest) -> BundleSpec:
    return SPECS[request.param]


def test_configs_are_valid_json(spec: BundleSpec) -> None:
    for path in sorted((spec.source / "configs").glob("*.json")):
        json.loads(path.read_text())
    assert (spec.source / "LICENSE").is_file() and (spec.source / "docs" / "README.md").is_file()


def test_training_writes_checkpoints(spec: BundleSpec, trained_bundle: Callable[[str], Path]) -> None:
    models = trained_bundle(spec.name) / "models"
    last = f"checkpoint_epoch={spec.train_epochs}.pt"
    for name in ("model.pt", "model_final.pt", last):
        assert (models / name).is_file(), sorted(p.name for p in models.iterdir())
    state = torch.load(models / last, map_location="cpu", weights_only=False)
    assert {"model", "optimizer", "lr_scheduler", "trainer"} <= set(state)


def test_verify_net_in_out(spec: BundleSpec) -> None:
    verify_default_net(spec.source, n=spec.verify_n)


def test_verify_metadata(spec: BundleSpec, tmp_path: Path) -> None:
    verify_metadata(spec.source, tmp_path)


def test_ckpt_export(spec: BundleSpec, trained_bundle: Callable[[str], Path]) -> None:
    bundle = trained_bundle(spec.name)
    ckpt_export_matches_checkpoint(bundle, bundle / "small_net.json", spec.export_batch)


@pytest.mark.slow
def test_multi_gpu_train_ddp_gloo_two_cpu_processes(spec: BundleSpec, trained_bundle: Callable[[str], Path],
                                                    tmp_path: Path) -> None:
    """``multi_gpu_train.json``, 2 CPU processes (gloo backend), 1 epoch, on a fresh copy; for the patch detector
    with mining: each rank caches its own partition of the training images (where the miner writes). Each
    bundle's run counts: the three sampler-based multi_gpu_train.json are alike but override different
    train.json (keys such as ``train#checkpoint_handlers#1``, ``validate#early_stop`` must exist in each).
    The patch detector, whose multi_gpu_train.json differs most, runs under the real ``torchrun`` launcher;
    the others as two ranks with torchrun's environment (see ``ddp_trains_one_epoch``)."""
    ddp_trains_one_epoch(spec, trained_bundle(spec.name), tmp_path / "ddp_bundle",
                         torchrun=spec.name == "mammo_patch_detection")
