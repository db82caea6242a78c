"""``BundleInference`` leaves nothing behind: its scratch ``output_dir`` is never made by the runner itself, and is
removed by ``close()`` / ``with`` / garbage collection should anything make it."""

from __future__ import annotations

import gc
import os
from pathlib import Path

from mammo_monai.inference.bundle import BundleInference, default_bundles_dir

BUNDLE = default_bundles_dir() / "mammo_mass_segmentation"


def test_scratch_output_dir_is_not_made_and_is_removed_when_made(tmp_path: Path) -> None:
    with BundleInference(BUNDLE, tmp_path / "model.pt", configs=["mias_cpu.json"], device="cpu") as runner:
        scratch = Path(runner.parser["output_dir"])
        assert scratch.name.startswith("mammo_bundle_") and not scratch.exists()
        (scratch / "stray").mkdir(parents=True)  # as a writer the runner did not switch off would
    assert not scratch.exists()

    runner = BundleInference(BUNDLE, tmp_path / "model.pt", configs=["mias_cpu.json"], device="cpu")
    scratch = Path(runner.parser["output_dir"])
    os.makedirs(scratch)
    del runner
    gc.collect()
    assert not scratch.exists()
