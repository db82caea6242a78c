"""A small synthetic CBIS-DDSM download: DICOM tree, the four case-description CSVs and the ground truth.

The output imitates a real CBIS-DDSM download closely enough to exercise an indexer, quirks included:

- image tree ``CBIS-DDSM/<Case>/...`` where ``<Case>`` is e.g. ``Mass-Training_P_00001_LEFT_CC`` (full
  mammogram) or ``Mass-Training_P_00001_LEFT_CC_1`` (abnormality 1: its cropped image and ROI mask), in
  one of two layouts:

  - ``layout="tcia"`` (newer NBIA downloads with UID folders)::

        Mass-Training_P_00001_LEFT_CC/<StudyUID>/<SeriesUID>/1-1.dcm          full mammogram
        Mass-Training_P_00001_LEFT_CC_1/<StudyUID>/<SeriesUID>/1-1.dcm        crop or mask
        Mass-Training_P_00001_LEFT_CC_1/<StudyUID>/<SeriesUID>/1-2.dcm        the other one

    (crop and mask share one series; which of ``1-1``/``1-2`` is the mask varies);
  - ``layout="descriptive"`` (NBIA "descriptive directory names")::

        Mass-Training_P_00001_LEFT_CC/07-20-2016-DDSM-NNNNN/1.000000-full mammogram images-NNNNN/1-1.dcm
        Mass-Training_P_00001_LEFT_CC_1/07-21-2016-DDSM-NNNNN/1.000000-ROI mask images-NNNNN/1-1.dcm
        Mass-Training_P_00001_LEFT_CC_1/07-21-2016-DDSM-NNNNN/2.000000-cropped images-NNNNN/1-1.dcm

    (``NNNNN`` = the last 5 digits of the Study/Series Instance UID; crop and mask are separate series);

- ``csv/{mass,calc}_case_description_{train,test}_set.csv`` with the real column names (``breast_density``
  in the mass files, ``breast density`` in the calc files), CRLF line ends and a newline inside the quotes
  at the end of every ``ROI mask file path`` (mass) / ``cropped image file path`` (calc) value. Their paths
  use the OLD TCIA form ``<Case>/<StudyUID>/<SeriesUID>/000000.dcm`` that never matches the file names on
  disk, and in some rows the crop and mask columns are swapped, so an indexer has to match on case folder
  + UIDs and tell a mask from a crop by its content (8-bit 0/255, same size as the full image);
- DICOMs like the real ones: Secondary Capture, Modality MG, laterality in ``Laterality`` (no
  ``ImageLaterality``), the view in ``PatientOrientation`` (no ``ViewPosition``), ``PatientID`` =
  ``PatientName`` = the case folder name; full images 16 bit (mostly MONOCHROME2, some MONOCHROME1 with
  inverted stored values), ROI masks 8 bit 0/255, crops 16 bit; RLE Lossless or Explicit VR Little Endian;
- a patient whose view is in both a Mass and a Calc table (the same mammogram twice, identical pixels,
  different UIDs) and a patient in mass-train and calc-test (crossing the official splits).

``ground_truth.json`` (a :mod:`mammo_monai.data.schema` datalist) holds what an indexer must recover: one
item per physical mammogram with its lesions, whose ``center``/``radius``/``box`` are
:func:`~mammo_monai.data.geometry.lesion_geometry_from_mask` of the lesion's ROI mask.

Example:
    >>> summary = synthesize_cbis_ddsm("/tmp/cbis_synth", n_patients=6, seed=0)  # doctest: +SKIP
    >>> summary["n_images"], sorted(load_datalist(summary["ground_truth"]))  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, RLELossless, SecondaryCaptureImageStorage, generate_uid

from mammo_monai.data.geometry import lesion_geometry_from_mask
from mammo_monai.data.schema import make_item, make_lesion, write_datalist
from mammo_monai.data.synthetic.anatomy import LesionSpec, render_mammogram, to_uint16
from mammo_monai.io.compat import compress_dataset, save_dataset

__all__ = ["CALC_COLUMNS", "CSV_NAMES", "MASS_COLUMNS", "synthesize_cbis_ddsm"]

#: the columns both case-description CSVs end with
_SHARED_TAIL = (
    "assessment",
    "pathology",
    "subtlety",
    "image file path",
    "cropped image file path",
    "ROI mask file path",
)
# "breast_density" vs "breast density": the real CSVs spell it so
MASS_COLUMNS = ("patient_id", "breast_density", "left or right breast", "image view", "abnormality id",
                "abnormality type", "mass shape", "mass margins", *_SHARED_TAIL)
CALC_COLUMNS = ("patient_id", "breast density", "left or right breast", "image view", "abnormality id",
                "abnormality type", "calc type", "calc distribution", *_SHARED_TAIL)
#: (family, official split) -> CSV file name
CSV_NAMES = {
    ("Mass", "Training"): "mass_case_description_train_set.csv",
    ("Mass", "Test"): "mass_case_description_test_set.csv",
    ("Calc", "Training"): "calc_case_description_train_set.csv",
    ("Calc", "Test"): "calc_case_description_test_set.csv",
}

# vocabulary as in the real tables ("" = a missing value)
_MASS_SHAPES = (
    "IRREGULAR",
    "OVAL",
    "LOBULATED",
    "ROUND",
    "ARCHITECTURAL_DISTORTION",
    "IRREGULAR-ARCHITECTURAL_DISTORTION",
    "LYMPH_NODE",
    "ASYMMETRIC_BREAST_TISSUE",
    "FOCAL_ASYMMETRIC_DENSITY",
    "LOBULATED-IRREGULAR",
)
_MASS_SHAPE_P = (0.25, 0.22, 0.2, 0.09, 0.06, 0.04, 0.04, 0.03, 0.03, 0.04)
_MASS_MARGINS = (
    "CIRCUMSCRIBED",
    "SPICULATED",
    "ILL_DEFINED",
    "OBSCURED",
    "MICROLOBULATED",
    "CIRCUMSCRIBED-ILL_DEFINED",
    "ILL_DEFINED-SPICULATED",
    "CIRCUMSCRIBED-OBSCURED",
    "",
)
_MASS_MARGIN_P = (0.22, 0.2, 0.2, 0.14, 0.08, 0.04, 0.04, 0.04, 0.04)
_CALC_TYPES = (
    "PLEOMORPHIC",
    "AMORPHOUS",
    "PUNCTATE",
    "LUCENT_CENTER",
    "VASCULAR",
    "FINE_LINEAR_BRANCHING",
    "COARSE",
    "ROUND_AND_REGULAR-LUCENT_CENTER",
    "PUNCTATE-PLEOMORPHIC",
    "",
)
_CALC_TYPE_P = (0.4, 0.1, 0.08, 0.08, 0.06, 0.08, 0.04, 0.05, 0.05, 0.06)
_CALC_DISTS = ("CLUSTERED", "SEGMENTAL", "REGIONAL", "LINEAR", "DIFFUSELY_SCATTERED", "CLUSTERED-LINEAR", "")
_CALC_DIST_P = (0.45, 0.11, 0.07, 0.07, 0.04, 0.04, 0.22)
_PATHOLOGIES = ("MALIGNANT", "BENIGN", "BENIGN_WITHOUT_CALLBACK")
_ASSESSMENT = {"MALIGNANT": (4, 4, 5, 5, 0), "BENIGN": (2, 3, 4, 4, 0), "BENIGN_WITHOUT_CALLBACK": (2, 2, 3)}
_SIDES = {"L": "LEFT", "R": "RIGHT"}
_FAMILY_TYPE = {"Mass": "mass", "Calc": "calcification"}
_MANIFEST = ".synthetic_cbis_ddsm.json"
_IMPLEMENTATION_UID = generate_uid(entropy_srcs=["mammo_monai.data.synthetic implementation"])
_IMPLEMENTATION_VERSION = "MAMMO_MONAI_SYN"
_FULL_DATE, _ROI_DATE = "20160720", "20160721"


@dataclass
class _Abnormality:
    """One CSV row: one abnormality of one full image in one table."""

    family: str  # "Mass" | "Calc"
    split: str  # "Training" | "Test"
    abnormality_id: int
    pathology: str
    assessment: int
    subtlety: int
    descr1: str  # mass shape | calc type
    descr2: str  # mass margins | calc distribution
    radius: float
    style: str
    mask_first: bool = True  # tcia layout: 1-1.dcm is the mask
    swapped: bool = False  # the CSV's crop and mask columns are swapped
    mask_rle: bool = False
    crop_rle: bool = False
    mask: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=bool))


@dataclass
class _Entry:
    """One appearance of a view in one table: one full-mammogram DICOM file."""

    family: str
    split: str
    abnormalities: list[_Abnormality]
    photometric: str = "MONOCHROME2"
    rle: bool = False


@dataclass
class _View:
    """One physical mammogram (patient, laterality, view), possibly listed in a Mass and a Calc table."""

    patient: str
    laterality: str
    view: str
    density: int
    entries: list[_Entry] = field(default_factory=list)


def _case(patient: str, laterality: str, view: str, family: str, split: str) -> str:
    return f"{family}-{split}_{patient}_{_SIDES[laterality]}_{view}"


def _mass_style(shape: str, margins: str) -> str:
    if "SPICULATED" in margins:
        return "spiculated"
    if shape == "ARCHITECTURAL_DISTORTION":
        return "distortion"
    if "ASYMMETRIC" in shape:
        return "asymmetry"
    if "ILL_DEFINED" in margins or "OBSCURED" in margins:
        return "ill_defined"
    for key, style in (("IRREGULAR", "irregular"), ("LOBULATED", "lobulated"), ("ROUND", "round")):
        if key in shape:
            return style
    return "oval"


class _Planner:
    """Draws the (seeded) list of views, tables and abnormalities."""

    def __init__(self, rng: np.random.Generator, scale: float) -> None:
        self.rng = rng
        self.scale = scale

    def pathology(self) -> str:
        return str(self.rng.choice(_PATHOLOGIES, p=(0.45, 0.38, 0.17)))

    def abnormality(
        self, family: str, split: str, aid: int, pathology: str | None = None, **fixed: str
    ) -> _Abnormality:
        rng = self.rng
        pathology = pathology or self.pathology()
        assessment = int(rng.choice(_ASSESSMENT[pathology]))
        subtlety = int(rng.integers(1, 6))
        if family == "Mass":
            d1 = fixed.get("descr1", str(rng.choice(_MASS_SHAPES, p=_MASS_SHAPE_P)))
            d2 = fixed.get("descr2", str(rng.choice(_MASS_MARGINS, p=_MASS_MARGIN_P)))
            radius = self.scale * rng.uniform(0.045, 0.08)
            style = _mass_style(d1, d2)
        else:
            d1 = fixed.get("descr1", str(rng.choice(_CALC_TYPES, p=_CALC_TYPE_P)))
            d2 = fixed.get("descr2", str(rng.choice(_CALC_DISTS, p=_CALC_DIST_P)))
            radius = self.scale * rng.uniform(0.035, 0.06)
            style = "linear" if "LINEAR" in d2 or "LINEAR" in d1 else "clustered"
        return _Abnormality(family, split, aid, pathology, assessment, subtlety, d1, d2, float(radius), style)

    def entry(self, family: str, split: str, n: int, pathologies: Iterable[str | None] = (), **fixed: str) -> _Entry:
        paths = list(pathologies) + [None] * n
        abns = [self.abnormality(family, split, i + 1, paths[i], **(fixed if i == n - 1 else {})) for i in range(n)]
        return _Entry(family, split, abns)

    def plan(self, n_patients: int) -> list[_View]:
        """The fixed roles of patients 1-4 (covering every quirk), then random patients."""
        rng = self.rng
        numbers = 1 + np.cumsum(np.concatenate([[0], rng.integers(1, 4, size=n_patients - 1)]))
        pid = [f"P_{int(n):05d}" for n in numbers]
        dens = [int(d) for d in rng.integers(1, 5, size=n_patients)]
        views: list[_View] = []

        def view(i: int, lat: str, v: str, *entries: _Entry) -> None:
            views.append(_View(pid[i], lat, v, dens[i], list(entries)))

        # 1: the same LEFT CC mammogram in the mass and the calc training tables
        view(0, "L", "CC", self.entry("Mass", "Training", 1, ["MALIGNANT"]), self.entry("Calc", "Training", 1))
        view(0, "L", "MLO", self.entry("Mass", "Training", 1, ["MALIGNANT"]))
        # 2: mass-train (two masses on one image) and calc-test: crosses the official splits
        view(1, "R", "CC", self.entry("Mass", "Training", 2, ["BENIGN", "MALIGNANT"]))
        view(1, "R", "MLO", self.entry("Mass", "Training", 1))
        view(1, "L", "MLO", self.entry("Calc", "Test", 1, ["BENIGN_WITHOUT_CALLBACK"]))
        # 3: calc-train, three clusters on one image, one row with an empty distribution
        view(2, "R", "CC", self.entry("Calc", "Training", 3, ["BENIGN", "BENIGN_WITHOUT_CALLBACK", "MALIGNANT"]))
        view(2, "L", "MLO", self.entry("Calc", "Training", 1, ["MALIGNANT"], descr2=""))
        # 4: mass-test, benign, an empty margins value; its CC is MONOCHROME1
        view(3, "L", "CC", self.entry("Mass", "Test", 1, ["BENIGN"]))
        view(3, "L", "MLO", self.entry("Mass", "Test", 1, ["BENIGN_WITHOUT_CALLBACK"], descr2=""))
        views[-2].entries[0].photometric = "MONOCHROME1"
        for i in range(4, n_patients):
            family = "Mass" if rng.random() < 0.5 else "Calc"
            split = "Training" if rng.random() < 0.7 else "Test"
            lat = "L" if rng.random() < 0.5 else "R"
            which = ("CC", "MLO") if rng.random() < 0.6 else (("CC",) if rng.random() < 0.5 else ("MLO",))
            for v in which:
                n = 1 if rng.random() < 0.75 else 2
                view(i, lat, v, self.entry(family, split, n))
                if rng.random() < 0.2:
                    views[-1].entries[0].photometric = "MONOCHROME1"
        views.sort(key=lambda x: (x.patient, x.laterality, x.view))

        # file-level variations: transfer syntaxes, 1-1/1-2 order, swapped CSV columns
        k = 0
        n_abn = 0
        for v in views:
            for e in v.entries:
                e.rle = k % 2 == 0
                k += 1
                for a in e.abnormalities:
                    a.mask_first = True if n_abn == 0 else (False if n_abn == 1 else bool(rng.random() < 0.5))
                    a.swapped = n_abn == 1 or (n_abn > 2 and bool(rng.random() < 0.15))
                    a.mask_rle = n_abn % 3 == 0
                    a.crop_rle = n_abn % 2 == 1
                    n_abn += 1
        return views


# --------------------------------------------------------------------------------------------------- DICOM


def _uid(key: tuple, *parts: object) -> str:
    return str(generate_uid(entropy_srcs=["mammo_monai.data.synthetic.cbis_ddsm", *map(str, key), *map(str, parts)]))


def _write_dicom(
    path: Path,
    arr: np.ndarray,
    *,
    patient: str,
    study_uid: str,
    series_uid: str,
    sop_uid: str,
    series_description: str,
    series_number: int,
    instance_number: int,
    laterality: str,
    view: str,
    study_date: str,
    photometric: str = "MONOCHROME2",
    rle: bool = False,
) -> None:
    """Write ``arr`` (uint8 or uint16, already in its stored form) as a CBIS-DDSM-like Secondary Capture."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = _IMPLEMENTATION_UID
    meta.ImplementationVersionName = _IMPLEMENTATION_VERSION
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate = study_date
    ds.ContentDate = study_date
    ds.StudyTime = "120000"
    ds.ContentTime = "120000.000000"
    ds.AccessionNumber = ""
    ds.Modality = "MG"
    ds.ConversionType = "WSD"
    ds.ReferringPhysicianName = ""
    ds.SeriesDescription = series_description
    ds.PatientName = patient
    ds.PatientID = patient
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    block = ds.private_block(0x0013, "CTP", create=True)
    block.add_new(0x10, "LO", "CBIS-DDSM")
    block.add_new(0x13, "LO", "00000000")
    ds.BodyPartExamined = "BREAST"
    ds.SecondaryCaptureDeviceManufacturer = "MathWorks"
    ds.SecondaryCaptureDeviceManufacturerModelName = "MATLAB"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = "DDSM"
    ds.SeriesNumber = series_number
    ds.InstanceNumber = instance_number
    ds.PatientOrientation = view
    ds.Laterality = laterality
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.Rows, ds.Columns = (int(s) for s in arr.shape)
    bits = arr.dtype.itemsize * 8
    ds.BitsAllocated = bits
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    ds.SmallestImagePixelValue = int(arr.min())
    ds.LargestImagePixelValue = int(arr.max())
    if rle:
        compress_dataset(ds, RLELossless, arr)
    else:
        data = np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
        if len(data) % 2:
            data += b"\x00"
        ds.PixelData = data
        ds["PixelData"].VR = "OW" if bits == 16 else "OB"
    path.parent.mkdir(parents=True, exist_ok=True)
    save_dataset(ds, path)


