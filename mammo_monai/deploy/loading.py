"""The app's own loading step: the selected series' instances read with :mod:`mammo_monai.io`.

The SDK's ``DICOMSeriesToVolumeOperator`` builds a volume from raw stored values: it applies neither the VOI LUT
nor MONOCHROME1 inversion, and it would stack a series' four views as slices. Here each instance of a selected
series is one mammogram, read by :func:`mammo_monai.io.read_mammogram` (every transfer syntax the project
decodes, MONOCHROME1 inverted, Modality/VOI LUT as the bundles' reader applies them), checked, and passed on
as a :class:`Mammogram` record; the bundles read the same file through their own reader, so what they see is
what ``python -m monai.bundle run`` would see.

Left out and reported (:class:`~mammo_monai.deploy.report.RunReport`): headers that are no 2D mammogram
(:func:`~mammo_monai.data.dicom_folder.mammogram_header_problem`), lesion crops and ROI masks, which CBIS-DDSM
also stores as MG (:func:`full_field_problem`), and files that fail to decode (``unreadable_dicom``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from monai.deploy.core import Fragment, Operator, OperatorSpec

from ..data.dicom_folder import mammogram_header_problem, patient_id_from_header
from ..io import MammogramReadError, MetaKeys, read_dicom_header, read_mammogram
from .report import RunReport

__all__ = ["MIN_FIELD_MM", "Mammogram", "MammogramLoaderOperator", "full_field_problem"]

#: the shortest side of a full-field mammogram, in mm (the smallest detectors are 18 x 24 cm; a lesion crop is a
#: few cm): an image with a known pixel spacing whose shorter side is shorter than this is a crop
MIN_FIELD_MM = 80.0
_CROP_OR_MASK = re.compile(r"crop|mask|\broi\b", re.IGNORECASE)
_DESCRIBING = ("SeriesDescription", "ImageType", "DerivationDescription", "ImageComments")


@dataclass
class Mammogram:
    """One full-field mammogram of a selected series.

    Attributes:
        path: the DICOM file (what the bundles read).
        meta: the header's :class:`~mammo_monai.io.MetaKeys` (laterality, view, spacing, UIDs, ...) as the reader
            gives them.
        shape: ``(rows, cols)`` of the image.
        patient: the woman's id (:func:`~mammo_monai.data.dicom_folder.patient_id_from_header`).
    """

    path: Path
    meta: dict[str, Any] = field(repr=False)
    shape: tuple[int, int]
    patient: str | None

    @property
    def sop_instance_uid(self) -> str:
        return str(self.meta[MetaKeys.SOP_UID])

    @property
    def study_instance_uid(self) -> str:
        return str(self.meta[MetaKeys.STUDY_UID])

    @property
    def series_instance_uid(self) -> str:
        return str(self.meta[MetaKeys.SERIES_UID])


def full_field_problem(dataset: Any, image: np.ndarray, pixel_spacing: Any = None,
                       min_field_mm: float = MIN_FIELD_MM) -> str | None:
    """Why an MG image is not a full-field mammogram (a lesion crop or an ROI mask), or ``None``.

    By header first (``SeriesDescription``, ``ImageType``, ``DerivationDescription`` or ``ImageComments`` naming a
    crop, a mask or an ROI: CBIS-DDSM's "cropped images" and "ROI mask images"), then by content: two pixel values
    or fewer (a binary mask), or, where the pixel spacing is known, a shorter side under ``min_field_mm``.

    Example:
        >>> import pydicom
        >>> ds = pydicom.Dataset(); ds.SeriesDescription = "ROI mask images"
        >>> full_field_problem(ds, np.zeros((4, 4)))
        "SeriesDescription 'ROI mask images' names a crop or mask"
    """
    for keyword in _DESCRIBING:
        value = dataset.get(keyword) if hasattr(dataset, "get") else None
        text = "\\".join(str(v) for v in value) if isinstance(value, (list, tuple)) or (
            value is not None and type(value).__name__ == "MultiValue") else str(value or "")
        if text and _CROP_OR_MASK.search(text):
            return f"{keyword} '{text}' names a crop or mask"
    sample = np.unique(image[:: max(1, image.shape[0] // 256), :: max(1, image.shape[1] // 256)])
    if len(sample) <= 2 and len(np.unique(image)) <= 2:
        return f"{len(np.unique(image))} pixel value(s): a binary mask, not a mammogram"
    if pixel_spacing is not None:
        side = min(image.shape[0] * float(pixel_spacing[0]), image.shape[1] * float(pixel_spacing[1]))
        if side < min_field_mm:
            return f"{side:.0f} mm across ({image.shape[0]} x {image.shape[1]} px): a crop, not a full field"
    return None


class MammogramLoaderOperator(Operator):
    """Selected series -> the list of :class:`Mammogram` (each instance read and checked once).

    Args:
        fragment: the application.
        report: where the instances left out are recorded.
        min_field_mm: see :func:`full_field_problem`.

    Named input ``study_selected_series_list`` (the SDK selector's output); named output ``mammograms``
    (``list[Mammogram]``, in study, series, file order).
    """

    def __init__(self, fragment: Fragment, *args: Any, report: RunReport, min_field_mm: float = MIN_FIELD_MM,
                 **kwargs: Any) -> None:
        self.report = report
        self.min_field_mm = float(min_field_mm)
        super().__init__(fragment, *args, **kwargs)

    def setup(self, spec: OperatorSpec) -> None:
        spec.input("study_selected_series_list")
        spec.output("mammograms")

    def load(self, dataset: Any) -> Mammogram | None:
        """One SOP instance (the SDK's pydicom dataset, read from ``dataset.filename``) as a record, or ``None``
        (reported)."""
        path = Path(str(getattr(dataset, "filename", "") or ""))
        if not path.is_file():
            self.report.add(f"instance {dataset.get('SOPInstanceUID', '?')}", "unreadable_dicom",
                            "the SDK's dataset names no file to read")
            return None
        try:
            header = read_dicom_header(path)
            problem = mammogram_header_problem(header)
            if problem is not None:
                self.report.add(path, *problem)
                return None
            image, meta = read_mammogram(path)
        except MammogramReadError as e:
            self.report.add(path, "unreadable_dicom", e.reason)
            return None
        why = full_field_problem(dataset, image, meta.get(MetaKeys.PIXEL_SPACING), self.min_field_mm)
        if why is not None:
            self.report.add(path, "not_full_field", why)
            return None
        return Mammogram(path=path, meta=meta, shape=(int(image.shape[0]), int(image.shape[1])),
                         patient=patient_id_from_header(meta.get(MetaKeys.PATIENT_ID)))

    def compute(self, op_input: Any, op_output: Any, context: Any) -> None:
        selections = op_input.receive("study_selected_series_list") or []
        mammograms: list[Mammogram] = []
        seen: set[str] = set()
        for study in selections:
            for selected in study.selected_series:
                for instance in selected.series.get_sop_instances():
                    record = self.load(instance.get_native_sop_instance())
                    if record is None:
                        continue
                    if record.sop_instance_uid in seen:
                        self.report.add(record.path, "duplicate_instance", "same SOP Instance UID as an earlier file")
                        continue
                    seen.add(record.sop_instance_uid)
                    mammograms.append(record)
        op_output.emit(mammograms, "mammograms")
