"""The whole path on the embedded default data: synthesise, index, train, evaluate, infer, report.

What ``mammo-monai demo`` (the README's main command) runs. Each bundle step is the user's own command,
``python -m monai.bundle run ...`` on the shipped configs, in a subprocess whose output goes to a log file;
the bundle's default network is swapped for a small UNet and the image size lowered so that it trains on
2 CPU cores in minutes (the overrides are written next to the outputs as an ``--args_file``, so the run can be repeated
by hand, and every ``--config_file`` is the bundle's own: MONAI warns about config files from other folders).

Example:
    >>> outputs, report = run_demo("outputs/demo", "bundles/mammo_mass_segmentation", epochs=2)  # doctest: +SKIP
    >>> sorted(outputs)  # doctest: +SKIP
    ['bundle_root', 'datalist', 'logs', 'predictions', 'report']
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..io.writers import ensure_outside_inputs
from .default_data import ensure_default_datalist

__all__ = ["DEMO_NETWORK", "demo_overrides", "prediction_datalist", "run_demo"]

#: The small network the demo trains instead of the bundle's VGG16-BN FlexibleUNet.
DEMO_NETWORK = {"_target_": "UNet", "spatial_dims": 2, "in_channels": 1, "out_channels": "@num_classes",
                "channels": [16, 32, 64, 128], "strides": [2, 2, 2], "num_res_units": 1}


def demo_overrides(image_size: int) -> dict[str, Any]:
    """The bundle keys the demo overrides: the small network, a from-scratch learning rate, and lesion patches
    a quarter of the image wide (at least 32 px), images with a mass twice per epoch."""
    patch = max(32, int(image_size) // 4)
    return {"network_def": DEMO_NETWORK, "learning_rate": 0.001, "patch_size": [patch, patch],
            "patches_per_image": 4, "patch_jitter": patch // 8, "patch_min_distance": patch // 8,
            "lesion_image_repeats": 2}


def prediction_datalist(datalist: str | os.PathLike, predictions: str | os.PathLike, data_root: str | os.PathLike,
                        split: str = "test") -> dict[str, list[dict[str, Any]]]:
    """The ``split`` items of ``datalist`` with ``pred``: the bundle's mask for each image, found where MONAI's
    ``SaveImaged(data_root_dir=..., output_postfix="seg", output_ext=".nii.gz")`` writes it (the image's folder
    below ``data_root`` mirrored under ``predictions``). Items whose mask is missing keep no ``pred``."""
    from mammo_monai.data.schema import load_datalist

    items = []
    for item in load_datalist(datalist)[split]:
        image = Path(item["image"])
        try:
            relative = image.parent.relative_to(Path(data_root).absolute())
        except ValueError:
            relative = Path()
        stem = image.name.split(".")[0]
        pred = Path(predictions) / relative / f"{stem}_seg.nii.gz"
        items.append({**item, "pred": str(pred)} if pred.is_file() else dict(item))
    return {split: items}


def run_demo(
    out_dir: str | os.PathLike,
    bundle_dir: str | os.PathLike,
    epochs: int = 30,
    image_size: int = 256,
    n_patients: int = 32,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
) -> tuple[dict[str, str], Any]:
    """Run the demo into ``out_dir`` (reused and overwritten: it holds only the demo's outputs).

    Returns:
        ``(paths, report)``: the segmentation report of the test split, and the paths: ``datalist``,
        ``bundle_root`` (checkpoints in ``models/``, evaluation in ``eval/``), ``predictions`` (masks on the
        original grids), ``report`` (``mammo-monai eval segmentation``) and ``logs`` (one per bundle command).

    Raises:
        RuntimeError: a bundle command failed (names the command and its log file).
    """
    from mammo_monai.evaluation import evaluate_segmentation

    say = log or (lambda _message: None)
    out = Path(out_dir).absolute()
    bundle = Path(bundle_dir).absolute()
    ensure_outside_inputs(out, bundle)
    configs = bundle / "configs"
    root, logs, data = out / "bundle_run", out / "logs", out / "data"
    for folder in (root, logs):
        folder.mkdir(parents=True, exist_ok=True)
    say(f"[1/5] synthetic CBIS-DDSM-shaped data ({n_patients} women) and its datalist in {data}")
    datalist = ensure_default_datalist(data, n_patients=n_patients, seed=seed)
    overrides = root / "demo_overrides.json"  # passed as --args_file: its keys override the bundle's configs
    overrides.write_text(json.dumps(demo_overrides(image_size), indent=1) + "\n")
    common = ["--meta_file", str(configs / "metadata.json"), "--logging_file", str(configs / "logging.conf"),
              "--bundle_root", str(root), "--datalist", datalist, "--dataset_dir", str(data), "--image_size",
              str(image_size), "--num_workers", "0", "--batch_size", "2", "--args_file", str(overrides)]

    def bundle_run(name: str, config_files: list[Path], *extra: str) -> None:
        command = [sys.executable, "-m", "monai.bundle", "run", name, "--config_file",
                   json.dumps([str(c) for c in config_files]), *common, *extra]
        log_file = logs / f"{name}.log"
        with open(log_file, "w") as handle:
            handle.write(" ".join(command) + "\n\n")
            handle.flush()
            done = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{name} failed (exit {done.returncode}); see {log_file}")

    say(f"[2/5] training {epochs} epochs (small UNet, {image_size} px) -> {root / 'models'}")
    for stale in (root / "models").glob("checkpoint_epoch=*.pt"):  # a fresh run, not a resume of the last demo
        stale.unlink()
    bundle_run("training", [configs / "train.json"], "--train#trainer#max_epochs", str(epochs))
    say(f"[3/5] evaluating the best checkpoint on the test split -> {root / 'eval'}")
    bundle_run("evaluating", [configs / "train.json", configs / "evaluate.json"])
    predictions = root / "predictions"
    say(f"[4/5] inferring on the test split, masks mapped back to the original images -> {predictions}")
    bundle_run("inferring", [configs / "inference.json"], "--output_dir", str(predictions),
               "--data_root_dir", str(data))
    say(f"[5/5] mammo-monai eval segmentation -> {out / 'report'}")
    pred_list = out / "predictions.json"
    pred_list.write_text(json.dumps(prediction_datalist(datalist, predictions, data), indent=1) + "\n")
    report = evaluate_segmentation(pred_list, datalist, out / "report", split="test", n_resamples=500, seed=seed,
                                   overwrite=True)
    paths = {"datalist": datalist, "bundle_root": str(root), "predictions": str(predictions),
             "report": str(out / "report"), "logs": str(logs)}
    return paths, report
