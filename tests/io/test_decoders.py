"""The pixel decoders: dicomsdl first, pydicom + pylibjpeg as the fallback, the same arrays from both, and errors
that name the file, the transfer syntax and the decoders tried."""

from __future__ import annotations

import types
from pathlib import Path

import numpy as np
import pydicom
import pytest
from monai.transforms import LoadImage
from pydicom.encaps import encapsulate
from pydicom.uid import JPEG2000Lossless, JPEGExtended12Bit, JPEGLossless, JPEGLosslessSV1, RLELossless

from mammo_monai.io import (
    MammogramReader,
    PixelDataDecodeError,
    UnsupportedTransferSyntaxError,
    decoder_order,
    dicomsdl_available,
    dicomsdl_decoder,
    read_dicom_mammogram,
    read_mammogram,
)
from mammo_monai.io.compat import encoder_available
from mammo_monai.io.decoders import LOSSY_DECODE_TOLERANCE, repair_sequential_jpeg_scan

from .dicom_factory import PYDICOM_TEST_FILES, write_dicom

needs_dicomsdl = pytest.mark.skipif(not dicomsdl_available(), reason="dicomsdl is not installed or does not import")


def both_decoders(path: Path, **kwargs) -> tuple[tuple[np.ndarray, dict], tuple[np.ndarray, dict]]:
    """The file read with dicomsdl forced and with pydicom forced (everything else as default)."""
    return (read_dicom_mammogram(path, decoder="dicomsdl", **kwargs),
            read_dicom_mammogram(path, decoder="pydicom", **kwargs))


def first_frame(ds: pydicom.Dataset) -> bytes:
    """The first encapsulated frame, on pydicom 2 and 3."""
    if hasattr(pydicom.encaps, "generate_frames"):
        return next(pydicom.encaps.generate_frames(ds.PixelData, number_of_frames=1))
    return next(pydicom.encaps.generate_pixel_data_frame(ds.PixelData, 1))


def assert_same_pixels(a: np.ndarray, b: np.ndarray, syntax: str) -> None:
    """Bit-identical, or within the documented tolerance for DCT JPEG."""
    assert a.shape == b.shape and a.dtype == b.dtype
    tolerance = LOSSY_DECODE_TOLERANCE.get(syntax, 0)
    if tolerance:
        assert np.abs(a.astype(np.int64) - b.astype(np.int64)).max() <= tolerance
    else:
        np.testing.assert_array_equal(a, b)


@pytest.fixture
def rle_file(tmp_path, mammo_array) -> Path:
    if not encoder_available(RLELossless):
        pytest.skip("no RLE encoder installed")
    return write_dicom(tmp_path / "rle.dcm", mammo_array, transfer_syntax=RLELossless)


@pytest.fixture
def j2k_file(tmp_path, mammo_array) -> Path:
    """A lossless JPEG 2000 file: a syntax dicomsdl decodes first by default."""
    if not encoder_available(JPEG2000Lossless):
        pytest.skip("no JPEG 2000 encoder installed")
    return write_dicom(tmp_path / "j2k.dcm", mammo_array, transfer_syntax=JPEG2000Lossless)


@pytest.fixture
def fake_dicomsdl(monkeypatch):
    """Install a stand-in for the dicomsdl module; returns a setter for what its calls do."""

    def install(open_file=None, info=None, copy=None):
        dataset = types.SimpleNamespace(getPixelDataInfo=lambda: info, copyFrameData=copy or (lambda i, out: None))
        module = types.SimpleNamespace(open=open_file or (lambda path: dataset))
        monkeypatch.setattr(dicomsdl_decoder, "_module", module)

    return install


# --- choice and fallback -----------------------------------------------------------------------------------


