"""Indexing any folder of mammography DICOM (a hospital export, a PACS dump) into a datalist.

Headers are read without decoding pixels. Files are kept when they are 2D mammograms: Modality
``MG``, or any modality whose ``BodyPartExamined`` is ``BREAST`` (DDSM conversions say ``RG``). The
items carry no findings (``pathology`` is ``None``, ``lesions`` empty): this index is for inference,
or for labels joined later. Items are ordered by patient, study, laterality and view.

Example:
    >>> result = index_dicom_folder("/data/hospital_export", "/work/hospital.json",
    ...                             fractions={"test": 1.0})  # doctest: +SKIP
    >>> result.summary["images"]  # doctest: +SKIP
    812
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ..io import MammogramReadError, read_dicom_header, read_dicom_mammogram
from ..io.files import find_dicom_files, pixel_data_looks_intact
from .problems import ProblemLog
from .schema import ensure_outside_inputs, ensure_writable, make_item
from .splits import split_by_patient
from .summary import IndexResult, write_index

__all__ = ["index_dicom_folder", "mammogram_header_problem", "patient_id_from_header"]

_CBIS_PATIENT = re.compile(r"^(?:Mass|Calc)-(?:Training|Test)_(P_\d+)_(?:LEFT|RIGHT)_(?:CC|MLO)(?:_\d+)?$")
_NON_IMAGE_SOP_CLASSES = ("1.2.840.10008.5.1.4.1.1.88.", "1.2.840.10008.5.1.4.1.1.11.", "1.2.840.10008.1.3.10")


def patient_id_from_header(patient_id: str | None) -> str | None:
    """The woman's id: the DICOM PatientID, except CBIS-DDSM's ``Mass-Test_P_00173_LEFT_CC`` -> ``P_00173``."""
    if not patient_id:
        return None
    match = _CBIS_PATIENT.match(patient_id.strip())
    return match.group(1) if match else patient_id.strip()


def mammogram_header_problem(meta: Mapping[str, object], modalities: Sequence[str] = ("MG",)) -> tuple[str, str] | None:
    """Why a header (:func:`mammo_monai.io.read_dicom_header`) is not a 2D mammogram, as ``(kind, detail)``, or
    ``None`` when it is one: ``not_mammography`` (no image: a SR, a presentation state, a DICOMDIR; or a modality
    other than ``modalities`` with a body part other than ``BREAST``) or ``not_2d`` (multi-frame: tomosynthesis).

    Example:
        >>> mammogram_header_problem({"rows": 10, "sop_class_uid": "1.2.840.10008.5.1.4.1.1.7", "modality": "OT"})
        ('not_mammography', 'Modality OT, body part missing')
    """
    modality = str(meta.get("modality") or "").upper()
    body_part = str(meta.get("body_part_examined") or "").upper()
    sop_class = str(meta.get("sop_class_uid") or "")
    if not meta.get("rows") or sop_class.startswith(_NON_IMAGE_SOP_CLASSES):
        return "not_mammography", f"no image (SOP class {sop_class or 'unknown'})"
    if modality not in {m.upper() for m in modalities} and body_part != "BREAST":
        return "not_mammography", f"Modality {modality or 'missing'}, body part {body_part or 'missing'}"
    frames = int(meta.get("number_of_frames") or 1)  # type: ignore[call-overload]
    if frames > 1:
        return "not_2d", f"{frames} frames (tomosynthesis?)"
    return None


def index_dicom_folder(
    dicom_dir: str | os.PathLike,
    out: str | os.PathLike,
    fractions: Mapping[str, float] | None = None,
    seed: int = 0,
    modalities: Sequence[str] = ("MG",),
    overwrite: bool = False,
    progress: bool = True,
) -> IndexResult:
    """Index every 2D mammogram under ``dicom_dir`` into a datalist at ``out``, split by patient.

    Args:
        dicom_dir: folder searched recursively (``.dcm``/``.dicom`` files, files without a suffix, and any
            file with the DICOM preamble).
        out: the datalist JSON to write.
        fractions: split name -> fraction of patients (default ``{"test": 1.0}``: everything for inference).
            Files that are neither named ``.dcm``/``.dicom`` nor start with the DICOM preamble are
            skipped and counted (``non_dicom_files_skipped``).
        seed: split seed.
        modalities: modalities accepted besides ``BodyPartExamined == BREAST``.
        overwrite: replace an existing ``out``.
        progress: show a progress bar.

    Problems (reported, the scan goes on): ``unreadable_dicom`` (not DICOM, truncated or broken header: any
    error the DICOM reader raises on one file), ``bad_header`` (an element the item cannot be built from),
    ``not_mammography`` (another modality or a non-image object), ``unreadable_dicom`` also for pixel
    data cut short (checked from the file's end, without decoding), ``not_2d`` (multi-frame, e.g.
    tomosynthesis), ``duplicate_instance`` (same SOP Instance UID twice; the first is kept),
    ``no_laterality`` / ``no_view`` (kept, but a transform will have to infer them from the image).

    Raises:
        FileNotFoundError: ``dicom_dir`` does not exist.
        FileExistsError: ``out`` exists and ``overwrite`` is False.
        OutputInsideInputError: (a ``ValueError``) ``out`` is inside ``dicom_dir``.
    """
    root = Path(dicom_dir).resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: DICOM folder not found")
    ensure_outside_inputs(out, root)
    ensure_writable(out, overwrite)
    problems = ProblemLog()
    items, seen_sops = [], {}
    accepted = tuple(modalities)
    files, skipped = find_dicom_files(root)
    for path in tqdm(files, desc="DICOM headers", disable=not progress):
        try:
            meta = read_dicom_header(path)
        except (MammogramReadError, OSError) as e:
            problems.add(path, "unreadable_dicom", getattr(e, "reason", None) or str(e))
            continue
        except Exception as e:  # a broken header pydicom trips over in its own way: a problem, never a crash
            problems.add(path, "unreadable_dicom", f"broken header ({type(e).__name__}: {e})")
            continue
        try:
            item = _header_item(path, meta, accepted, seen_sops, problems)
        except Exception as e:  # a header element of an unexpected type or value
            problems.add(path, "bad_header", f"{type(e).__name__}: {e}")
            continue
        if item is not None:
            items.append(item)
    items.sort(key=lambda i: (i["patient_id"], i["study_instance_uid"] or "", i["laterality"] or "", i["view"] or "",
                              i["image"]))
    datalist = split_by_patient(items, fractions or {"test": 1.0}, seed=seed)
    studies = {(i["patient_id"], i["study_instance_uid"]) for i in items}
    return write_index(datalist, problems, out, overwrite=overwrite, studies=len(studies),
                       non_dicom_files_skipped=skipped)


def _header_item(
    path: Path, meta: Mapping[str, Any], accepted: tuple[str, ...], seen_sops: dict[str, Path], problems: ProblemLog
) -> dict[str, Any] | None:
    """The datalist item of one header, or ``None`` after reporting why the file is left out."""
    problem = mammogram_header_problem(meta, accepted)
    if problem is not None:
        problems.add(path, *problem)
        return None
    if not pixel_data_looks_intact(str(path), dict(meta)):  # suspicious from the file's end: decoding decides
        try:
            read_dicom_mammogram(path)
        except MammogramReadError as e:
            problems.add(path, "unreadable_dicom", e.reason)
            return None
        except Exception as e:
            problems.add(path, "unreadable_dicom", f"pixel data cannot be decoded ({type(e).__name__}: {e})")
            return None
    sop = meta["sop_instance_uid"]
    if sop and sop in seen_sops:
        problems.add(path, "duplicate_instance", f"same SOP Instance UID as {seen_sops[sop]}")
        return None
    if meta["laterality"] is None:
        problems.add(path, "no_laterality", "no (Image)Laterality, none in PatientOrientation/PatientID")
    if meta["view"] is None:
        problems.add(path, "no_view", "no ViewPosition/ViewCodeSequence, none in PatientOrientation/PatientID")
    patient_id = meta["patient_id"]
    patient = patient_id_from_header(None if patient_id is None else str(patient_id)) or \
        f"unknown:{meta['study_instance_uid'] or path.parent}"
    item = make_item(
        path,
        patient,
        meta["laterality"],
        meta["view"],
        annotated=False,
        study_instance_uid=meta["study_instance_uid"],
        series_instance_uid=meta["series_instance_uid"],
        sop_instance_uid=sop,
        modality=meta["modality"],
        pixel_spacing=meta["pixel_spacing"],
        rows=meta["rows"],
        columns=meta["columns"],
    )
    seen_sops[sop] = path
    return item