# --------------------------------------------------------------------------------------------------- output dir


def _prepare_out_dir(out: Path, overwrite: bool, manifest: str, ours: Iterable[str]) -> None:
    """Refuse a non-empty ``out`` unless ``overwrite``; then remove only files a previous run listed.

    Raises:
        FileExistsError: ``out`` is non-empty and ``overwrite`` is False, or a path this generator would write
            exists but was not written by it (no manifest lists it): nothing is deleted then.
    """
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out}: exists and is not a directory")
    if not out.exists() or not any(out.iterdir()):
        return
    if not overwrite:
        raise FileExistsError(
            f"{out}: directory is not empty; pass overwrite=True to replace a previous synthetic dataset"
        )
    listed: list[str] = []
    mpath = out / manifest
    if mpath.is_file():
        listed = list(json.loads(mpath.read_text()).get("files", []))
    listed_set = set(listed)

    def unlisted(name: str) -> bool:
        path = out / name
        if path.is_dir():
            return any(not p.is_dir() and p.relative_to(out).as_posix() not in listed_set for p in path.rglob("*"))
        return path.exists() and name not in listed_set

    foreign = [name for name in ours if unlisted(name)]
    if foreign:
        raise FileExistsError(
            f"{out}: {', '.join(foreign)} exist(s) but were not written by this generator (no manifest "
            f"{manifest} lists them); nothing was deleted, remove them yourself"
        )
    for rel in listed:
        (out / rel).unlink(missing_ok=True)
    mpath.unlink(missing_ok=True)
    for name in {Path(rel).parts[0] for rel in listed} | {Path(n).parts[0] for n in ours}:
        top = out / name
        if top.is_dir():  # prune the now empty folders, deepest first
            for d in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
                if not any(d.iterdir()):
                    d.rmdir()
            if not any(top.iterdir()):
                top.rmdir()


