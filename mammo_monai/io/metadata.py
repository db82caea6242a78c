"""Mammography metadata from a DICOM header: identity, laterality, view, pixel spacing, pixel format.

Real files put these in many places. CBIS-DDSM (Secondary Capture) has laterality only in
``(0020,0060) Laterality`` and the view only in ``PatientOrientation`` (``"CC"``) and in ``PatientID``
(``Mass-Test_P_00173_LEFT_CC``); DDSM via NEMA has ``SpatialResolution`` instead of a pixel spacing;
Digital Mammography IODs fill ``ImageLaterality``, ``ViewPosition`` and ``ViewCodeSequence``. The
functions here try the standard attribute first and fall back in a fixed, documented order.

Example:
    >>> from pydicom.dataset import Dataset
    >>> ds = Dataset(); ds.Laterality = "L"; ds.PatientOrientation = "CC"
    >>> ds.PatientID = "Mass-Test_P_00173_LEFT_CC"
    >>> laterality_from_header(ds), view_from_header(ds)
    ('L', 'CC')
"""

from __future__ import annotations

import logging
import math
import re
from typing import Any

from pydicom.dataset import Dataset

__all__ = [
    "MetaKeys",
    "dicom_metadata",
    "laterality_from_header",
    "pixel_spacing_from_header",
    "view_from_header",
]

logger = logging.getLogger(__name__)


class MetaKeys:
    """Keys of the mammography metadata that :mod:`mammo_monai.io` adds to MONAI's meta dict."""

    PATIENT_ID = "patient_id"
    STUDY_UID = "study_instance_uid"
    SERIES_UID = "series_instance_uid"
    SOP_UID = "sop_instance_uid"
    SOP_CLASS_UID = "sop_class_uid"
    MODALITY = "modality"
    LATERALITY = "laterality"  # "L" | "R" | None
    VIEW = "view"  # "CC" | "MLO" | "ML" | ... | None
    PIXEL_SPACING = "pixel_spacing"  # [row mm, col mm] or None
    PIXEL_SPACING_SOURCE = "pixel_spacing_source"  # the attribute it came from
    PATIENT_ORIENTATION = "patient_orientation"  # [row direction, column direction], e.g. ["A", "FR"], or None
    PHOTOMETRIC = "photometric_interpretation"
    BITS_STORED = "bits_stored"
    WINDOW = "window"  # [center, width] of the first window in the file, or None
    TRANSFER_SYNTAX = "transfer_syntax_uid"
    DECODER = "decoder"  # what decoded the pixels: "dicomsdl", a pydicom plugin ("pylibjpeg", ...), "native"
    VALUE_RANGE = "value_range"  # [min, max] the returned pixels can take
    INVERTED = "monochrome1_inverted"  # True when MONOCHROME1 was inverted to MONOCHROME2
    VOI_APPLIED = "voi_applied"  # "voi_lut" | "window" | None

    @classmethod
    def all(cls) -> tuple[str, ...]:
        """Every key, in declaration order."""
        return tuple(v for k, v in vars(cls).items() if k.isupper() and isinstance(v, str))


_VIEW_TERMS = ("XCCL", "XCCM", "MLO", "LMO", "SIO", "CC", "ML", "LM", "FB", "AT", "CV")
_VIEW_TOKEN = re.compile(r"(?:^|[^A-Z])(?:[LR]|LEFT|RIGHT)?[ _-]?(" + "|".join(_VIEW_TERMS) + r")(?:$|[^A-Z])")
_LAT_TOKEN = re.compile(r"(?:^|[^A-Z])(LEFT|RIGHT)(?:$|[^A-Z])|(?:^|[^A-Z])([LR])[ _-]?(?:" + "|".join(_VIEW_TERMS)
                        + r")(?:$|[^A-Z])")

# ViewCodeSequence: DICOM CID 4014 "View for Mammography", SNOMED-RT (SRT) and SNOMED CT codes.
_VIEW_CODES = {
    "R-10242": "CC", "399162004": "CC",
    "R-10226": "MLO", "399368009": "MLO",
    "R-10224": "ML", "399260004": "ML",
    "R-10228": "LM", "399352003": "LM",
    "R-10230": "LMO", "399099002": "LMO",
    "R-102D0": "SIO", "399196006": "SIO",
    "R-1024A": "XCCL", "399192003": "XCCL",
    "R-1024B": "XCCM", "399101009": "XCCM",
    "R-102CF": "FB", "399188001": "FB",
}
_VIEW_MEANINGS = {
    "cranio-caudal": "CC", "medio-lateral oblique": "MLO", "medio-lateral": "ML", "latero-medial": "LM",
    "latero-medial oblique": "LMO", "superolateral to inferomedial oblique": "SIO",
    "exaggerated cranio-caudal": "XCCL", "cranio-caudal exaggerated laterally": "XCCL",
    "cranio-caudal exaggerated medially": "XCCM", "caudo-cranial (from below)": "FB",
}


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    if value is None:
        return ""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)
    return str(value)


def laterality_from_header(ds: Dataset) -> str | None:
    """``"L"``/``"R"`` from ImageLaterality, else Laterality, else PatientOrientation / PatientID tokens.

    Tokens recognised in PatientOrientation and PatientID: ``LEFT``/``RIGHT`` as a word
    (``Mass-Test_P_00173_LEFT_CC``) or an ``L``/``R`` prefix on a view (``LCC``, ``R_MLO``). ``B``
    (both) and ``U`` (unpaired) give ``None``.
    """
    for keyword in ("ImageLaterality", "Laterality"):
        value = _text(ds, keyword).strip().upper()
        if value in ("L", "R"):
            return value
    for keyword in ("PatientOrientation", "PatientID", "SeriesDescription"):
        match = _LAT_TOKEN.search(_text(ds, keyword).upper())
        if match:
            return (match.group(1) or match.group(2))[0]
    return None


