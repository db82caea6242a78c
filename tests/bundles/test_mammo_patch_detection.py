"""Runs the ``mammo_patch_detection`` bundle's configs for real (tiny, CPU) through ``python -m monai.bundle``.

Every run works on a copy of the bundle in a temporary folder (``--bundle_root``); the embedded default data (a
synthetic CBIS-DDSM-shaped dataset with masses and calcifications) is generated there once. Overrides keep it
fast: 512 x 320 synthetic films at 0.4 mm (64 x 40 px), 16 px patches, a small ``DenseNet`` instead of
DenseNet121, hard-negative mining after every epoch (``bundle_checks.SPECS``). What every bundle must satisfy
(configs, checkpoints, verify_net_in_out on DenseNet121, verify_metadata, ckpt_export, DDP with mining) is in
``test_bundle_conventions.py``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from .bundle_checks import SPECS, config_list, meta_args, run_bundle

SPEC = SPECS["mammo_patch_detection"]
TINY = list(SPEC.tiny)


@pytest.fixture(scope="module")
def bundle(trained_bundle: Callable[[str], Path]) -> Path:
    """The session's copy of the bundle trained for 2 epochs on the embedded default data, mining after the first
    (``conftest.py``; its output in ``training.log``)."""
    return trained_bundle(SPEC.name)


def _datalist(bundle: Path) -> dict:
    return json.loads((bundle / "data" / "synthetic" / "datalist.json").read_text())


def test_training_mines_hard_negatives(bundle: Path) -> None:
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
