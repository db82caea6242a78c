"""One study's model results as a DICOM Structured Report (TID 1500 "Measurement Report", highdicom), for PACS.

:func:`findings_to_dicom_sr` writes what the models said about the mammograms of one study; a MONAI Deploy app
calls it once per study and saves the result. :func:`read_dicom_sr_findings` reads such a report back into
plain dicts (with highdicom's ``MeasurementReport`` API), for tests and for users who check values.

SOP class: **Comprehensive SR** (1.2.840.10008.5.1.4.1.1.88.33). The candidates' boxes are 2D ``SCOORD``
regions in the pixel matrix of their image: Comprehensive 3D SR is only needed for ``SCOORD3D`` (patient
coordinates in mm, which need a frame of reference that CBIS-DDSM's Secondary Capture films do not have, and
which would tie the boxes to a geometry instead of to the pixels the model saw), and Comprehensive SR carries
``SCOORD`` without the narrower relationship constraints of Enhanced SR, so later additions to the template
(e.g. by-reference items) stay possible. highdicom's ``srread`` reads all three.

Content (PS3.16 TID 1500), for each image of the study:

* a classification: one TID 1501 "Measurement Group" (image level) that references the image (Source),
  names the algorithm (TID 4019: name, version), the finding site (SCT 76752008 "Breast" with the image's
  laterality), the **Finding** (DCM 121071, the TID 1501 "Finding" CODE item, i.e. highdicom's
  ``finding_type``) = the predicted class and one measurement per class, its probability (unit UCUM "1");
* each detector candidate: one TID 1410 "Planar ROI" group with the box as a closed ``POLYLINE`` Image Region
  on the image, a tracking identifier (a unique UID and ``"candidate <k> on <SOP Instance UID>"``, k from 1 on
  each image), the Finding = the candidate's class, finding category SCT 49755003 "Morphologically Abnormal
  Structure", the finding site as above, the detector (algorithm identification) and DCM 111012 "Certainty of
  Finding" = its score (unit UCUM "1");
* an image with neither: one TID 1501 group that references it with the qualitative evaluation DCM 111017
  "CAD Processing and Findings Summary" = DCM 111241 "All algorithms succeeded; without findings" (CID 6047,
  the Mammography CAD SR's wording; with the detector's name where one is given). So a study without any finding
  still gives a valid report that says so: TID 1500 wants at least one group in "Imaging Measurements" (highdicom
  0.28 refuses a report without one; 0.22 writes an empty container from ``[]`` and fails on ``None``), and every
  image is then referenced in the content, which puts it in the Current Requested Procedure Evidence with either
  highdicom (0.22 lists evidence the content does not reference as "Pertinent Other Evidence" instead).

No Image Library (TID 1600, optional) is written: highdicom's entry descriptors for projection images need
Patient Orientation with two values and Imager Pixel Spacing, which CBIS-DDSM's files (``PatientOrientation``
"CC", no spacing) and synthetic test films do not have; the images are referenced by the groups and the evidence.

Coordinates: DICOM ``SCOORD`` image coordinates are (column, row) pairs in pixels whose origin (0, 0) is the
top-left corner of the top-left pixel, so pixel ``(r, c)`` covers ``[c, c + 1] x [r, r + 1]`` and its centre is
``(c + 0.5, r + 0.5)`` (PS3.3 C.18.6.1.1). A candidate's ``box`` ``[r0, c0, r1, c1]`` holds the pixels
``r0..r1-1`` x ``c0..c1-1`` (half-open pixel indices), so its outline is exactly the rectangle with x in
``{c0, c1}`` and y in ``{r0, r1}``: the polyline ``(c0, r0) (c1, r0) (c1, r1) (c0, r1) (c0, r0)``, and
``read_dicom_sr_findings`` gives back ``[r0, c0, r1, c1]``. (A candidate's ``center`` is not written: the box is
its region.)

Codes (all standard ones through ``pydicom.sr.codedict.codes``, so that each is checked against the DICOM
dictionary of the installed pydicom):

* procedure reported: SCT 71651007 "Mammography"; document title DCM 126000 "Imaging Measurement Report"
  (highdicom's default, CID 7021);
* predicted class -> Finding: ``normal`` SCT 17621005 "Normal", ``abnormal`` SCT 263654008 "Abnormal" (both from
  CID 222 "Normality Codes": pydicom 2.4's SCT table has two concepts named "Normal"), ``benign`` SCT 30807003
  "Benign", ``malignant`` SCT 21594007 "Malignant". A class without a standard code (``non_malignant``, ...) gets
  a private code of coding scheme ``99MAMMO`` (declared in the Coding Scheme Identification Sequence) whose
  meaning is the class name and whose code value is the class name too where it fits a Code Value (16
  characters; else the first 16 hex digits of its SHA-1: highdicom 0.22 cannot search a tree that holds a Long
  Code Value). Class names are at most 49 characters (so that "Probability of <class>" fits a Code Meaning);
* class probability: DCM 111047 "Probability of cancer" for ``malignant``; for other classes the ``99MAMMO``
  code meaning "Probability of <class>", value ``prob_<class>`` (or ``prob_`` and 11 hex digits of the SHA-1);
  unit UCUM "1" "no units" (a probability is a ratio). The reader takes the class names from the meanings;
* candidate class -> Finding: :data:`~mammo_monai.inference.dicom_seg.SEGMENT_CODES` (the DICOM SEG's codes:
  ``mass`` SCT 4147007 "Mass", ``calcification`` DCM 111105 "Calcification Cluster"), any other class SCT
  52988006 "Lesion" (read back as ``"lesion"``); score: DCM 111012 "Certainty of Finding", unit UCUM "1";
* finding site: SCT 76752008 "Breast" with laterality SCT 7771000 "Left" / SCT 24028007 "Right" (SCT 51440002
  "Bilateral" for ``B``) from Image Laterality (0020,0062), else Laterality (0020,0060) (all CBIS-DDSM has);
  none when the header has neither (or says ``U``).

Patient and study come from the first image. A source without the type 2 patient/study attributes highdicom
copies (an anonymised export, a synthetic file) gets them empty on a copy; the caller's dataset is not changed.
The report is marked COMPLETE, PRELIMINARY and UNVERIFIED (model output nobody has checked).

Example:
    >>> images = [
    ...     ImageFindings("P_00173_LEFT_CC.dcm",
    ...                   classification={"algorithm": "mammo_image_classification", "version": "0.1.2",
    ...                                   "classes": ["normal", "abnormal"],
    ...                                   "probabilities": {"normal": 0.2, "abnormal": 0.8}, "prediction": "abnormal"},
    ...                   candidates=[{"class": "mass", "score": 0.93, "center": [1210.5, 840.5],
    ...                                "box": [1150, 780, 1272, 902]}],
    ...                   detector="mammo_patch_detection", detector_version="0.1.2"),
    ...     ImageFindings("P_00173_LEFT_MLO.dcm"),
    ... ]  # doctest: +SKIP
    >>> sr = findings_to_dicom_sr(images)  # doctest: +SKIP
    >>> sr.save_as("P_00173_findings_sr.dcm")  # doctest: +SKIP
    >>> read_dicom_sr_findings("P_00173_findings_sr.dcm")[1]["box"]  # doctest: +SKIP
    [1150, 780, 1272, 902]
"""

