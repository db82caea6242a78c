"""Reading mammograms (DICOM in any transfer syntax, PNG/PGM) with their metadata.

- :func:`read_mammogram`: the plain function for scripts, ``(rows, cols)`` array + metadata.
- :class:`MammogramReader`: the MONAI ``ImageReader`` for ``LoadImage``/``LoadImaged`` and bundle configs.
- :func:`read_dicom_header`: metadata only, without decoding pixels (what indexers scan with).
"""

from .decoders import DECODER_PREFERENCE, decode_pixel_data, decoder_order, select_decoder
from .dicom import (
    DEFAULT_MAX_IMAGE_BYTES,
    MAX_IMAGE_BYTES_ENV,
    is_dicom_file,
    max_image_bytes,
    read_dicom_dataset,
    read_dicom_header,
    read_dicom_mammogram,
    validate_image_header,
    value_range,
)
from .dicomsdl_decoder import dicomsdl_available
from .errors import (
    CorruptPixelDataError,
    ImageTooLargeError,
    InputNotFoundError,
    InvalidHeaderError,
    InvalidRecordError,
    MammogramReadError,
    MammoInputError,
    NoPixelDataError,
    NotDicomError,
    PixelDataDecodeError,
    UnsupportedTransferSyntaxError,
)
from .metadata import MetaKeys, dicom_metadata, laterality_from_header, pixel_spacing_from_header, view_from_header
from .nifti import read_nifti_mammogram
from .raster import read_raster_mammogram
from .reader import MammogramReader, read_mammogram

__all__ = [
    "DECODER_PREFERENCE",
    "DEFAULT_MAX_IMAGE_BYTES",
    "MAX_IMAGE_BYTES_ENV",
    "CorruptPixelDataError",
    "ImageTooLargeError",
    "InputNotFoundError",
    "InvalidHeaderError",
    "InvalidRecordError",
    "MammoInputError",
    "MammogramReadError",
    "MammogramReader",
    "MetaKeys",
    "NoPixelDataError",
    "NotDicomError",
    "PixelDataDecodeError",
    "UnsupportedTransferSyntaxError",
    "decode_pixel_data",
    "decoder_order",
    "dicom_metadata",
    "dicomsdl_available",
    "is_dicom_file",
    "laterality_from_header",
    "max_image_bytes",
    "pixel_spacing_from_header",
    "read_dicom_dataset",
    "read_dicom_header",
    "read_dicom_mammogram",
    "read_mammogram",
    "read_nifti_mammogram",
    "read_raster_mammogram",
    "select_decoder",
    "validate_image_header",
    "value_range",
    "view_from_header",
]