def _write_manifest(out: Path, manifest: str, files: Iterable[Path], **args: Any) -> None:
    rel = sorted(p.relative_to(out).as_posix() for p in files)
    (out / manifest).write_text(
        json.dumps({"generator": "mammo_monai.data.synthetic", "args": args, "files": rel}, indent=1) + "\n"
    )


# --------------------------------------------------------------------------------------------------- main


def _render_view(v: _View, vi: int, seed: int, shape: tuple[int, int]) -> tuple[np.ndarray, list[_Abnormality]]:
    """The full mammogram of one view (uint16) and its abnormalities, each given its drawn ``mask``."""
    specs: list[LesionSpec] = []
    abns: list[_Abnormality] = []
    for e in v.entries:
        for a in e.abnormalities:
            kind = "mass" if a.family == "Mass" else "calcification"
            specs.append(LesionSpec(kind, a.radius, a.style))
            abns.append(a)
    rendered = render_mammogram(
        shape,
        v.laterality,
        v.view,
        v.density,
        np.random.default_rng([seed, 2, vi]),
        lesions=specs,
        edge_artefact=vi % 3 == 1,
    )
    full = to_uint16(rendered.image)
    for a, m in zip(abns, rendered.masks):
        a.mask = m
    return full, abns


def _write_full_dicom(v: _View, e: _Entry, case: str, root: Path, key: tuple[str, ...], layout: str, full: np.ndarray
                      ) -> tuple[Path, str]:
    """Write one table entry's full mammogram DICOM; its path and the (old TCIA) path the CSV gives it."""
    study, series, sop = (_uid(key, case, x) for x in ("study", "series", "sop"))
    if layout == "tcia":
        fpath = root / case / study / series / "1-1.dcm"
    else:
        fpath = (
            root
            / case
            / f"07-20-2016-DDSM-{study[-5:]}"
            / f"1.000000-full mammogram images-{series[-5:]}"
            / "1-1.dcm"
        )
    stored = (np.uint16(65535) - full) if e.photometric == "MONOCHROME1" else full
    _write_dicom(
        fpath,
        stored,
        patient=case,
        study_uid=study,
        series_uid=series,
        sop_uid=sop,
        series_description="full mammogram images",
        series_number=1,
        instance_number=1,
        laterality=v.laterality,
        view=v.view,
        study_date=_FULL_DATE,
        photometric=e.photometric,
        rle=e.rle,
    )
    full_csv = f"{case}/{study}/{series}/000000.dcm"
    return fpath, full_csv