from __future__ import annotations

import hashlib
import io
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .dicom_seg import SEGMENT_CODES, source_for_highdicom

if TYPE_CHECKING:
    import pydicom

__all__ = ["PRIVATE_CODING_SCHEME", "ImageFindings", "findings_to_dicom_sr", "read_dicom_sr_findings"]

#: coding scheme designator of the private codes (classes without a standard code, their probabilities)
PRIVATE_CODING_SCHEME = "99MAMMO"
_PROBABILITY_PREFIX = "prob_"
_PROBABILITY_MEANING = "Probability of "
#: the longest class name whose "Probability of <class>" fits a Code Meaning (64 characters)
_MAX_CLASS_NAME = 64 - len(_PROBABILITY_MEANING)


@dataclass
class ImageFindings:
    """What the models found on one mammogram (see :func:`findings_to_dicom_sr`).

    Attributes:
        source: the mammogram (a pydicom ``Dataset``, pixel data not needed, or its path, read without pixels).
        classification: the image classifier's result: ``{"algorithm": name, "version": version,
            "classes": [names], "probabilities": {name: p in [0, 1]}, "prediction": name}`` (``classes``
            defaults to the probabilities' keys, ``prediction`` to the most probable class, ``version`` to
            mammo-monai's); ``None``: no classification.
        candidates: the detector's candidates, each ``{"class": "mass" | "calcification" | other name,
            "score": s in [0, 1], "center": [row, col], "box": [r0, c0, r1, c1]}`` (box: half-open pixel index
            bounds, ints; ``center`` is not written).
        detector: the detector's algorithm name (the candidates' algorithm identification).
        detector_version: its version (default: mammo-monai's).
    """

    source: pydicom.Dataset | str | os.PathLike
    classification: Mapping[str, Any] | None = None
    candidates: Sequence[Mapping[str, Any]] = ()
    detector: str | None = None
    detector_version: str | None = None


