"""The mammography MONAI Deploy application: a folder of DICOM in, DICOM SEG + DICOM SR + a JSON summary out.

Operators, in the order data flows::

    MammographyStudyLoaderOperator     the SDK's DICOMDataLoaderOperator (files checked and reported first)
    MammographySeriesSelectorOperator  the SDK's DICOMSeriesSelectorOperator: Modality MG series
    MammogramLoaderOperator            each instance read with mammo_monai.io; crops, masks, corrupt files out
    BundleInferenceOperator x 3        mass segmentation, whole-image classification, patch detection
    SegmentationWriterOperator         DICOM SEG per mammogram
    StructuredReportWriterOperator     DICOM SR per study
    SummaryWriterOperator              summary.json

Run: ``python -m mammo_monai.deploy -i <dicom folder> -o <out> -m <models>`` (or with ``HOLOSCAN_INPUT_PATH``,
``HOLOSCAN_OUTPUT_PATH``, ``HOLOSCAN_MODEL_PATH``, as a MAP does); settings: :mod:`.settings`.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from monai.deploy.conditions import CountCondition
from monai.deploy.core import Application

from .inference import BundleInferenceOperator
from .loading import MammogramLoaderOperator
from .report import RunReport
from .selection import MammographySeriesSelectorOperator, MammographyStudyLoaderOperator
from .settings import DeploySettings
from .writers import (
    SUMMARY_NAME,
    SegmentationWriterOperator,
    StructuredReportWriterOperator,
    SummaryWriterOperator,
)

__all__ = ["MammographyDeployApp"]

logger = logging.getLogger("mammo_monai.deploy")


class MammographyDeployApp(Application):
    """The app (see the module docstring). ``settings`` default to :meth:`DeploySettings.from_env`.

    Example:
        >>> MammographyDeployApp().run()  # reads -i/-o/-m from sys.argv  # doctest: +SKIP
    """

    def __init__(self, *args: Any, settings: DeploySettings | None = None, **kwargs: Any) -> None:
        self.settings = settings or DeploySettings.from_env()
        # highdicom logs every module it copies into a SEG/SR at INFO: a line per attribute group per image
        logging.getLogger("highdicom").setLevel(logging.WARNING)
        self.report = RunReport()
        super().__init__(*args, **kwargs)

    def compose(self) -> None:
        started = time.perf_counter()
        context = Application.init_app_context(self.argv)
        input_folder, output_folder = Path(context.input_path), Path(context.output_path)
        model_folder = Path(context.model_path)
        s = self.settings
        if not input_folder.is_dir():
            raise FileNotFoundError(f"{input_folder}: the input DICOM folder does not exist")
        if (output_folder / SUMMARY_NAME).exists() and not s.overwrite:
            raise FileExistsError(f"{output_folder / SUMMARY_NAME}: the output folder holds an earlier run; choose "
                                  "another one or set \"overwrite\": true in the settings")
        logger.info("input %s, output %s, models %s", input_folder, output_folder, model_folder)
        report = self.report
        loader = MammographyStudyLoaderOperator(self, CountCondition(self, 1), input_folder=input_folder,
                                                report=report, name="study_loader_op")
        selector = MammographySeriesSelectorOperator(self, report=report, rules=s.rules, name="series_selector_op")
        mammograms = MammogramLoaderOperator(self, report=report, min_field_mm=s.min_field_mm,
                                             name="mammogram_loader_op")
        self.add_flow(loader, selector, {("dicom_study_list", "dicom_study_list")})
        self.add_flow(selector, mammograms, {("study_selected_series_list", "study_selected_series_list")})

        bundles, models = {}, {}
        for kind in ("segmentation", "classification", "detection"):
            folder = s.bundle_dir(kind)
            checkpoint = model_folder / folder.name / "model.pt"
            configs = list(s.configs.get(folder.name, []))
            bundles[kind] = BundleInferenceOperator(
                self, kind=kind, bundle_dir=folder, checkpoint=checkpoint, report=report, configs=configs,
                overrides=s.overrides.get(folder.name), device=s.device, threshold=s.detection_threshold,
                name=f"{kind}_op")
            models[folder.name] = {"checkpoint": str(checkpoint), "configs": configs,
                                   "overrides": s.overrides.get(folder.name, {})}
            self.add_flow(mammograms, bundles[kind], {("mammograms", "mammograms")})

        common = {"output_folder": output_folder, "report": report, "overwrite": s.overwrite}
        seg = SegmentationWriterOperator(self, name="dicom_seg_writer_op", **common)
        sr = StructuredReportWriterOperator(self, name="dicom_sr_writer_op", **common)
        summary = SummaryWriterOperator(self, input_folder=input_folder, models=models, started=started,
                                        name="summary_writer_op", **common)
        self.add_flow(mammograms, seg, {("mammograms", "mammograms")})
        self.add_flow(bundles["segmentation"], seg, {("results", "segmentation")})
        self.add_flow(mammograms, sr, {("mammograms", "mammograms")})
        self.add_flow(bundles["classification"], sr, {("results", "classification")})
        self.add_flow(bundles["detection"], sr, {("results", "detection")})
        self.add_flow(mammograms, summary, {("mammograms", "mammograms")})
        for kind, op in bundles.items():
            self.add_flow(op, summary, {("results", kind)})
        self.add_flow(seg, summary, {("files", "seg_files")})
        self.add_flow(sr, summary, {("files", "sr_files")})