def _write_roi_dicoms(v: _View, e: _Entry, a: _Abnormality, case: str, full_csv: str, root: Path,
                      key: tuple[str, ...], layout: str, full: np.ndarray) -> tuple[Path, Path, list[str]]:
    """Write one abnormality's ROI mask and crop DICOMs; their paths and the abnormality's CSV row (with the
    CSV's quirks: old TCIA file names, swapped crop/mask columns, a trailing newline)."""
    acase = f"{case}_{a.abnormality_id}"
    astudy = _uid(key, acase, "study")
    mseries, msop = _uid(key, acase, "series"), _uid(key, acase, "mask-sop")
    cseries, csop = _uid(key, acase, "crop-series"), _uid(key, acase, "crop-sop")
    mask_arr = np.where(a.mask, 255, 0).astype(np.uint8)
    r0, c0, r1, c1 = lesion_geometry_from_mask(a.mask)[2]
    margin = max(8, int(0.35 * max(r1 - r0, c1 - c0)))
    crop = full[max(0, r0 - margin) : r1 + margin, max(0, c0 - margin) : c1 + margin].copy()
    if layout == "tcia":
        cseries = mseries
        folder = root / acase / astudy / mseries
        mpath = folder / ("1-1.dcm" if a.mask_first else "1-2.dcm")
        cpath = folder / ("1-2.dcm" if a.mask_first else "1-1.dcm")
        m_inst, c_inst = (1, 2) if a.mask_first else (2, 1)
        m_desc = c_desc = "ROI mask images"
        m_num = c_num = 1
    else:
        sfolder = root / acase / f"07-21-2016-DDSM-{astudy[-5:]}"
        mpath = sfolder / f"1.000000-ROI mask images-{mseries[-5:]}" / "1-1.dcm"
        cpath = sfolder / f"2.000000-cropped images-{cseries[-5:]}" / "1-1.dcm"
        m_inst = c_inst = 1
        m_desc, c_desc = "ROI mask images", "cropped images"
        m_num, c_num = 1, 2
    for path, array, series, sop, desc, num, inst, rle in (
        (mpath, mask_arr, mseries, msop, m_desc, m_num, m_inst, a.mask_rle),
        (cpath, crop, cseries, csop, c_desc, c_num, c_inst, a.crop_rle),
    ):
        _write_dicom(path, array, series_uid=series, sop_uid=sop, series_description=desc, series_number=num,
                     instance_number=inst, rle=rle, patient=acase, study_uid=astudy, laterality=v.laterality,
                     view=v.view, study_date=_ROI_DATE)
    # the CSV's old TCIA names: mass files crop 000000 / mask 000001, calc files the other way round;
    # with separate series both are 000000.dcm in their own series folder
    if cseries == mseries:
        crop_name, mask_name = (
            ("000000.dcm", "000001.dcm") if e.family == "Mass" else ("000001.dcm", "000000.dcm")
        )
    else:
        crop_name = mask_name = "000000.dcm"
    crop_csv = f"{acase}/{astudy}/{cseries}/{crop_name}"
    mask_csv = f"{acase}/{astudy}/{mseries}/{mask_name}"
    if a.swapped:
        crop_csv, mask_csv = mask_csv, crop_csv
    if e.family == "Mass":
        mask_csv += "\n"
    else:
        crop_csv += "\n"
    csv_row = [
        v.patient,
        str(v.density),
        _SIDES[v.laterality],
        v.view,
        str(a.abnormality_id),
        _FAMILY_TYPE[e.family],
        a.descr1,
        a.descr2,
        str(a.assessment),
        a.pathology,
        str(a.subtlety),
        full_csv,
        crop_csv,
        mask_csv,
    ]
    return mpath, cpath, csv_row