def _class_codes() -> dict[str, Any]:
    from pydicom.sr.codedict import codes

    return {"normal": codes.cid222.Normal, "abnormal": codes.cid222.Abnormal, "benign": codes.SCT.Benign,
            "malignant": codes.SCT.Malignant}


def _private_value(name: str, prefix: str = "") -> str:
    """A ``99MAMMO`` code value: ``prefix + name`` where it fits a Code Value (16 characters), else ``prefix`` and
    a digest of ``name`` (highdicom 0.22 cannot search content holding a Long Code Value)."""
    value = prefix + name
    return value if len(value) <= 16 else prefix + hashlib.sha1(name.encode()).hexdigest()[:16 - len(prefix)]


def _finding_code(name: str) -> Any:
    """The Finding code of a predicted class: a standard one, else a ``99MAMMO`` code meaning ``name``."""
    from highdicom.sr.coding import CodedConcept

    code = _class_codes().get(name)
    return code if code is not None else CodedConcept(_private_value(name), PRIVATE_CODING_SCHEME, name)


def _probability_code(name: str) -> Any:
    from highdicom.sr.coding import CodedConcept
    from pydicom.sr.codedict import codes

    if name == "malignant":
        return codes.DCM.ProbabilityOfCancer
    return CodedConcept(_private_value(name, _PROBABILITY_PREFIX), PRIVATE_CODING_SCHEME,
                        f"{_PROBABILITY_MEANING}{name}")


def _candidate_code(name: str) -> Any:
    from highdicom.sr.coding import CodedConcept
    from pydicom.sr.codedict import codes

    return CodedConcept(*SEGMENT_CODES[name]) if name in SEGMENT_CODES else codes.SCT.Lesion


def _laterality_code(dataset: pydicom.Dataset) -> Any:
    from pydicom.sr.codedict import codes

    value = str(dataset.get("ImageLaterality") or dataset.get("Laterality") or "").strip().upper()
    return {"L": codes.SCT.Left, "R": codes.SCT.Right, "B": codes.SCT.Bilateral}.get(value)


def _finding_site(dataset: pydicom.Dataset) -> Any:
    import highdicom as hd
    from pydicom.sr.codedict import codes

    return hd.sr.FindingSite(anatomic_location=codes.SCT.Breast, laterality=_laterality_code(dataset))


def _unit_interval(value: Any, what: str, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: {what} {value!r} is not a number") from None
    if not (math.isfinite(number) and 0.0 <= number <= 1.0):
        raise ValueError(f"{name}: {what} {value!r} is not in [0, 1]")
    return number


def _box(candidate: Mapping[str, Any], k: int, shape: tuple[int, int], name: str) -> list[int]:
    box = candidate.get("box")
    try:
        values = [float(v) for v in box]
    except (TypeError, ValueError):
        raise ValueError(f"{name}: candidate {k} box {box!r} is not [r0, c0, r1, c1]") from None
    if len(values) != 4 or not all(math.isfinite(v) and v.is_integer() for v in values):
        raise ValueError(f"{name}: candidate {k} box {box!r} is not four integer bounds [r0, c0, r1, c1]")
    r0, c0, r1, c1 = (int(v) for v in values)
    rows, cols = shape
    if not (0 <= r0 < r1 <= rows and 0 <= c0 < c1 <= cols):
        raise ValueError(f"{name}: candidate {k} box {list(box)} [r0, c0, r1, c1] is empty or outside the image "
                         f"({rows}, {cols}) (rows, cols)")
    return [r0, c0, r1, c1]


def _classification_group(dataset: pydicom.Dataset, classification: Mapping[str, Any], name: str,
                          default_version: str) -> Any:
    import highdicom as hd
    from pydicom.sr.codedict import codes

    probabilities = classification.get("probabilities")
    if not isinstance(probabilities, Mapping) or not probabilities:
        raise ValueError(f"{name}: the classification has no probabilities {{class: p}}")
    classes = [str(c) for c in (classification.get("classes") or list(probabilities))]
    bad = [c for c in classes if not c.strip() or len(c) > _MAX_CLASS_NAME or "\\" in c]
    if bad:
        raise ValueError(f"{name}: class names {bad} are empty, hold a backslash or are longer than "
                         f"{_MAX_CLASS_NAME} characters (a code meaning holds 64)")
    missing = [c for c in classes if c not in probabilities]
    if missing:
        raise ValueError(f"{name}: the classification has no probability for {missing}")
    values = {c: _unit_interval(probabilities[c], f"probability of {c}", name) for c in classes}
    prediction = classification.get("prediction")
    prediction = str(prediction) if prediction is not None else max(classes, key=values.__getitem__)
    if prediction not in values:
        raise ValueError(f"{name}: the prediction {prediction!r} is not one of the classes {classes}")
    algorithm = classification.get("algorithm")
    uid = dataset.SOPInstanceUID
    return hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier=f"classification on {uid}"),
        finding_type=_finding_code(prediction),
        algorithm_id=(hd.sr.AlgorithmIdentification(name=str(algorithm),
                                                    version=str(classification.get("version") or default_version))
                      if algorithm else None),
        finding_sites=[_finding_site(dataset)],
        measurements=[hd.sr.Measurement(name=_probability_code(c), value=values[c], unit=codes.UCUM.NoUnits)
                      for c in classes],
        source_images=[hd.sr.SourceImageForMeasurementGroup.from_source_image(dataset)])