@needs_dicomsdl
def test_dicomsdl_first_for_compressed_but_rle_pydicom_for_native():
    assert decoder_order(JPEGExtended12Bit)[:2] == ("dicomsdl", "pylibjpeg")
    assert decoder_order(JPEGLosslessSV1)[:2] == ("dicomsdl", "pylibjpeg")
    assert decoder_order(pydicom.uid.JPEG2000)[0] == "pylibjpeg"  # dicomsdl's OpenJPEG segfaults on corrupt data
    assert "dicomsdl" not in decoder_order(pydicom.uid.JPEG2000Lossless)
    assert decoder_order(pydicom.uid.JPEGLSLossless)[0] == "dicomsdl"
    assert decoder_order(RLELossless) == ("pylibjpeg", "pydicom")  # dicomsdl's RLE aborts on corrupt data
    assert decoder_order(pydicom.uid.ExplicitVRLittleEndian) == ("native",)  # bytes already read: nothing to decode
    assert decoder_order(pydicom.uid.ExplicitVRLittleEndian, "dicomsdl") == ("dicomsdl",)
    assert decoder_order(RLELossless, "dicomsdl") == ("dicomsdl",)
    assert "dicomsdl" not in decoder_order(pydicom.uid.JPEG2000, "pydicom")


def test_dicomsdl_that_does_not_import_falls_back_silently(j2k_file, mammo_array, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "dicomsdl", None)  # "import dicomsdl" raises ImportError
    monkeypatch.setattr(dicomsdl_decoder, "_module", dicomsdl_decoder._UNSET)
    assert not dicomsdl_available()
    arr, meta = read_dicom_mammogram(j2k_file)
    np.testing.assert_array_equal(arr, mammo_array)
    assert meta["decoder"] == "pylibjpeg"
    with pytest.raises(UnsupportedTransferSyntaxError, match=r"j2k.dcm: decoder='dicomsdl' but dicomsdl is not impor"):
        read_dicom_mammogram(j2k_file, decoder="dicomsdl")


class FakePanic(BaseException):
    """What a panic inside a native extension surfaces as: a BaseException that is not an Exception."""


def test_dicomsdl_panic_becomes_our_error_and_auto_falls_back(j2k_file, mammo_array, fake_dicomsdl):
    def panic(path):
        raise FakePanic("called `Option::unwrap()` on a `None` value")

    fake_dicomsdl(open_file=panic)
    with pytest.raises(PixelDataDecodeError) as info:
        read_dicom_mammogram(j2k_file, decoder="dicomsdl")
    message = str(info.value)
    assert message.startswith(str(j2k_file)) and "(Lossless Only) (1.2.840.10008.1.2.4.90)" in message
    assert "dicomsdl: FakePanic: called `Option::unwrap()`" in message and list(info.value.tried) == ["dicomsdl"]
    arr, meta = read_dicom_mammogram(j2k_file)  # the default goes on to pydicom's plugins
    np.testing.assert_array_equal(arr, mammo_array)
    assert meta["decoder"] == "pylibjpeg"


def test_keyboard_interrupt_is_not_swallowed(j2k_file, fake_dicomsdl):
    def interrupted(path):
        raise KeyboardInterrupt

    fake_dicomsdl(open_file=interrupted)
    with pytest.raises(KeyboardInterrupt):
        read_dicom_mammogram(j2k_file, decoder="dicomsdl")


@pytest.mark.parametrize(
    "info, complaint",
    [
        ({"Rows": 10, "Cols": 48, "SamplesPerPixel": 1, "BitsAllocated": 16, "dtype": "H"}, "Rows 10, the header says"),
        ({"Rows": 64, "Cols": 48, "SamplesPerPixel": 3, "BitsAllocated": 16, "dtype": "H"}, "SamplesPerPixel 3"),
        ({"Rows": 64, "Cols": 48, "SamplesPerPixel": 1, "BitsAllocated": 8, "dtype": "B"}, "BitsAllocated 8"),
        ({"Rows": 64, "Cols": 48, "SamplesPerPixel": 1, "BitsAllocated": 16, "dtype": "h"}, "would return 'h'"),
    ],
)
def test_dicomsdl_output_is_checked_against_the_header(j2k_file, mammo_array, fake_dicomsdl, info, complaint):
    fake_dicomsdl(info=info)
    with pytest.raises(PixelDataDecodeError, match=complaint):
        read_dicom_mammogram(j2k_file, decoder="dicomsdl")
    arr, meta = read_dicom_mammogram(j2k_file)
    assert meta["decoder"] == "pylibjpeg"
    np.testing.assert_array_equal(arr, mammo_array)


