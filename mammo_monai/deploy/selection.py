"""The SDK's DICOM study loader and series selector, with every file and series they leave out reported.

- :class:`MammographyStudyLoaderOperator`: the SDK's ``DICOMDataLoaderOperator`` (it groups the SOP instances
  of a folder into studies and series) after a header-only check of each file with :mod:`mammo_monai.io`: a file
  that is not DICOM or whose pixel data is cut short is reported (``not_dicom`` / ``unreadable_dicom``) and left
  out, instead of the SDK's own behaviour (a bare warning for some errors, an exception that stops the app for
  others, such as a truncated file).
- :class:`MammographySeriesSelectorOperator`: the SDK's ``DICOMSeriesSelectorOperator`` with
  :data:`MAMMOGRAPHY_RULES` (Modality ``MG``, which includes CBIS-DDSM's Secondary Capture MG films), every matching
  series selected; each series the rules leave out is reported with its modality and description
  (``not_mammography``). Lesion crops and ROI masks are also ``MG``: :mod:`.loading` tells them apart.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from monai.deploy.operators.dicom_data_loader_operator import DICOMDataLoaderOperator
from monai.deploy.operators.dicom_series_selector_operator import DICOMSeriesSelectorOperator

from ..io import MammogramReadError, NotDicomError, is_dicom_file, read_dicom_header, read_dicom_mammogram
from ..io.files import pixel_data_looks_intact
from .report import RunReport

__all__ = ["MAMMOGRAPHY_RULES", "MammographySeriesSelectorOperator", "MammographyStudyLoaderOperator",
           "readable_dicom_files"]

#: the SDK's selection rules (JSON): every series whose Modality is MG
MAMMOGRAPHY_RULES = json.dumps({"selections": [{"name": "mammography", "conditions": {"Modality": "(?i)^MG$"}}]})


def readable_dicom_files(files: Sequence[str | os.PathLike], report: RunReport) -> list[str]:
    """The files whose header reads and whose pixel data is whole; the others go to ``report``.

    Hidden files (``.DS_Store``, macOS ``._x.dcm`` forks) and ``DICOMDIR`` are passed over silently. Pixel data
    that looks cut short from the file's end (:func:`~mammo_monai.io.files.pixel_data_looks_intact`) is decoded to
    decide.
    """
    kept = []
    for file in files:
        path = Path(file)
        if path.name.startswith(".") or path.name == "DICOMDIR":
            continue  # the SDK ignores a DICOMDIR too
        try:
            header = read_dicom_header(path)
            if not pixel_data_looks_intact(str(path), header) and header.get("rows"):
                read_dicom_mammogram(path)
        except MammogramReadError as e:
            # no DICM preamble and nothing DICOM in it (a README beside the files): not DICOM; else corrupt
            kind = "not_dicom" if isinstance(e, NotDicomError) and not is_dicom_file(path) else "unreadable_dicom"
            report.add(path, kind, getattr(e, "reason", None) or str(e))
            continue
        except OSError as e:
            report.add(path, "unreadable_dicom", str(e))
            continue
        kept.append(str(path))
    return kept


class MammographyStudyLoaderOperator(DICOMDataLoaderOperator):
    """``DICOMDataLoaderOperator`` over the files :func:`readable_dicom_files` keeps.

    Args:
        fragment: the application.
        report: where the files left out are recorded.
        args, kwargs: as ``DICOMDataLoaderOperator`` (``input_folder``, ``name``, conditions).

    Named output ``dicom_study_list``: a list of the SDK's ``DICOMStudy``.
    """

    def __init__(self, fragment: Any, *args: Any, report: RunReport, **kwargs: Any) -> None:
        self.report = report
        # a folder without any readable DICOM is a result (an empty summary listing why), not a crash
        kwargs.setdefault("must_load", False)
        super().__init__(fragment, *args, **kwargs)

    def _load_data(self, files: list[str]) -> list[Any]:
        return super()._load_data(readable_dicom_files(sorted(files), self.report))


class MammographySeriesSelectorOperator(DICOMSeriesSelectorOperator):
    """``DICOMSeriesSelectorOperator`` (all matching series) that reports each series it leaves out.

    Args:
        fragment: the application.
        report: where the series left out are recorded.
        rules: the SDK's selection rules in JSON (default :data:`MAMMOGRAPHY_RULES`).

    Named input ``dicom_study_list``; named output ``study_selected_series_list``.
    """

    def __init__(self, fragment: Any, *args: Any, report: RunReport, rules: str = MAMMOGRAPHY_RULES,
                 **kwargs: Any) -> None:
        self.report = report
        self.rules_text = rules
        super().__init__(fragment, *args, rules=rules, all_matched=True, **kwargs)

    def filter(self, selection_rules: Any, dicom_study_list: list[Any], all_matched: bool = False,
               sort_by_sop_instance_count: bool = False) -> list[Any]:
        selected = super().filter(selection_rules, dicom_study_list, all_matched, sort_by_sop_instance_count)
        chosen = {s.series.SeriesInstanceUID for study in selected for s in study.selected_series}
        wanted = "; ".join(f"{k} {v}" for sel in json.loads(self.rules_text)["selections"]
                           for k, v in sel.get("conditions", {}).items())
        for study in dicom_study_list:
            for series in study.get_all_series():
                if series.SeriesInstanceUID in chosen:
                    continue
                instances = series.get_sop_instances()
                first = instances[0].get_native_sop_instance() if instances else None
                where = getattr(first, "filename", None) or f"series {series.SeriesInstanceUID}"
                modality = getattr(series, "Modality", None) or "missing"
                description = getattr(series, "SeriesDescription", None) or ""
                self.report.add(where, "not_mammography",
                                f"series {series.SeriesInstanceUID} ({len(instances)} instance(s), Modality {modality}"
                                + (f", '{description}'" if description else "")
                                + f") does not match the selection rules ({wanted})")
        return selected