def _candidate_groups(dataset: pydicom.Dataset, findings: ImageFindings, name: str, default_version: str) -> list:
    import highdicom as hd
    from pydicom.sr.codedict import codes

    shape = (int(dataset.Rows), int(dataset.Columns))
    algorithm = (hd.sr.AlgorithmIdentification(name=findings.detector,
                                               version=findings.detector_version or default_version)
                 if findings.detector else None)
    uid = dataset.SOPInstanceUID
    groups = []
    for k, candidate in enumerate(findings.candidates, start=1):
        r0, c0, r1, c1 = _box(candidate, k, shape, name)
        score = _unit_interval(candidate.get("score"), f"candidate {k} score", name)
        outline = np.array([[c0, r0], [c1, r0], [c1, r1], [c0, r1], [c0, r0]], dtype=np.float64)  # (x, y) = (col, row)
        region = hd.sr.ImageRegion(graphic_type=hd.sr.GraphicTypeValues.POLYLINE, graphic_data=outline,
                                   source_image=hd.sr.SourceImageForRegion.from_source_image(dataset))
        groups.append(hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier=f"candidate {k} on {uid}"),
            referenced_region=region, finding_type=_candidate_code(str(candidate.get("class"))),
            finding_category=codes.SCT.MorphologicallyAbnormalStructure, algorithm_id=algorithm,
            finding_sites=[_finding_site(dataset)],
            measurements=[hd.sr.Measurement(name=codes.DCM.CertaintyOfFinding, value=score,
                                            unit=codes.UCUM.NoUnits)]))
    return groups


def _no_findings_group(dataset: pydicom.Dataset, findings: ImageFindings, default_version: str) -> Any:
    import highdicom as hd
    from pydicom.sr.codedict import codes

    return hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(),
                                                     identifier=f"findings summary on {dataset.SOPInstanceUID}"),
        algorithm_id=(hd.sr.AlgorithmIdentification(name=findings.detector,
                                                    version=findings.detector_version or default_version)
                      if findings.detector else None),
        finding_sites=[_finding_site(dataset)],
        qualitative_evaluations=[hd.sr.QualitativeEvaluation(name=codes.DCM.CADProcessingAndFindingsSummary,
                                                             value=codes.DCM.AllAlgorithmsSucceededWithoutFindings)],
        source_images=[hd.sr.SourceImageForMeasurementGroup.from_source_image(dataset)])