def test_decoder_argument_is_checked(rle_file):
    with pytest.raises(ValueError, match="decoder='gdcm': expected None or one of"):
        read_dicom_mammogram(rle_file, decoder="gdcm")
    with pytest.raises(ValueError, match="needs decoder='pydicom'"):
        read_dicom_mammogram(rle_file, decoder="dicomsdl", decoding_plugin="pylibjpeg")


def test_dicomsdl_forced_on_a_syntax_it_does_not_decode(tmp_path, mammo_array):
    path = write_dicom(tmp_path / "deflated.dcm", mammo_array)
    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = pydicom.uid.DeflatedExplicitVRLittleEndian
    ds.save_as(path)
    with pytest.raises(UnsupportedTransferSyntaxError, match="deflated.dcm: decoder='dicomsdl' does not decode Defl"):
        read_dicom_mammogram(path, decoder="dicomsdl")


@needs_dicomsdl
def test_reader_forces_a_decoder(j2k_file, mammo_array):
    for decoder, expected in (("pydicom", "pylibjpeg"), ("dicomsdl", "dicomsdl"), (None, "pylibjpeg")):
        img = LoadImage(reader=MammogramReader(decoder=decoder), image_only=True)(str(j2k_file))
        assert img.meta["decoder"] == expected
        np.testing.assert_array_equal(np.asarray(img), mammo_array)
    assert read_mammogram(j2k_file, decoder="pydicom")[1]["decoder"] == "pylibjpeg"


# --- every decoder gives the same pixels -------------------------------------------------------------------


@needs_dicomsdl
@pytest.mark.parametrize(
    "name",
    ["JPGExtended.dcm", "JPEG-lossy.dcm", "MR_small_jpeg_ls_lossless.dcm", "JPEGLSNearLossless_16.dcm",
     "MR_small_jp2klossless.dcm", "JPEG2000.dcm", "MR_small_RLE.dcm", "CT_small.dcm", "MR_small.dcm"],
)
def test_both_decoders_agree_on_pydicom_test_files(name):
    path = PYDICOM_TEST_FILES / name
    if not path.is_file():
        pytest.skip(f"{path} not shipped with this pydicom")
    (a, meta_a), (b, meta_b) = both_decoders(path)
    assert meta_a["decoder"] == "dicomsdl" and meta_b["decoder"] != "dicomsdl"
    assert_same_pixels(a, b, meta_a["transfer_syntax_uid"])


@pytest.fixture(scope="module")
def pydicom_data() -> Path:
    try:
        import data_store
    except ImportError:
        pytest.skip("pydicom-data is not installed (pip install -e '.[dev]')")
    return Path(data_store.__file__).parent / "data"


@needs_dicomsdl
@pytest.mark.parametrize("name", ["JPEG-LL.dcm", "JPGLosslessP14SV1_1s_1f_8b.dcm", "RG1_J2KR.dcm", "RG1_UNCR.dcm"])
def test_both_decoders_agree_on_pydicom_data(pydicom_data, name):
    """JPEG Lossless Process 14 SV1 (16- and 8-bit), and a real CR MONOCHROME1 (inverted the same by both)."""
    (a, meta_a), (b, meta_b) = both_decoders(pydicom_data / name)
    assert meta_a["decoder"] == "dicomsdl" and meta_b["decoder"] in ("pylibjpeg", "native")
    assert meta_a["monochrome1_inverted"] == meta_b["monochrome1_inverted"]
    np.testing.assert_array_equal(a, b)


