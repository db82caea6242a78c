"""The app's infer tasks: one per bundle, each running the bundle's own inference (:mod:`.bundle_inference`)
and answering on the pixel grid of the image the viewer opened.

- :class:`SegmentationInfer`: the mass mask (label 1 = mass).
- :class:`DetectionInfer`: the detector's candidates (centre, box, class, score, in the image's pixels) in the
  JSON, plus a mask with each candidate's box filled with its class (those scoring at least ``threshold``), which
  is what the Slicer plugin shows.
- :class:`ClassificationInfer`: the class probabilities in the JSON (no mask).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from monailabel.interfaces.tasks.infer_v2 import InferTask, InferType

from ..inference.bundle import (
    BundleInference,
    class_probabilities,
    detection_candidates,
    finding_labels,
    segmentation_mask,
)
from .label_files import write_label_like

__all__ = ["BundleInfer", "ClassificationInfer", "DetectionInfer", "SegmentationInfer", "source_image"]

logger = logging.getLogger(__name__)


def source_image(path: str | os.PathLike) -> str:
    """The file the bundle should read for a datastore image path.

    MONAI Label's DICOMweb datastore downloads a series into ``<cache>/<series uid>/`` and hands out a NIfTI made
    by SimpleITK beside it (``<series uid>.nii.gz``), which applies neither the VOI LUT nor MONOCHROME1: the bundle
    reads the DICOM instead. A folder is read as its one DICOM file.

    Raises:
        ValueError: a folder holding no file or several (a multi-image series is not one mammogram).
    """
    p = Path(path)
    name = p.name
    if not p.is_dir() and name.endswith(".nii.gz") and (p.parent / name[: -len(".nii.gz")]).is_dir():
        p = p.parent / name[: -len(".nii.gz")]
    if not p.is_dir():
        return str(p)
    files = sorted(f for f in p.iterdir() if f.is_file() and not f.name.startswith("."))
    if len(files) != 1:
        raise ValueError(f"{p}: expected one DICOM image in the series folder, found {len(files)}")
    return str(files[0])


class BundleInfer(InferTask):
    """An infer task over one bundle; subclasses turn the bundle's output into a mask and a JSON result.

    Args:
        name: the model's name in the app (shown in Slicer).
        runner: the bundle (with the checkpoint it serves).
        type, labels, description: as MONAI Label's ``InferTask``.
    """

    def __init__(self, name: str, runner: BundleInference, type: str, labels: Mapping[str, int] | Sequence[str],
                 description: str, config: Mapping[str, Any] | None = None) -> None:
        super().__init__(type=type, labels=dict(labels) if isinstance(labels, Mapping) else list(labels), dimension=2,
                         description=description, config=dict(config or {}))
        self.name = name
        self.runner = runner

    def is_valid(self) -> bool:
        return self.runner.is_ready()

    def get_path(self, validate: bool = True) -> str | None:
        return str(self.runner.checkpoint) if (self.runner.is_ready() or not validate) else None

    def result(self, output: Mapping[str, Any], request: Mapping[str, Any]) -> tuple[np.ndarray | None, dict[str, Any]]:
        """``(mask or None, JSON fields)`` from the bundle's postprocessed item."""
        raise NotImplementedError

    def __call__(self, request: Mapping[str, Any]) -> tuple[str | None, dict[str, Any]]:
        shown = str(request["image"])
        start = time.perf_counter()
        output = self.runner(source_image(shown))
        mask, fields = self.result(output, request)
        label_file = write_label_like(mask, shown) if mask is not None else None
        seconds = time.perf_counter() - start
        logger.info("%s on %s: %.2f s", self.name, shown, seconds)
        image = output["image"]
        original = image.meta.get("spatial_shape") if hasattr(image, "meta") else None
        return label_file, {"model": self.name, "bundle": self.runner.bundle_dir.name,
                            "image_shape": [int(s) for s in original] if original is not None else None,
                            "latency_s": round(seconds, 3), **fields}


class SegmentationInfer(BundleInfer):
    """The mass segmentation bundle: the argmax label, inverted by the bundle onto the image's own grid."""

    def __init__(self, name: str, runner: BundleInference, config: Mapping[str, Any] | None = None) -> None:
        num_classes = int(runner.get("num_classes", 2))
        labels = {"mass": 1} if num_classes == 2 else {f"class_{k}": k for k in range(1, num_classes)}
        super().__init__(name, runner, InferType.SEGMENTATION, labels,
                         f"Mass segmentation ({runner.bundle_dir.name}); the mask on the image's own pixels", config)

    def result(self, output: Mapping[str, Any], request: Mapping[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
        mask = segmentation_mask(output)
        return mask, {"foreground_pixels": int((mask > 0).sum())}


class DetectionInfer(BundleInfer):
    """The patch detector: candidates as JSON plus their boxes as a mask (value = the class's label).

    Request params: ``threshold`` (the lowest score drawn into the mask, default the task's config).
    """

    def __init__(self, name: str, runner: BundleInference, threshold: float = 0.5,
                 config: Mapping[str, Any] | None = None) -> None:
        self.classes = [str(c) for c in runner.get("classes")]
        super().__init__(name, runner, InferType.DETECTION, finding_labels(self.classes),
                         f"Patch detector ({runner.bundle_dir.name}): candidates with boxes in the image's pixels",
                         {"threshold": float(threshold), **dict(config or {})})

    def result(self, output: Mapping[str, Any], request: Mapping[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
        threshold = float(request.get("threshold", self.config()["threshold"]))
        rows, cols = (int(s) for s in output["image"].meta["spatial_shape"][-2:])
        mask = np.zeros((rows, cols), np.uint8)
        candidates = detection_candidates(output, self.classes, threshold)
        # lowest score first, so that where boxes overlap the stronger candidate's class is the one drawn
        for c in reversed(candidates):
            if c["in_mask"] and c["label"]:
                r0, c0, r1, c1 = (int(v) for v in c["box"])
                mask[max(r0, 0):min(r1, rows), max(c0, 0):min(c1, cols)] = c["label"]
        return mask, {"candidates": candidates, "threshold": threshold, "classes": self.classes}


class ClassificationInfer(BundleInfer):
    """The whole-image classifier: probabilities per class in the JSON."""

    def __init__(self, name: str, runner: BundleInference, config: Mapping[str, Any] | None = None) -> None:
        self.classes = [str(c) for c in runner.get("classes")]
        super().__init__(name, runner, InferType.CLASSIFICATION, self.classes,
                         f"Whole-mammogram classifier ({runner.bundle_dir.name}): {' / '.join(self.classes)}", config)

    def result(self, output: Mapping[str, Any], request: Mapping[str, Any]) -> tuple[None, dict[str, Any]]:
        try:
            return None, class_probabilities(output, self.classes)
        except ValueError as e:
            raise ValueError(f"{self.name}: {e}") from e
