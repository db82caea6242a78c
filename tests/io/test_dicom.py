"""Reading mammography DICOM: decoders, Modality/VOI LUT, MONOCHROME1, metadata, errors, real files."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import JPEG2000Lossless, JPEGLSLossless, RLELossless

from mammo_monai.io import (
    CorruptPixelDataError,
    MammogramReadError,
    NoPixelDataError,
    NotDicomError,
    UnsupportedTransferSyntaxError,
    read_dicom_header,
    read_dicom_mammogram,
    read_mammogram,
    select_decoder,
)
from mammo_monai.io.decoders import LOSSY_DECODE_TOLERANCE, decoder_order

from .dicom_factory import PYDICOM_TEST_FILES, write_dicom


def test_uncompressed_roundtrip_keeps_16_bits(tmp_path, mammo_array):
    path = write_dicom(tmp_path / "a.dcm", mammo_array)
    arr, meta = read_dicom_mammogram(path)
    assert arr.dtype == np.uint16
    np.testing.assert_array_equal(arr, mammo_array)
    assert meta["decoder"] == "native"
    assert meta["value_range"] == [0.0, 65535.0]
    assert meta["monochrome1_inverted"] is False


@pytest.mark.parametrize("syntax", [RLELossless, JPEG2000Lossless, JPEGLSLossless])
def test_lossless_compressed_decodes_exactly(tmp_path, mammo_array, syntax):
    from mammo_monai.io.compat import encoder_available

    if not encoder_available(syntax):
        pytest.skip(f"no encoder installed for {syntax.name} (decoding is still tested on real files)")
    path = write_dicom(tmp_path / "a.dcm", mammo_array, transfer_syntax=syntax)
    arr, meta = read_dicom_mammogram(path)
    np.testing.assert_array_equal(arr, mammo_array)
    assert meta["transfer_syntax_uid"] == syntax
    assert meta["decoder"] == decoder_order(syntax)[0]


def test_rle_uses_pylibjpeg_not_the_numpy_decoder():
    # measured: pydicom's numpy RLE decoder is ~10x slower than pylibjpeg-rle on a 4000x3000 image
    assert select_decoder(RLELossless) == "pylibjpeg"
    assert select_decoder(pydicom.uid.JPEG2000) == "pylibjpeg"
    assert select_decoder(pydicom.uid.JPEGBaseline8Bit) == "pylibjpeg"
    assert select_decoder(pydicom.uid.JPEGLosslessSV1) == "pylibjpeg"
    assert select_decoder(pydicom.uid.ExplicitVRLittleEndian) is None


@pytest.mark.parametrize(
    "name",
    ["JPGExtended.dcm", "MR_small_jpeg_ls_lossless.dcm", "JPEGLSNearLossless_16.dcm",
     "MR_small_jp2klossless.dcm", "JPEG2000.dcm", "MR_small_RLE.dcm"],
)
def test_decodes_every_compressed_family(name):
    """pydicom's bundled real files: JPEG extended (12-bit), JPEG-LS (lossless, near-lossless), J2K, RLE."""
    path = PYDICOM_TEST_FILES / name
    if not path.is_file():
        pytest.skip(f"{path} not shipped with this pydicom")
    ds = pydicom.dcmread(path)
    arr, meta = read_dicom_mammogram(path)
    assert arr.shape == (ds.Rows, ds.Columns)
    syntax = ds.file_meta.TransferSyntaxUID
    assert meta["decoder"] == decoder_order(syntax)[0]
    reference = ds.pixel_array
    if "RescaleSlope" not in ds:
        tolerance = LOSSY_DECODE_TOLERANCE.get(syntax, 0) if meta["decoder"] == "dicomsdl" else 0
        np.testing.assert_allclose(arr, reference, rtol=0, atol=tolerance)