def findings_to_dicom_sr(images: Sequence[ImageFindings], series_number: int = 301,
                         series_description: str | None = None, manufacturer: str = "mammo-monai") -> Any:
    """A highdicom ``ComprehensiveSR`` (TID 1500 Measurement Report) of the findings on one study's mammograms.

    See the module docstring for the content, the codes and the coordinate convention.

    Args:
        images: one :class:`ImageFindings` per mammogram of the study (all with one StudyInstanceUID);
            patient and study are taken from the first.
        series_number: the SR series' number.
        series_description: its description (default ``"mammo-monai findings"``).
        manufacturer: the SR's manufacturer and the device observer's manufacturer name.

    Returns:
        a ``highdicom.sr.ComprehensiveSR`` (a pydicom ``Dataset``: ``.save_as(path)``).

    Raises:
        ValueError: no image; the images are of different studies (the files named); a box is not four integer
            bounds, empty, or outside its image (the file named); a score or probability is not in [0, 1]; a
            classification without probabilities or whose prediction is not one of its classes.
    """
    import highdicom as hd
    import pydicom
    from highdicom.coding_schemes import CodingSchemeIdentificationItem
    from pydicom.sr.codedict import codes

    import mammo_monai

    if not images:
        raise ValueError("images must hold at least one mammogram of the study")
    version = mammo_monai.__version__
    datasets, names = [], []
    for i, findings in enumerate(images):
        source = findings.source
        if isinstance(source, pydicom.Dataset):
            dataset = source
            name = str(getattr(source, "filename", None) or f"images[{i}]")
        else:
            dataset = pydicom.dcmread(os.fspath(source), stop_before_pixels=True)
            name = os.fspath(source)
        datasets.append(dataset)
        names.append(name)
    studies = [str(d.StudyInstanceUID) for d in datasets]
    if len(set(studies)) > 1:
        listing = ", ".join(f"{n} (study {s})" for n, s in zip(names, studies))
        raise ValueError(f"the images are not of one study (one report per study): {listing}")

    groups: list = []
    private = False
    for findings, dataset, name in zip(images, datasets, names):
        if findings.classification is not None:
            group = _classification_group(dataset, findings.classification, name, version)
            groups.append(group)
            classes = list(findings.classification.get("classes") or findings.classification["probabilities"])
            private |= any(str(c) != "malignant" for c in classes)
        candidate_groups = _candidate_groups(dataset, findings, name, version)
        groups.extend(candidate_groups)
        if findings.classification is None and not candidate_groups:
            groups.append(_no_findings_group(dataset, findings, version))

    device = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=pydicom.uid.generate_uid(entropy_srcs=["mammo-monai device observer", manufacturer]),
            name="mammo-monai", manufacturer_name=manufacturer))
    report = hd.sr.MeasurementReport(observation_context=hd.sr.ObservationContext(observer_device_context=device),
                                     procedure_reported=codes.SCT.Mammography, imaging_measurements=groups)
    schemes = [CodingSchemeIdentificationItem(designator=PRIVATE_CODING_SCHEME, name="mammo-monai model classes",
                                              responsible_organization=manufacturer)] if private else None
    evidence = [source_for_highdicom(datasets[0]), *datasets[1:]]
    return hd.sr.ComprehensiveSR(
        evidence=evidence, content=report[0], series_instance_uid=hd.UID(), series_number=int(series_number),
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer=manufacturer, is_complete=True,
        series_description=series_description or "mammo-monai findings", manufacturer_model_name="mammo-monai",
        software_versions=version, coding_schemes=schemes)


def _class_of(code: Any) -> str:
    """The class name of a classification's Finding code (the inverse of :func:`_finding_code`)."""
    for name, standard in _class_codes().items():
        if (code.value, code.scheme_designator) == (standard.value, standard.scheme_designator):
            return name
    return str(code.meaning)  # a 99MAMMO code means its class name


def _probability_class(code: Any) -> str:
    from pydicom.sr.codedict import codes

    if (code.value, code.scheme_designator) == (codes.DCM.ProbabilityOfCancer.value, "DCM"):
        return "malignant"
    meaning = str(code.meaning)
    return meaning[len(_PROBABILITY_MEANING):] if meaning.startswith(_PROBABILITY_MEANING) else meaning


def _candidate_class(code: Any) -> str:
    for name, (value, scheme, _) in SEGMENT_CODES.items():
        if (code.value, code.scheme_designator) == (value, scheme):
            return name
    return str(code.meaning).lower()


def _algorithm(group: Any) -> tuple[str | None, str | None]:
    from highdicom.sr.utils import find_content_items
    from pydicom.sr.codedict import codes

    found = []
    for concept in (codes.DCM.AlgorithmName, codes.DCM.AlgorithmVersion):
        items = find_content_items(group[0], name=concept, value_type="TEXT")
        found.append(str(items[0].TextValue) if items else None)
    return found[0], found[1]


def _laterality(group: Any) -> str | None:
    from pydicom.sr.codedict import codes

    for site in group.finding_sites:
        code = site.laterality
        if code is not None:
            return {codes.SCT.Left.value: "L", codes.SCT.Right.value: "R",
                    codes.SCT.Bilateral.value: "B"}.get(code.value)
    return None