def test_jpeg_lossless_process14_any_predictor(pydicom_data, tmp_path):
    """1.2.840.10008.1.2.4.57 (Process 14, any predictor): a first-order-prediction (SV1) stream is one too."""
    ds = pydicom.dcmread(pydicom_data / "JPEG-LL.dcm")
    reference = ds.pixel_array
    ds.file_meta.TransferSyntaxUID = JPEGLossless
    path = tmp_path / "p14.dcm"
    ds.save_as(path)
    for decoder in decoder_order(JPEGLossless)[:2]:
        forced = "dicomsdl" if decoder == "dicomsdl" else "pydicom"
        arr, meta = read_dicom_mammogram(path, decoder=forced)
        assert meta["transfer_syntax_uid"] == JPEGLossless and meta["decoder"] == decoder
        np.testing.assert_array_equal(arr, reference)
    assert read_dicom_mammogram(path)[1]["decoder"] == decoder_order(JPEGLossless)[0]
    assert decoder_order(JPEGLosslessSV1)[0] == decoder_order(JPEGLossless)[0]


def test_jpeg_extended_12bit_with_a_bad_scan_header():
    """JPEG-lossy.dcm is JPGExtended.dcm with Se=0 in its scan header: both paths decode it to the same image
    (libjpeg rejects the stream as it is, so the pydicom path repairs the header); it used to be refused as
    'corrupt pixel data'."""
    bad, good = PYDICOM_TEST_FILES / "JPEG-lossy.dcm", PYDICOM_TEST_FILES / "JPGExtended.dcm"
    if not bad.is_file() or not good.is_file():
        pytest.skip("pydicom's JPEG Extended test files are missing")
    ds_bad, ds_good = pydicom.dcmread(bad), pydicom.dcmread(good)
    assert ds_bad.file_meta.TransferSyntaxUID == JPEGExtended12Bit
    frame = first_frame(ds_bad)
    assert repair_sequential_jpeg_scan(frame) == first_frame(ds_good)
    assert repair_sequential_jpeg_scan(repair_sequential_jpeg_scan(frame)) is None  # nothing left to repair
    arr, meta = read_dicom_mammogram(bad, decoder="pydicom")
    assert meta["decoder"] == "pylibjpeg" and arr.dtype == np.uint16 and arr.shape == (1024, 256)
    np.testing.assert_array_equal(arr, ds_good.pixel_array)
    assert 0 < arr.max() < 4096  # 12 bits
    arr_auto, meta = read_dicom_mammogram(bad)
    assert meta["decoder"] == decoder_order(JPEGExtended12Bit)[0]
    assert_same_pixels(arr_auto, arr, JPEGExtended12Bit)


def test_undecodable_stream_names_file_syntax_and_decoders(tmp_path):
    path = PYDICOM_TEST_FILES / "JPGExtended.dcm"
    if not path.is_file():
        pytest.skip("pydicom's JPEG Extended test file is missing")
    ds = pydicom.dcmread(path)
    frame = bytearray(first_frame(ds))
    frame[2:200] = b"\x00" * 198  # the tables are gone: no decoder can make sense of it
    ds.PixelData = encapsulate([bytes(frame)])
    broken = tmp_path / "broken_jpeg.dcm"
    ds.save_as(broken)
    with pytest.raises(PixelDataDecodeError) as info:
        read_dicom_mammogram(broken)
    message = str(info.value)
    assert message.startswith(f"{broken}: ")
    assert "JPEG Extended (Process 2 and 4) (1.2.840.10008.1.2.4.51)" in message
    assert set(decoder_order(JPEGExtended12Bit)[:2]) <= set(info.value.tried)
    for decoder in decoder_order(JPEGExtended12Bit)[:2]:
        assert f"{decoder}: " in message


def test_monochrome1_and_luts_are_the_same_for_both_decoders(tmp_path, mammo_array):
    if not encoder_available(RLELossless):
        pytest.skip("no RLE encoder installed")
    stored = (4095 - (mammo_array >> 4)).astype(np.uint16)
    path = write_dicom(tmp_path / "m1.dcm", stored, transfer_syntax=RLELossless,
                       PhotometricInterpretation="MONOCHROME1", BitsStored=12, HighBit=11, RescaleSlope="0.5",
                       RescaleIntercept="-10", WindowCenter="1000", WindowWidth="1500")
    for kwargs in ({}, {"apply_voi_lut": True}, {"invert_monochrome1": False}):
        first = "dicomsdl" if dicomsdl_available() else "pydicom"
        (a, meta_a), (b, meta_b) = (read_dicom_mammogram(path, decoder=d, **kwargs) for d in (first, "pydicom"))
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype
        for key in ("value_range", "monochrome1_inverted", "voi_applied"):
            assert meta_a[key] == meta_b[key]


