"""A ``(rows, cols)`` label mask as a DICOM Segmentation of its mammogram (highdicom), for PACS and viewers.

The SEG references the source image (its study, series and SOP instance), takes its patient and study and,
where the source has them, its frame of reference and pixel spacing (highdicom copies the geometry); one
segment per class, coded with the DICOM codes a mammography viewer knows: SCT 4147007 "Mass" and
DCM 111105 "Calcification Cluster" (category SCT 49755003 "Morphologically Abnormal Structure"). CBIS-DDSM's
Secondary Capture films have no frame of reference: the SEG then has none either, and its frames are tied to
the source by reference alone (what highdicom does for such images).

Example:
    >>> seg = mask_to_dicom_seg("Mass-Test_P_00173_LEFT_CC.dcm", mask, {1: "mass"},
    ...                         algorithm="mammo_mass_segmentation")  # doctest: +SKIP
    >>> seg.save_as("P_00173_LEFT_CC_seg.dcm")  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["SEGMENT_CODES", "mask_to_dicom_seg", "source_for_highdicom"]

#: class name -> (code value, coding scheme, meaning) of its segmented property type
SEGMENT_CODES: dict[str, tuple[str, str, str]] = {
    "mass": ("4147007", "SCT", "Mass"),
    "calcification": ("111105", "DCM", "Calcification Cluster"),
}
_CATEGORY = ("49755003", "SCT", "Morphologically Abnormal Structure")
#: patient/study attributes of type 2 (present, may be empty) that highdicom copies from the source: a source
#: without them (an anonymised export, a synthetic file) gets them empty on a copy, never on the user's file
_TYPE2_COPIED = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
                 "ReferringPhysicianName", "StudyID", "AccessionNumber")


def source_for_highdicom(dataset: Any, drop: tuple[str, ...] = ()) -> Any:
    """``dataset`` itself, or, when it lacks a type 2 patient/study attribute highdicom copies (an anonymised
    export, a synthetic file) or ``drop`` names one of its attributes, a copy of its element mapping with those
    attributes empty and the ``drop`` ones removed: the caller's dataset is never changed.

    Example:
        >>> import pydicom
        >>> ds = pydicom.Dataset(); ds.PatientID = "P1"; ds.PixelSpacing = [0.1, 0.1]
        >>> out = source_for_highdicom(ds, drop=("PixelSpacing",))
        >>> out.PatientName, "PixelSpacing" in out, "PixelSpacing" in ds
        ('', False, True)
    """
    import pydicom

    missing = [k for k in _TYPE2_COPIED if k not in dataset]
    dropped = [k for k in drop if k in dataset]
    if not missing and not dropped:
        return dataset
    copy = pydicom.Dataset()  # a new element mapping: the caller's dataset is left as it is
    for element in dataset:
        copy.add(element)
    if hasattr(dataset, "file_meta"):
        copy.file_meta = dataset.file_meta
    for keyword in missing:
        setattr(copy, keyword, "")
    for keyword in dropped:
        delattr(copy, keyword)
    return copy


def mask_to_dicom_seg(source: Any, mask: np.ndarray, classes: Mapping[int, str], algorithm: str,
                      version: str | None = None, series_number: int = 300, series_description: str | None = None,
                      manufacturer: str = "mammo-monai") -> Any:
    """A highdicom ``Segmentation`` (binary, one segment per class in ``classes``) of ``mask`` on ``source``.

    Args:
        source: the mammogram (a pydicom ``Dataset`` with pixel data, or its path).
        mask: ``(Rows, Columns)`` integer labels; value ``k`` -> segment ``classes[k]``; 0 background.
        classes: label value -> class name (``{1: "mass", 2: "calcification"}``); names without a code in
            :data:`SEGMENT_CODES` are coded as SCT 52988006 "Lesion".
        algorithm: the model's name (the segments' algorithm identification and the manufacturer model name).
        version: the algorithm's version (default: mammo-monai's).

    Raises:
        ValueError: the mask's shape differs from the source's (both named), it holds values that are not
            in ``classes``, or no class is given.
    """
    import highdicom as hd
    import pydicom
    from highdicom.sr.coding import CodedConcept
    from pydicom.sr.codedict import codes

    import mammo_monai

    dataset = source if isinstance(source, pydicom.Dataset) else pydicom.dcmread(os.fspath(source))
    name = getattr(dataset, "filename", None) or "source image"
    mask = np.asarray(mask)
    shape = (int(dataset.Rows), int(dataset.Columns))
    if mask.shape != shape:
        raise ValueError(f"{name}: mask {mask.shape} but the image is {shape} (rows, cols)")
    if not classes:
        raise ValueError("classes must name at least one segment")
    unknown = sorted(set(np.unique(mask).tolist()) - {0} - set(classes))
    if unknown:
        raise ValueError(f"{name}: mask values {unknown} have no class in {dict(classes)}")
    # without a frame of reference highdicom would copy a bare PixelSpacing into the SEG's Pixel Measures, which
    # its own reader then refuses (it wants a SliceThickness a projection image does not have): such a SEG is
    # tied to its source by reference alone, pixel for pixel
    drop_spacing = "FrameOfReferenceUID" not in dataset and "PixelSpacing" in dataset
    dataset = source_for_highdicom(dataset, drop=("PixelSpacing",) if drop_spacing else ())
    version = version or mammo_monai.__version__
    family = codes.cid7162.ArtificialIntelligence
    descriptions = []
    for number, (_, label) in enumerate(sorted(classes.items()), start=1):
        code = SEGMENT_CODES.get(label, ("52988006", "SCT", "Lesion"))
        descriptions.append(hd.seg.SegmentDescription(
            segment_number=number, segment_label=label,
            segmented_property_category=CodedConcept(*_CATEGORY), segmented_property_type=CodedConcept(*code),
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=hd.AlgorithmIdentificationSequence(name=algorithm, version=version,
                                                                         family=family)))
    # highdicom's label-map input: segment numbers in order of the class values
    labels = np.zeros(shape, np.uint8)
    for number, value in enumerate(sorted(classes), start=1):
        labels[mask == value] = number
    return hd.seg.Segmentation(
        source_images=[dataset], pixel_array=labels, segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions, series_instance_uid=hd.UID(), series_number=int(series_number),
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer=manufacturer, manufacturer_model_name=algorithm,
        software_versions=version, device_serial_number="0",
        series_description=series_description or f"{algorithm} segmentation")