def test_jpeg_baseline_grayscale(tmp_path, mammo_array):
    """8-bit JPEG baseline, encoded with Pillow and encapsulated (pydicom has no baseline encoder)."""
    import io

    from PIL import Image
    from pydicom.encaps import encapsulate

    img8 = (mammo_array >> 8).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(img8).save(buffer, format="JPEG", quality=95)
    path = write_dicom(tmp_path / "j.dcm", img8)
    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = pydicom.uid.JPEGBaseline8Bit
    ds.PixelData = encapsulate([buffer.getvalue()])
    ds["PixelData"].VR = "OB"
    ds.save_as(path)
    arr, meta = read_dicom_mammogram(path)
    assert meta["decoder"] == decoder_order(pydicom.uid.JPEGBaseline8Bit)[0]
    assert arr.dtype == np.uint8 and np.abs(arr.astype(int) - img8).max() <= 8


def test_monochrome1_is_inverted_within_the_stored_range(tmp_path, mammo_array):
    stored = (4095 - (mammo_array >> 4)).astype(np.uint16)  # 12-bit MONOCHROME1: dense tissue dark
    path = write_dicom(tmp_path / "m1.dcm", stored, PhotometricInterpretation="MONOCHROME1", BitsStored=12, HighBit=11)
    arr, meta = read_dicom_mammogram(path)
    assert meta["monochrome1_inverted"] is True
    np.testing.assert_array_equal(arr, mammo_array >> 4)  # dense tissue bright again, 12-bit range kept
    raw, _ = read_dicom_mammogram(path, invert_monochrome1=False)
    np.testing.assert_array_equal(raw, stored)


def test_modality_lut_rescale(tmp_path, mammo_array):
    path = write_dicom(tmp_path / "r.dcm", mammo_array, RescaleSlope="0.5", RescaleIntercept="-10")
    arr, meta = read_dicom_mammogram(path)
    assert arr.dtype == np.float32
    np.testing.assert_allclose(arr, mammo_array * 0.5 - 10)
    assert meta["value_range"] == [-10.0, 65535 * 0.5 - 10]


def test_voi_window_on_request(tmp_path, mammo_array):
    path = write_dicom(tmp_path / "w.dcm", mammo_array, WindowCenter="30000", WindowWidth="20000")
    _, meta = read_dicom_mammogram(path)
    assert meta["voi_applied"] is None and meta["window"] == [30000.0, 20000.0]
    arr, meta = read_dicom_mammogram(path, apply_voi_lut=True)
    assert meta["voi_applied"] == "window"
    assert arr.min() == 0 and arr.max() <= 65535
    assert arr[mammo_array <= 20000].max() == 0  # below the window -> minimum