def _view_item(v: _View, abns: Sequence[_Abnormality], full_paths: Sequence[Path], shape: tuple[int, int]
               ) -> dict[str, Any]:
    """The ground-truth item of one physical mammogram: masses first, then calcifications, by abnormality id."""
    order = sorted(abns, key=lambda a: (a.family != "Mass", a.abnormality_id))
    lesions = []
    for a in order:
        center, radius, box = lesion_geometry_from_mask(a.mask)
        extra = (
            {"shape": a.descr1 or None, "margins": a.descr2 or None}
            if a.family == "Mass"
            else {"calc_type": a.descr1 or None, "calc_distribution": a.descr2 or None}
        )
        lesions.append(
            make_lesion(
                _FAMILY_TYPE[a.family],
                a.pathology,
                center,
                radius,
                box,
                abnormality_id=a.abnormality_id,
                birads=a.assessment,
                subtlety=a.subtlety,
                density=v.density,
                source_pathology=a.pathology,
                **extra,
            )
        )
    union = np.zeros(shape, dtype=bool)
    for a in abns:
        union |= a.mask
    item = make_item(
        full_paths[0],
        patient_id=v.patient,
        laterality=v.laterality,
        view=v.view,
        lesions=lesions,
        alt_images=[str(p) for p in full_paths[1:]],
        source_split=v.entries[0].split.lower(),
        mask_pixels=int(np.count_nonzero(union)),
    )
    return item