# --- the shared real films ---------------------------------------------------------------------------------

SHARED_FILMS = [
    "cbis-ddsm/Mass-Test_P_00173_LEFT_CC.dcm",
    "cbis-ddsm/Mass-Test_P_00173_LEFT_MLO.dcm",
    "cbis-ddsm/Mass-Test_P_00173_RIGHT_CC.dcm",
    "cbis-ddsm/Mass-Test_P_00173_RIGHT_MLO.dcm",
    "nema-wg04/MG1_J2KI.dcm",
]


@pytest.mark.shared
@needs_dicomsdl
@pytest.mark.parametrize("name", SHARED_FILMS)
def test_both_decoders_agree_on_shared_films(shared_dicom, name):
    """dicomsdl and pydicom + pylibjpeg give bit-identical arrays on every shared film (RLE lossless; the JPEG 2000
    one is lossy, but both decode it with OpenJPEG, and they agree exactly). By default the RLE films go to
    pylibjpeg-rle (dicomsdl's RLE decoder is not safe on corrupt files), the JPEG 2000 one to pylibjpeg-openjpeg
    (dicomsdl's OpenJPEG segfaults on some corrupt codestreams)."""
    (a, meta_a), (b, meta_b) = both_decoders(shared_dicom / name)
    assert (meta_a["decoder"], meta_b["decoder"]) == ("dicomsdl", "pylibjpeg")
    assert a.dtype == b.dtype == np.uint16
    np.testing.assert_array_equal(a, b)
    default = read_dicom_mammogram(shared_dicom / name)[1]
    assert default["decoder"] == "pylibjpeg"


@needs_dicomsdl
def test_process_using_dicomsdl_exits(tmp_path, rle_file):
    """dicomsdl's log callback is a C++ global holding a Python function: the interpreter must still exit."""
    import subprocess
    import sys

    code = ("import sys; from mammo_monai.io import read_dicom_mammogram; "
            "print(read_dicom_mammogram(sys.argv[1], decoder='dicomsdl')[1]['decoder'])")
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", code, str(rle_file)], capture_output=True, text=True, timeout=120,
                          cwd=root, env={**__import__("os").environ, "PYTHONPATH": str(root)})
    assert done.returncode == 0 and done.stdout.strip() == "dicomsdl", done.stderr[-2000:]


def rle_segment_overrun(path: Path, mammo_array: np.ndarray) -> Path:
    """An RLE file whose first segment decodes to more bytes than the frame holds (a corrupt file)."""
    import struct

    write_dicom(path, mammo_array)
    ds = pydicom.dcmread(path)
    first, second = bytes([129, 7]) * 40, bytes([129, 0]) * 24  # 40 runs of 128 bytes > 64 x 48
    header = struct.pack("<16I", 2, 64, 64 + len(first), *([0] * 13))
    ds.PixelData = encapsulate([header + first + second])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = RLELossless
    ds.save_as(path)
    return path


def test_corrupt_rle_is_our_error_not_a_panic_or_an_abort(tmp_path, mammo_array):
    """pylibjpeg-rle panics on it (a Rust panic: a BaseException, not an Exception), dicomsdl 0.109 would corrupt
    its heap and abort the process: the default path gives our error, naming the file, the syntax and decoders."""
    path = rle_segment_overrun(tmp_path / "overrun.dcm", mammo_array)
    with pytest.raises(PixelDataDecodeError) as info:
        read_dicom_mammogram(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and "RLE Lossless (1.2.840.10008.1.2.5)" in message
    assert "dicomsdl" not in info.value.tried and "pylibjpeg-rle" in info.value.tried