def read_dicom_sr_findings(sr: pydicom.Dataset | str | os.PathLike) -> list[dict[str, Any]]:
    """The findings of a report written by :func:`findings_to_dicom_sr`, as dicts, in the report's order.

    Each is ``{"sop_instance_uid", "kind": "classification", "class": predicted class, "probabilities":
    {class: p}, "algorithm", "version", "laterality": "L" | "R" | "B" | None, "tracking_uid"}`` or
    ``{"sop_instance_uid", "kind": "candidate", "class", "score", "box": [r0, c0, r1, c1], "algorithm",
    "version", "laterality", "tracking_uid"}`` (box: half-open pixel index bounds, from the polyline's corners;
    a candidate class without a code of its own reads back as ``"lesion"``). The "without findings" groups of
    images with nothing are left out: a report of a study without findings gives ``[]``.

    Args:
        sr: the report (a pydicom ``Dataset``, left unchanged, or its path).

    Raises:
        ValueError: ``sr`` is not a TID 1500 Measurement Report in an SR class highdicom reads.
    """
    import highdicom as hd
    import pydicom
    from highdicom.sr.utils import find_content_items
    from pydicom.sr.codedict import codes

    from ..io.compat import save_dataset

    if isinstance(sr, pydicom.Dataset):
        # through its bytes, as if read from a file: the caller's dataset is left as it is, and pydicom 2.4 cannot
        # deep-copy (highdicom's from_dataset(copy=True)) a report that highdicom has just built
        buffer = io.BytesIO()
        save_dataset(sr, buffer)
        buffer.seek(0)
        source: Any = buffer
    else:
        source = os.fspath(sr)
    try:
        document = hd.sr.srread(source)
    except RuntimeError as error:  # an SOP class that highdicom does not read as SR
        raise ValueError(f"not an SR document highdicom reads: {error}") from None
    report = document.content
    if not isinstance(report, hd.sr.MeasurementReport):
        raise ValueError("the SR is not a TID 1500 Measurement Report")

    found: list[dict[str, Any]] = []
    for group in report.get_image_measurement_groups():
        if group.get_qualitative_evaluations(name=codes.DCM.CADProcessingAndFindingsSummary):
            continue  # an image without findings
        algorithm, version = _algorithm(group)
        # highdicom 0.28 names the group's image DCM 121112 "Source of Measurement", 0.22 SCT 260753009 "Source",
        # and 0.22's source_images finds only the latter: then the group's IMAGE item, whatever its name
        sources = group.source_images or find_content_items(group[0], value_type="IMAGE", relationship_type="CONTAINS")
        finding = group.finding_type
        found.append({
            "sop_instance_uid": (str(sources[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID) if sources
                                 else None),
            "kind": "classification", "class": _class_of(finding) if finding is not None else None,
            "probabilities": {_probability_class(m.name): float(m.value) for m in group.get_measurements()},
            "algorithm": algorithm, "version": version, "laterality": _laterality(group),
            "tracking_uid": str(group.tracking_uid)})
    for group in report.get_planar_roi_measurement_groups():
        region = group.roi
        if region is None or region.graphic_type != hd.sr.GraphicTypeValues.POLYLINE:
            continue  # not one of this module's boxes
        corners = np.asarray(region.value, dtype=np.float64)  # (col, row) pairs
        (c0, r0), (c1, r1) = corners.min(axis=0), corners.max(axis=0)
        scores = group.get_measurements(name=codes.DCM.CertaintyOfFinding)
        algorithm, version = _algorithm(group)
        finding = group.finding_type
        found.append({
            "sop_instance_uid": str(region.ContentSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID),
            "kind": "candidate", "class": _candidate_class(finding) if finding is not None else None,
            "score": float(scores[0].value) if scores else None,
            "box": [round(float(r0)), round(float(c0)), round(float(r1)), round(float(c1))],
            "algorithm": algorithm, "version": version, "laterality": _laterality(group),
            "tracking_uid": str(group.tracking_uid)})
    # the report's order: groups by the position of their tracking UID in the content tree
    order = {str(item.UID): i for i, item in enumerate(find_content_items(
        report[0], name=codes.DCM.TrackingUniqueIdentifier, value_type="UIDREF", recursive=True))}
    return sorted(found, key=lambda f: order.get(f["tracking_uid"], len(order)))
