"""A factory for small mammography DICOM files with chosen headers and encodings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

from mammo_monai.io.compat import compress_dataset, save_dataset

PYDICOM_TEST_FILES = Path(pydicom.__file__).parent / "data" / "test_files"


def write_dicom(path: Path, arr: np.ndarray, transfer_syntax=ExplicitVRLittleEndian, **attributes) -> Path:
    """Write ``arr`` (2D uint8/uint16/int16) as a DICOM file; ``attributes`` are DICOM keywords."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.PatientID = "TEST"
    ds.Modality = "MG"
    ds.Rows, ds.Columns = arr.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = arr.dtype.itemsize * 8
    ds.BitsStored = ds.BitsAllocated
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 1 if arr.dtype.kind == "i" else 0
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    ds.PixelData = np.ascontiguousarray(arr).tobytes()
    if transfer_syntax != ExplicitVRLittleEndian:
        compress_dataset(ds, transfer_syntax, arr)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_dataset(ds, path)
    return path