def _write_csvs(csv_dir: Path, csv_rows: Mapping[tuple[str, str], list[list[str]]]) -> list[Path]:
    """Write the four case-description CSVs (CRLF line ends, like the originals); the files written."""
    written: list[Path] = []
    csv_dir.mkdir(parents=True, exist_ok=True)
    for (family, split), name in CSV_NAMES.items():
        buf = io.StringIO(newline="")
        writer = csv.writer(buf, lineterminator="\r\n")
        writer.writerow(MASS_COLUMNS if family == "Mass" else CALC_COLUMNS)
        writer.writerows(csv_rows[(family, split)])
        (csv_dir / name).write_bytes(buf.getvalue().encode("utf-8"))
        written.append(csv_dir / name)
    return written


def synthesize_cbis_ddsm(
    out_dir: str | os.PathLike,
    n_patients: int = 6,
    seed: int = 0,
    image_shape: tuple[int, int] = (512, 320),
    layout: str = "tcia",
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write a small synthetic CBIS-DDSM download (DICOM tree + case-description CSVs) and its ground truth.

    Args:
        out_dir: output folder; it gets ``CBIS-DDSM/`` (the image tree), ``csv/`` (the four case-description
            CSVs, always all four), ``ground_truth.json`` and a hidden manifest of the written files.
        n_patients: number of women, at least 4 (patients 1-4 have fixed roles that cover every quirk:
            a view in both a Mass and a Calc table, a patient crossing the official splits, images with 2 and
            3 abnormalities, a MONOCHROME1 image; more patients are random).
        seed: random seed; the same arguments give byte-identical files (UIDs included).
        image_shape: ``(rows, cols)`` of every full mammogram and ROI mask.
        layout: ``"tcia"`` (``<Case>/<StudyUID>/<SeriesUID>/1-1.dcm``) or ``"descriptive"``
            (``<Case>/07-20-2016-DDSM-NNNNN/1.000000-full mammogram images-NNNNN/1-1.dcm``).
        overwrite: replace a previous synthetic dataset in ``out_dir``; only the files that run wrote
            (listed in its manifest) are removed.

    Returns:
        ``{"root", "image_dir", "csv_dir", "ground_truth", "n_images", "n_patients", "n_lesions",
        "n_dicom_files", "layout"}`` (``root`` = ``out_dir``, ``image_dir`` = ``out_dir/CBIS-DDSM``):
        ``n_images`` counts physical mammograms (ground-truth items), ``n_lesions`` CSV rows.

    Raises:
        ValueError: bad ``n_patients``, ``image_shape`` or ``layout``.
        FileExistsError: ``out_dir`` is not empty and ``overwrite`` is False (nothing is deleted).

    Ground truth (``ground_truth.json``, ``{"training": [...], "test": [...]}``): one item per
    ``(patient_id, laterality, view)``; ``image`` is the full DICOM (the Mass one when a view is in a Mass and
    a Calc table), ``alt_images`` the other full DICOM(s) of the same view, ``source_split`` the official
    split (``"training"``/``"test"``) of the table ``image`` comes from, ``mask_pixels`` the number of
    non-zero pixels of the union of the item's ROI masks. A patient in any Test table is in ``"test"``
    entirely. Lesions (masses first, then calcifications, each by ``abnormality_id``) carry ``center``,
    ``radius``, ``box`` from :func:`~mammo_monai.data.geometry.lesion_geometry_from_mask` of their ROI mask and
    ``abnormality_id``, ``birads``, ``subtlety``, ``density``, ``source_pathology`` and ``shape``/``margins``
    or ``calc_type``/``calc_distribution`` (``None`` for an empty CSV value).

    Example:
        >>> s = synthesize_cbis_ddsm("/tmp/synth_cbis", overwrite=True)  # doctest: +SKIP
        >>> s["n_images"], s["n_lesions"]  # doctest: +SKIP
    """
    if int(n_patients) < 4:
        raise ValueError(f"n_patients must be >= 4 (the first four patients cover the CBIS quirks), got {n_patients}")
    if layout not in ("tcia", "descriptive"):
        raise ValueError(f"layout must be 'tcia' or 'descriptive', got {layout!r}")
    rows_, cols_ = (int(s) for s in image_shape)
    if rows_ < 128 or cols_ < 96:
        raise ValueError(f"image_shape must be at least (128, 96), got {image_shape}")
    shape = (rows_, cols_)
    out = Path(out_dir).absolute()
    _prepare_out_dir(
        out, overwrite, _MANIFEST, ["CBIS-DDSM", *(f"csv/{n}" for n in CSV_NAMES.values()), "ground_truth.json"]
    )
    out.mkdir(parents=True, exist_ok=True)
    root, csv_dir = out / "CBIS-DDSM", out / "csv"

    rng = np.random.default_rng([int(seed), 1])
    views = _Planner(rng, float(min(shape))).plan(int(n_patients))
    key = (f"seed={seed}", f"n={n_patients}", f"shape={rows_}x{cols_}")
    written: list[Path] = []
    csv_rows: dict[tuple[str, str], list[list[str]]] = {k: [] for k in CSV_NAMES}
    items: dict[str, list[dict[str, Any]]] = {"training": [], "test": []}
    test_patients = {v.patient for v in views for e in v.entries if e.split == "Test"}

    for vi, v in enumerate(views):
        full, abns = _render_view(v, vi, int(seed), shape)
        full_paths: list[Path] = []
        for e in v.entries:
            case = _case(v.patient, v.laterality, v.view, e.family, e.split)
            fpath, full_csv = _write_full_dicom(v, e, case, root, key, layout, full)
            written.append(fpath)
            full_paths.append(fpath)
            for a in e.abnormalities:
                mpath, cpath, csv_row = _write_roi_dicoms(v, e, a, case, full_csv, root, key, layout, full)
                written += [mpath, cpath]
                csv_rows[(e.family, e.split)].append(csv_row)
        item = _view_item(v, abns, full_paths, shape)
        items["test" if v.patient in test_patients else "training"].append(item)

    written += _write_csvs(csv_dir, csv_rows)
    gt = write_datalist(items, out / "ground_truth.json", overwrite=True)
    written.append(gt)
    _write_manifest(
        out, _MANIFEST, written, n_patients=int(n_patients), seed=int(seed), image_shape=list(shape), layout=layout
    )

    n_lesions = sum(len(r) for r in csv_rows.values())
    return {
        "root": str(out),
        "image_dir": str(root),
        "csv_dir": str(csv_dir),
        "ground_truth": str(gt),
        "n_images": len(views),
        "n_patients": int(n_patients),
        "n_lesions": n_lesions,
        "n_dicom_files": sum(1 for p in written if p.suffix == ".dcm"),
        "layout": layout,
    }