def test_voi_lut_sequence_preferred(tmp_path, mammo_array):
    lut = Dataset()
    lut.LUTDescriptor = [4096, 0, 12]
    lut.add_new(0x00283006, "US", (np.arange(4096, dtype=np.uint16) // 2).tolist())  # LUTData
    path = write_dicom(tmp_path / "v.dcm", (mammo_array >> 4).astype(np.uint16), BitsStored=12, HighBit=11,
                       VOILUTSequence=[lut], WindowCenter="100", WindowWidth="10")
    arr, meta = read_dicom_mammogram(path, apply_voi_lut=True)
    assert meta["voi_applied"] == "voi_lut"
    np.testing.assert_array_equal(arr, (mammo_array >> 4) // 2)


def test_monochrome1_with_voi_inverts_the_windowed_range(tmp_path, mammo_array):
    stored = (65535 - mammo_array).astype(np.uint16)
    path = write_dicom(tmp_path / "m1w.dcm", stored, PhotometricInterpretation="MONOCHROME1",
                       WindowCenter="32768", WindowWidth="65536")
    arr, meta = read_dicom_mammogram(path, apply_voi_lut=True)
    assert meta["monochrome1_inverted"] and meta["voi_applied"] == "window"
    assert np.corrcoef(arr.ravel(), mammo_array.ravel())[0, 1] > 0.999


def test_metadata_from_a_full_field_digital_mammogram(tmp_path, mammo_array):
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "399368009", "SCT", "medio-lateral oblique"
    path = write_dicom(tmp_path / "ffdm.dcm", mammo_array, ImageLaterality="R", ViewCodeSequence=[code],
                       PatientID="12345", ImagerPixelSpacing=[0.085, 0.085])
    meta = read_dicom_header(path)
    assert (meta["laterality"], meta["view"], meta["patient_id"]) == ("R", "MLO", "12345")
    assert meta["pixel_spacing"] == [0.085, 0.085] and meta["pixel_spacing_source"] == "ImagerPixelSpacing"
    assert (meta["rows"], meta["columns"]) == mammo_array.shape


def test_metadata_falls_back_to_cbis_patient_id(tmp_path, mammo_array):
    path = write_dicom(tmp_path / "c.dcm", mammo_array, PatientID="Calc-Training_P_00005_RIGHT_MLO")
    meta = read_dicom_header(path)
    assert (meta["laterality"], meta["view"]) == ("R", "MLO")


def test_not_dicom(tmp_path):
    path = tmp_path / "notes.dcm"
    path.write_text("this is not a DICOM file\n" * 20)
    with pytest.raises(NotDicomError, match="notes.dcm"):
        read_dicom_mammogram(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.dcm"):
        read_mammogram(tmp_path / "nope.dcm")


def test_no_pixel_data(tmp_path, mammo_array):
    path = write_dicom(tmp_path / "sr.dcm", mammo_array)
    ds = pydicom.dcmread(path)
    del ds.PixelData
    ds.save_as(path)
    with pytest.raises(NoPixelDataError, match="sr.dcm: the DICOM file has no pixel data"):
        read_dicom_mammogram(path)


def test_truncated_pixel_data(tmp_path, mammo_array):
    for syntax in (pydicom.uid.ExplicitVRLittleEndian, RLELossless):
        path = write_dicom(tmp_path / f"t_{syntax.name[:3]}.dcm", mammo_array, transfer_syntax=syntax)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) - 1500])
        with pytest.raises(MammogramReadError, match=path.name) as info:
            read_dicom_mammogram(path)
        assert isinstance(info.value, (CorruptPixelDataError, NotDicomError))


def test_unsupported_transfer_syntax_names_the_package(tmp_path, mammo_array, monkeypatch):
    path = write_dicom(tmp_path / "j2k.dcm", mammo_array, transfer_syntax=RLELossless)
    monkeypatch.setattr("mammo_monai.io.decoders.available_decoders", lambda ts: ())
    monkeypatch.setattr("mammo_monai.io.dicomsdl_decoder._module", None)  # nor dicomsdl
    with pytest.raises(UnsupportedTransferSyntaxError, match=r"j2k.dcm: .*install pylibjpeg \+ pylibjpeg-rle"):
        read_dicom_mammogram(path)


def test_colour_and_multiframe_are_refused():
    path = PYDICOM_TEST_FILES / "SC_rgb_rle.dcm"
    if not path.is_file():
        pytest.skip("pydicom test file missing")
    with pytest.raises(MammogramReadError, match="greyscale"):
        read_dicom_mammogram(path)


# --- real files -------------------------------------------------------------------------------------

CBIS_FILES = {
    "Mass-Test_P_00173_LEFT_CC.dcm": ("L", "CC", (4432, 2864)),
    "Mass-Test_P_00173_LEFT_MLO.dcm": ("L", "MLO", (4464, 2848)),
    "Mass-Test_P_00173_RIGHT_CC.dcm": ("R", "CC", (4560, 2864)),
    "Mass-Test_P_00173_RIGHT_MLO.dcm": ("R", "MLO", (4536, 2920)),
}


@pytest.mark.parametrize("name", sorted(CBIS_FILES))
def test_real_cbis_ddsm_rle(shared_dicom, name):
    laterality, view, shape = CBIS_FILES[name]
    arr, meta = read_dicom_mammogram(shared_dicom / "cbis-ddsm" / name)
    assert arr.shape == shape and arr.dtype == np.uint16
    assert (meta["laterality"], meta["view"]) == (laterality, view)
    assert meta["patient_id"] == name.removesuffix(".dcm")
    assert meta["modality"] == "MG" and meta["photometric_interpretation"] == "MONOCHROME2"
    assert meta["decoder"] == decoder_order(RLELossless)[0] and meta["bits_stored"] == 16
    assert arr.min() == 0 and 55_000 <= arr.max() <= 61_000  # README: max about 55,900-60,500
    assert meta["pixel_spacing"] is None
    # the breast (bright) is against the chest wall: left edge for L, right edge for R
    third = shape[1] // 3
    left, right = arr[:, :third].mean(), arr[:, -third:].mean()
    assert (left > right) == (laterality == "L")


def test_real_ddsm_jpeg2000_rg(shared_dicom):
    arr, meta = read_dicom_mammogram(shared_dicom / "nema-wg04" / "MG1_J2KI.dcm")
    assert arr.shape == (4664, 3064) and arr.dtype == np.uint16
    assert arr.min() == 0 and arr.max() == 4095  # 12 bits stored in 16
    assert (meta["modality"], meta["laterality"], meta["view"]) == ("RG", "L", "MLO")
    assert meta["pixel_spacing"] == [0.05, 0.05] and meta["pixel_spacing_source"] == "SpatialResolution"
    assert meta["window"] == [2047.0, 4095.0]
    windowed, meta = read_dicom_mammogram(shared_dicom / "nema-wg04" / "MG1_J2KI.dcm", apply_voi_lut=True)
    assert meta["voi_applied"] == "window" and windowed.dtype == np.float32


# --- real public test files (pydicom-data, a dev dependency): JPEG lossless, CR MONOCHROME1, LUT sequences


@pytest.fixture(scope="module")
def pydicom_data():
    try:
        import data_store
    except ImportError:
        pytest.skip("pydicom-data is not installed (pip install -e '.[dev]')")
    from pathlib import Path

    return Path(data_store.__file__).parent / "data"


@pytest.mark.parametrize("name", ["JPEG-LL.dcm", "JPGLosslessP14SV1_1s_1f_8b.dcm"])
def test_real_jpeg_lossless(pydicom_data, name):
    arr, meta = read_dicom_mammogram(pydicom_data / name)
    assert meta["decoder"] == decoder_order(pydicom.uid.JPEGLosslessSV1)[0]
    np.testing.assert_array_equal(arr, pydicom.dcmread(pydicom_data / name).pixel_array)


def test_real_monochrome1_cr(pydicom_data):
    """Real CR MONOCHROME1 (15 bits stored), uncompressed and JPEG 2000 lossless: inverted within 0..32767."""
    raw = pydicom.dcmread(pydicom_data / "RG1_UNCR.dcm").pixel_array
    for name in ("RG1_UNCR.dcm", "RG1_J2KR.dcm"):
        arr, meta = read_dicom_mammogram(pydicom_data / name)
        assert meta["monochrome1_inverted"] and meta["value_range"] == [0.0, 32767.0]
        assert arr.dtype == raw.dtype
        np.testing.assert_array_equal(arr, 32767 - raw)


def test_real_voi_and_modality_lut_sequences(pydicom_data):
    try:
        from pydicom.pixels import apply_modality_lut
        from pydicom.pixels import apply_voi_lut as reference_voi
    except ImportError:  # pydicom 2
        from pydicom.pixel_data_handlers.util import apply_modality_lut
        from pydicom.pixel_data_handlers.util import apply_voi_lut as reference_voi

    ds = pydicom.dcmread(pydicom_data / "vlut_04.dcm")
    arr, meta = read_dicom_mammogram(pydicom_data / "vlut_04.dcm", apply_voi_lut=True)
    assert meta["voi_applied"] == "voi_lut"
    np.testing.assert_array_equal(arr, reference_voi(ds.pixel_array, ds).astype(np.float32))
    ds = pydicom.dcmread(pydicom_data / "mlut_18.dcm")
    arr, meta = read_dicom_mammogram(pydicom_data / "mlut_18.dcm")
    # signed 12-bit values in 16 bits: the reader keeps BitsStored (sign-extends), as pydicom 3's pixel_array does;
    # pydicom 2.4 leaves the upper bits (4095 instead of -1), so the reference is sign-extended here first
    bits = int(ds.BitsStored)
    stored = ds.pixel_array.astype(np.int64) & ((1 << bits) - 1)
    stored = np.where(stored >= 1 << (bits - 1), stored - (1 << bits), stored).astype(ds.pixel_array.dtype)
    np.testing.assert_array_equal(arr, apply_modality_lut(stored, ds))
    bits = ds.ModalityLUTSequence[0].LUTDescriptor[2]
    assert meta["value_range"] == [0.0, float(2**bits - 1)]
