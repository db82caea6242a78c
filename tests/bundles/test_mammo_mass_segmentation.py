"""Runs the ``mammo_mass_segmentation`` bundle's configs for real (tiny, CPU) through ``python -m monai.bundle``.

Every run works on a copy of the bundle in a temporary folder (``--bundle_root``), so nothing is written into
the repository; the embedded default data (a synthetic CBIS-DDSM-shaped dataset) is generated there once.
Overrides keep it fast: 64 px images, 6 synthetic patients, a small ``UNet`` instead of the VGG16-BN
FlexibleUNet (``bundle_checks.SPECS``). What every bundle must satisfy (configs, checkpoints, verify_net_in_out
on the FlexibleUNet, verify_metadata, ckpt_export, DDP) is in ``test_bundle_conventions.py``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from .bundle_checks import SPECS, config_list, meta_args, run_bundle

SPEC = SPECS["mammo_mass_segmentation"]
TINY = list(SPEC.tiny)


@pytest.fixture(scope="module")
def bundle(trained_bundle: Callable[[str], Path]) -> Path:
    """The session's copy of the bundle, trained for 1 epoch on the embedded default data (``conftest.py``)."""
    return trained_bundle(SPEC.name)


def test_training_generates_the_default_data(bundle: Path) -> None:
    datalist = json.loads((bundle / "data" / "synthetic" / "datalist.json").read_text())
    assert datalist["training"] and datalist["validation"] and datalist["test"]


def test_training_resumes_from_last_checkpoint(bundle: Path, tmp_path: Path) -> None:
    root = tmp_path / "b"  # a copy: the resumed run's rotation deletes the shared training's checkpoint_epoch=1.pt
    shutil.copytree(bundle, root, ignore=shutil.ignore_patterns("eval", "*predictions"))
    out = run_bundle(["run", "training", "--config_file",
                      config_list(root, "train.json", str(root / "small_net.json")),
                      *meta_args(root), *TINY, "--train#trainer#max_epochs", "2"], root)
    assert "Restored all variables from" in out and "checkpoint_epoch=1.pt" in out
    assert "Epoch[1] Complete" not in out.split("Restored all variables")[1]  # epoch 1 is not trained again
    assert (root / "models" / "checkpoint_epoch=2.pt").is_file()
    assert not (root / "models" / "checkpoint_epoch=1.pt").exists()  # n_saved=1 goes on across the resume


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
                *meta_args(bundle), *TINY, "--save_probabilities", "True"], bundle)
    items = json.loads((bundle / "data" / "synthetic" / "datalist.json").read_text())["test"]
    predictions = _predictions(bundle, "predictions")
    assert sorted(predictions) == sorted(item["image"] for item in items)
    for image, mask_path in predictions.items():
        mask = np.asarray(nib.load(mask_path).dataobj)
        assert mask.shape == read_mammogram(image)[0].shape
        assert set(np.unique(mask)) <= {0, 1}
        # save_probabilities: the foreground probability on the same grid; the mask is its argmax
        probability = np.asarray(nib.load(mask_path.with_name(mask_path.name.replace("_seg", "_prob"))).dataobj)
        assert probability.shape == mask.shape and probability.min() >= 0 and probability.max() <= 1
        assert np.array_equal(mask > 0, probability > 0.5) or np.mean((mask > 0) != (probability > 0.5)) < 1e-3
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
                "postprocessing#transforms#4": {"_target_": "AsDiscreted", "keys": "pred", "threshold": 0.05},
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


def test_inference_on_a_datalist_elsewhere_writes_only_inside_output_dir(bundle: Path, tmp_path: Path) -> None:
    """Images outside ``dataset_dir``, two of them named alike (CBIS-DDSM's ``1-1.dcm``): one mask each, all under
    ``output_dir``, nothing beside the images (MONAI's relative path to ``dataset_dir`` used to walk out)."""
    import shutil

    items = json.loads((bundle / "data" / "synthetic" / "datalist.json").read_text())["test"][:2]
    elsewhere = []
    for k, item in enumerate(items):
        target = tmp_path / "hospital" / f"case_{k}" / "1-1.dcm"
        target.parent.mkdir(parents=True)
        shutil.copy(item["image"], target)
        elsewhere.append({**item, "image": str(target), "label": None})
    datalist = tmp_path / "elsewhere.json"
    datalist.write_text(json.dumps({"test": elsewhere}))
    before = sorted(p for p in (tmp_path / "hospital").rglob("*"))
    out = tmp_path / "predictions"
    run_bundle(["run", "inferring", "--config_file", config_list(bundle, "inference.json",
                                                                  str(bundle / "small_net.json")),
                *meta_args(bundle), *TINY, "--datalist", str(datalist), "--output_dir", str(out)], bundle)
    assert sorted(p for p in (tmp_path / "hospital").rglob("*")) == before
    masks = sorted(p.relative_to(out) for p in out.rglob("*_seg.nii.gz"))
    assert masks == [Path("case_0/1-1_seg.nii.gz"), Path("case_1/1-1_seg.nii.gz")]


def test_one_listed_transform_is_overridden_from_the_cli(tmp_path: Path) -> None:
    """The pipelines list their transforms (issue 22): the padding's size (``mammogram_preprocessing#transforms#7``:
    ``SpatialPadd``) overridden on the ``monai.bundle run`` command line reaches the validation items."""
    import shutil

    import torch

    root = tmp_path / "b"
    shutil.copytree(SPEC.source, root, ignore=shutil.ignore_patterns("models", "data", "eval", "*predictions"))
    probe = {"probe": ["$torch.save(@validate#preprocessing(dict(@validate#dataset#data[0])),"
                       " @bundle_root + '/probe.pt')"]}
    (root / "probe.json").write_text(json.dumps(probe))
    run_bundle(["run", "probe", "--config_file", config_list(root, "train.json", str(root / "probe.json")),
                *meta_args(root), *TINY, "--mammogram_preprocessing#transforms#7#spatial_size", "[80,80]"], root)
    item = torch.load(root / "probe.pt", weights_only=False)
    assert tuple(item["image"].shape) == tuple(item["label"].shape) == (1, 80, 80)  # 64 px (TINY) padded to 80
    assert item["image"][:, 64:].abs().max() == 0 and item["image"].max() > 0.5
