"""The app's outputs, written under the output folder (never over an existing file unless asked):

``<out>/<StudyInstanceUID>/<SOPInstanceUID>_seg.dcm``
    :class:`SegmentationWriterOperator`: the mass mask as a DICOM Segmentation of its mammogram
    (:func:`mammo_monai.inference.mask_to_dicom_seg`: references the source instance, same rows x columns, one
    segment per class). Written for every mammogram, an empty mask included: "no mass found" is a result.
``<out>/<StudyInstanceUID>/findings_sr.dcm``
    :class:`StructuredReportWriterOperator`: one DICOM SR per study
    (:func:`mammo_monai.inference.dicom_sr.findings_to_dicom_sr`) with each image's classification and the
    detector's candidates scoring at least its threshold, boxes in the source image's pixels.
``<out>/summary.json``
    :class:`SummaryWriterOperator`: everything in one JSON: per study and image the results (all candidates,
    reported or not), the files written, the models (checkpoint, bundle version, layered configs), and every file
    or series left out with the reason (:class:`~mammo_monai.deploy.report.RunReport`).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from monai.deploy.core import Fragment, Operator, OperatorSpec

import mammo_monai

from ..inference.dicom_seg import mask_to_dicom_seg
from ..inference.dicom_sr import ImageFindings, findings_to_dicom_sr
from ..io import MetaKeys
from ..io.writers import atomic_write_file
from .loading import Mammogram
from .report import RunReport

__all__ = ["SUMMARY_NAME", "SegmentationWriterOperator", "StructuredReportWriterOperator", "SummaryWriterOperator",
           "save_new"]

logger = logging.getLogger("mammo_monai.deploy")

SUMMARY_NAME = "summary.json"


def save_new(dataset: Any, path: Path, overwrite: bool = False) -> Path:
    """Save a pydicom dataset at ``path`` (folders made), refusing to replace a file unless ``overwrite``; atomically
    (a temporary file in the same folder, then renamed), so a killed app never leaves half a DICOM SEG or SR.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is False.
    """
    return atomic_write_file(path, dataset.save_as, overwrite=overwrite)


class _Writer(Operator):
    def __init__(self, fragment: Fragment, *args: Any, output_folder: str | os.PathLike, report: RunReport,
                 overwrite: bool = False, **kwargs: Any) -> None:
        self.output_folder = Path(output_folder)
        self.report = report
        self.overwrite = bool(overwrite)
        super().__init__(fragment, *args, **kwargs)

    def study_folder(self, study_uid: str) -> Path:
        return self.output_folder / study_uid


class SegmentationWriterOperator(_Writer):
    """Named inputs ``mammograms`` and ``segmentation`` (the segmentation bundle's results); named output
    ``files`` (``{SOP Instance UID: SEG path}``).

    Args:
        output_folder, report, overwrite: where to write, where failures go, whether to replace files.
        classes: mask value -> class name (default ``{1: "mass"}``).
    """

    def __init__(self, fragment: Fragment, *args: Any, classes: Mapping[int, str] | None = None,
                 **kwargs: Any) -> None:
        self.classes = dict(classes or {1: "mass"})
        super().__init__(fragment, *args, **kwargs)

    def setup(self, spec: OperatorSpec) -> None:
        spec.input("mammograms")
        spec.input("segmentation")
        spec.output("files")

    def compute(self, op_input: Any, op_output: Any, context: Any) -> None:
        mammograms: list[Mammogram] = op_input.receive("mammograms") or []
        results = op_input.receive("segmentation")
        files: dict[str, str] = {}
        for m in mammograms:
            result = results["by_sop"].get(m.sop_instance_uid)
            if result is None:
                continue  # its inference failed: already reported
            path = self.study_folder(m.study_instance_uid) / f"{m.sop_instance_uid}_seg.dcm"
            try:
                seg = mask_to_dicom_seg(m.path, result["mask"], self.classes, algorithm=results["bundle"],
                                        version=results["version"],
                                        series_description=f"{results['bundle']} (mammo-monai), not for clinical use")
                files[m.sop_instance_uid] = str(save_new(seg, path, self.overwrite))
            except (OSError, ValueError) as e:
                self.report.add(path, "write_failed", f"DICOM SEG of {m.path}: {type(e).__name__}: {e}")
        op_output.emit(files, "files")


class StructuredReportWriterOperator(_Writer):
    """Named inputs ``mammograms``, ``classification`` and ``detection``; named output ``files``
    (``{StudyInstanceUID: SR path}``)."""

    def setup(self, spec: OperatorSpec) -> None:
        spec.input("mammograms")
        spec.input("classification")
        spec.input("detection")
        spec.output("files")

    def compute(self, op_input: Any, op_output: Any, context: Any) -> None:
        mammograms: list[Mammogram] = op_input.receive("mammograms") or []
        classification = op_input.receive("classification")
        detection = op_input.receive("detection")
        studies: dict[str, list[ImageFindings]] = {}
        for m in mammograms:
            cls = classification["by_sop"].get(m.sop_instance_uid)
            det = detection["by_sop"].get(m.sop_instance_uid)
            if cls is None or det is None:
                # an SR without its candidates (or class) would read as "nothing found": leave the film out
                failed = " and ".join(k for k, r in (("classification", cls), ("detection", det)) if r is None)
                self.report.add(m.path, "not_in_sr", f"its {failed} failed (inference_failed above)")
                continue
            studies.setdefault(m.study_instance_uid, []).append(ImageFindings(
                source=m.path,
                classification={"algorithm": classification["bundle"], "version": classification["version"],
                                "classes": cls["classes"], "probabilities": cls["probabilities"],
                                "prediction": cls["prediction"]},
                candidates=[c for c in det["candidates"] if c["reported"]],
                detector=detection["bundle"], detector_version=detection["version"]))
        files: dict[str, str] = {}
        for study_uid, images in studies.items():
            path = self.study_folder(study_uid) / "findings_sr.dcm"
            try:
                sr = findings_to_dicom_sr(images, series_description="mammo-monai findings, not for clinical use")
                files[study_uid] = str(save_new(sr, path, self.overwrite))
            except (OSError, ValueError) as e:
                self.report.add(path, "write_failed", f"DICOM SR of study {study_uid}: {type(e).__name__}: {e}")
        op_output.emit(files, "files")


def _jsonable(result: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if result is None:
        return None
    out = {k: v for k, v in result.items() if k != "mask"}
    if "mask" in result:
        out["mass_pixels"] = int((result["mask"] > 0).sum())
    return out


class SummaryWriterOperator(_Writer):
    """Named inputs ``mammograms``, ``segmentation``, ``classification``, ``detection``, ``seg_files``,
    ``sr_files``; writes ``summary.json``.

    Args:
        input_folder: the app's input (recorded).
        models: per bundle ``{"checkpoint", "configs"}`` (recorded).
        started: ``time.perf_counter()`` when the app started composing (the summary's ``seconds``).
    """

    def __init__(self, fragment: Fragment, *args: Any, input_folder: str | os.PathLike,
                 models: Mapping[str, Any], started: float, **kwargs: Any) -> None:
        self.input_folder = str(input_folder)
        self.models = dict(models)
        self.started = float(started)
        super().__init__(fragment, *args, **kwargs)

    def setup(self, spec: OperatorSpec) -> None:
        for name in ("mammograms", "segmentation", "classification", "detection", "seg_files", "sr_files"):
            spec.input(name)

    def compute(self, op_input: Any, op_output: Any, context: Any) -> None:
        mammograms: list[Mammogram] = op_input.receive("mammograms") or []
        results = {k: op_input.receive(k) for k in ("segmentation", "classification", "detection")}
        seg_files, sr_files = op_input.receive("seg_files"), op_input.receive("sr_files")
        studies: dict[str, dict[str, Any]] = {}
        for m in mammograms:
            study = studies.setdefault(m.study_instance_uid, {
                "study_instance_uid": m.study_instance_uid, "patient": m.patient,
                "patient_id": m.meta.get(MetaKeys.PATIENT_ID), "sr_file": sr_files.get(m.study_instance_uid),
                "images": []})
            image = {"file": str(m.path), "sop_instance_uid": m.sop_instance_uid,
                     "series_instance_uid": m.series_instance_uid, "rows": m.shape[0], "columns": m.shape[1],
                     "laterality": m.meta.get(MetaKeys.LATERALITY), "view": m.meta.get(MetaKeys.VIEW),
                     "photometric_interpretation": m.meta.get(MetaKeys.PHOTOMETRIC),
                     "pixel_spacing": m.meta.get(MetaKeys.PIXEL_SPACING), "seg_file": seg_files.get(m.sop_instance_uid)}
            for kind, r in results.items():
                image[kind] = _jsonable(r["by_sop"].get(m.sop_instance_uid))
            study["images"].append(image)
        summary = {
            "app": "mammo-monai MONAI Deploy app", "mammo_monai_version": mammo_monai.__version__,
            "input": self.input_folder, "output": str(self.output_folder),
            "models": {r["bundle"]: {"kind": kind, "version": r["version"], **self.models.get(r["bundle"], {})}
                       for kind, r in results.items()},
            "studies": list(studies.values()), "images": len(mammograms),
            "skipped": self.report.entries(), "skipped_counts": self.report.counts(),
            "seconds": round(time.perf_counter() - self.started, 3),
        }
        path = self.output_folder / SUMMARY_NAME
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_file(path, lambda f: f.write(json.dumps(summary, indent=2).encode()), overwrite=self.overwrite,
                          fsync=False)
        if not mammograms:
            logger.warning("no full-field mammogram in %s (see the files left out in %s)", self.input_folder, path)
        logger.info("%d mammogram(s) in %d stud(y/ies); %d file(s)/series left out %s; summary %s", len(mammograms),
                    len(studies), len(self.report.entries()), self.report.counts(), path)
