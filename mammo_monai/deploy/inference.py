"""A thin operator over a bundle's own ``inference.json``: :class:`~mammo_monai.inference.bundle.BundleInference`
(the same runner the MONAI Label app serves) on each :class:`~mammo_monai.deploy.loading.Mammogram`.

The SDK's ``MonaiBundleInferenceOperator`` is not used: it loads a TorchScript bundle archive and takes its
image from the SDK's series-to-volume conversion (no VOI LUT, no MONOCHROME1); here the bundle's preprocessing
reads the DICOM file itself with the project's reader, so the app's result is the bundle's result.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from monai.deploy.core import Fragment, Operator, OperatorSpec

from ..inference.bundle import BundleInference, class_probabilities, detection_candidates, segmentation_mask
from .loading import Mammogram
from .report import RunReport

__all__ = ["KINDS", "BundleInferenceOperator", "bundle_version"]

logger = logging.getLogger("mammo_monai.deploy")

#: what each kind of bundle gives: segmentation -> mask, classification -> probabilities, detection -> candidates
KINDS = ("segmentation", "classification", "detection")


def bundle_version(bundle_dir: str | os.PathLike) -> str:
    """The bundle's ``version`` from its ``configs/metadata.json`` (``"unknown"`` without one)."""
    try:
        return str(json.loads((Path(bundle_dir) / "configs" / "metadata.json").read_text())["version"])
    except (OSError, ValueError, KeyError):
        return "unknown"


class BundleInferenceOperator(Operator):
    """One bundle on every mammogram of the run.

    Args:
        fragment: the application.
        kind: ``"segmentation"`` (``{"mask": (rows, cols) uint8}``), ``"classification"``
            (``{"classes", "probabilities", "prediction"}``) or ``"detection"`` (``{"candidates", "threshold",
            "classes"}``, candidates in the image's pixels, see
            :func:`~mammo_monai.inference.bundle.detection_candidates`).
        bundle_dir: the bundle.
        checkpoint: its weights (``<models>/<bundle name>/model.pt``).
        report: where images that fail are recorded (``inference_failed``; the others go on).
        configs, overrides, device: as :class:`~mammo_monai.inference.bundle.BundleInference`.
        threshold: detection only: candidates scoring at least this are ``reported`` (DICOM SR, SEG).

    Named input ``mammograms``; named output ``results``: ``{"bundle", "version", "kind", "by_sop":
    {SOP Instance UID: result (with "seconds")}}``.
    """

    def __init__(self, fragment: Fragment, *args: Any, kind: str, bundle_dir: str | os.PathLike,
                 checkpoint: str | os.PathLike, report: RunReport, configs: Sequence[str] = (),
                 overrides: Mapping[str, Any] | None = None, device: str | None = None, threshold: float = 0.5,
                 **kwargs: Any) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        if not Path(checkpoint).is_file():
            raise FileNotFoundError(f"{checkpoint}: no checkpoint for {Path(bundle_dir).name} (put the bundle's "
                                    "model.pt there, or pass the models folder with -m)")
        self.kind = kind
        self.report = report
        self.threshold = float(threshold)
        self.runner = BundleInference(bundle_dir, checkpoint, configs=configs, overrides=overrides, device=device)
        self.classes = [str(c) for c in self.runner.get("classes", [])] if kind != "segmentation" else []
        self.version = bundle_version(bundle_dir)
        super().__init__(fragment, *args, **kwargs)

    def setup(self, spec: OperatorSpec) -> None:
        spec.input("mammograms")
        spec.output("results")

    def interpret(self, output: Mapping[str, Any]) -> dict[str, Any]:
        """The bundle's postprocessed item as this kind's result."""
        if self.kind == "segmentation":
            return {"mask": segmentation_mask(output)}
        if self.kind == "classification":
            return {"classes": self.classes, **class_probabilities(output, self.classes)}
        candidates = detection_candidates(output, self.classes, self.threshold)
        for c in candidates:
            c["reported"] = c.pop("in_mask")
        return {"classes": self.classes, "threshold": self.threshold, "candidates": candidates}

    def compute(self, op_input: Any, op_output: Any, context: Any) -> None:
        mammograms: list[Mammogram] = op_input.receive("mammograms") or []
        name = self.runner.bundle_dir.name
        by_sop: dict[str, dict[str, Any]] = {}
        for m in mammograms:
            start = time.perf_counter()
            try:
                result = self.interpret(self.runner(m.path))
            except Exception as e:  # one image's failure is reported, the others go on
                self.report.add(m.path, "inference_failed", f"{name}: {type(e).__name__}: {e}")
                continue
            result["seconds"] = round(time.perf_counter() - start, 3)
            by_sop[m.sop_instance_uid] = result
            logger.info("%s on %s: %.2f s", name, m.path.name, result["seconds"])
        op_output.emit({"bundle": name, "version": self.version, "kind": self.kind, "by_sop": by_sop}, "results")