def _view_from_code_sequence(ds: Dataset) -> str | None:
    for item in ds.get("ViewCodeSequence", []) or []:
        code = str(item.get("CodeValue", "")).strip()
        if code in _VIEW_CODES:
            return _VIEW_CODES[code]
        meaning = str(item.get("CodeMeaning", "")).strip().lower()
        if meaning in _VIEW_MEANINGS:
            return _VIEW_MEANINGS[meaning]
    return None


def view_from_header(ds: Dataset) -> str | None:
    """The mammographic view (``CC``, ``MLO``, ...) from ViewPosition, else ViewCodeSequence, else tokens
    in PatientOrientation (CBIS-DDSM puts ``CC``/``MLO`` there), PatientID or SeriesDescription."""
    value = _text(ds, "ViewPosition").strip().upper()
    if value in _VIEW_TERMS:
        return value
    view = _view_from_code_sequence(ds)
    if view:
        return view
    for keyword in ("PatientOrientation", "PatientID", "SeriesDescription"):
        match = _VIEW_TOKEN.search(_text(ds, keyword).upper())
        if match:
            return match.group(1)
    return None


def pixel_spacing_from_header(ds: Dataset) -> tuple[list[float] | None, str | None]:
    """``([row mm, col mm], source keyword)`` from PixelSpacing, ImagerPixelSpacing or SpatialResolution.

    SpatialResolution is a single value; DDSM digitisers store their sampling pitch there, so it is used
    for both axes. Returns ``(None, None)`` when the header has none of them (CBIS-DDSM).
    A value that is present but unusable (not two numbers, zero, negative, NaN or infinite) is skipped with a
    logged warning naming the file and the element: the image is still read, with the next source or no spacing.
    """
    for keyword in ("PixelSpacing", "ImagerPixelSpacing", "SpatialResolution"):
        try:
            value = ds.get(keyword)
        except Exception as e:  # a malformed value pydicom cannot even convert
            _bad_spacing(ds, keyword, f"unreadable ({type(e).__name__}: {e})")
            continue
        if value is None or (isinstance(value, (str, bytes)) and not value.strip()):
            continue
        values = list(value) if hasattr(value, "__len__") and not isinstance(value, (str, bytes)) else [value]
        if keyword == "SpatialResolution":
            values = values[:1] * 2 if len(values) == 1 else values
        try:
            numbers = [float(v) for v in values]
        except (TypeError, ValueError, OverflowError):
            _bad_spacing(ds, keyword, f"{value!r} is not numbers")
            continue
        if len(numbers) != 2 or not all(math.isfinite(v) and v > 0 for v in numbers):
            _bad_spacing(ds, keyword, f"{value!r} is not two positive finite numbers")
            continue
        return numbers, keyword
    return None, None


def _bad_spacing(ds: Dataset, keyword: str, what: str) -> None:
    logger.warning("%s: %s %s; ignored (the image is read without it)", getattr(ds, "filename", None) or "<dataset>",
                   keyword, what)


def _patient_orientation(ds: Dataset) -> list[str] | None:
    """PatientOrientation as ``[row direction, column direction]`` when it holds two direction codes
    (``A``/``P``/``R``/``L``/``H``/``F`` combinations); CBIS-DDSM's ``"CC"`` is a view, not a direction."""
    value = ds.get("PatientOrientation")
    if value is None or isinstance(value, str) or len(value) != 2:
        return None
    parts = [str(v).strip().upper() for v in value]
    return parts if all(p and set(p) <= set("APRLHF") for p in parts) else None


def _first_window(ds: Dataset) -> list[float] | None:
    center, width = ds.get("WindowCenter"), ds.get("WindowWidth")
    if center is None or width is None:
        return None
    if not isinstance(center, (int, float)):
        center = center[0]
    if not isinstance(width, (int, float)):
        width = width[0]
    return [float(center), float(width)]


def dicom_metadata(ds: Dataset) -> dict[str, Any]:
    """All :class:`MetaKeys` that a header gives (values ``None`` where the header has nothing)."""
    spacing, spacing_source = pixel_spacing_from_header(ds)
    file_meta = getattr(ds, "file_meta", None)
    transfer_syntax = file_meta.get("TransferSyntaxUID") if file_meta is not None else None
    return {
        MetaKeys.PATIENT_ID: _text(ds, "PatientID") or None,
        MetaKeys.STUDY_UID: _text(ds, "StudyInstanceUID") or None,
        MetaKeys.SERIES_UID: _text(ds, "SeriesInstanceUID") or None,
        MetaKeys.SOP_UID: _text(ds, "SOPInstanceUID") or None,
        MetaKeys.SOP_CLASS_UID: _text(ds, "SOPClassUID") or None,
        MetaKeys.MODALITY: _text(ds, "Modality") or None,
        MetaKeys.LATERALITY: laterality_from_header(ds),
        MetaKeys.VIEW: view_from_header(ds),
        MetaKeys.PATIENT_ORIENTATION: _patient_orientation(ds),
        MetaKeys.PIXEL_SPACING: spacing,
        MetaKeys.PIXEL_SPACING_SOURCE: spacing_source,
        MetaKeys.PHOTOMETRIC: _text(ds, "PhotometricInterpretation") or None,
        MetaKeys.BITS_STORED: int(ds.BitsStored) if "BitsStored" in ds else None,
        MetaKeys.WINDOW: _first_window(ds),
        MetaKeys.TRANSFER_SYNTAX: str(transfer_syntax) if transfer_syntax else None,
    }
