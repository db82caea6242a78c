"""The reader checks the header against the pixel data before it returns anything (issue 21).

Small copies of the shared films (a 64 x 64 crop of a real CBIS-DDSM RLE film with its real header, written to
``tmp_path`` as RLE or uncompressed) are edited one element at a time: every impossible value is an error of the
project's hierarchy naming the file and the element, every safely repairable one is repaired with a logged warning.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian, RLELossless

from mammo_monai.io import (
    DEFAULT_MAX_IMAGE_BYTES,
    MAX_IMAGE_BYTES_ENV,
    CorruptPixelDataError,
    ImageTooLargeError,
    InputNotFoundError,
    InvalidHeaderError,
    MammogramReadError,
    MammoInputError,
    PixelDataDecodeError,
    max_image_bytes,
    read_dicom_header,
    read_dicom_mammogram,
)
from mammo_monai.io import decoders as decoders_module
from mammo_monai.io import dicom as dicom_module
from mammo_monai.io.compat import compress_dataset, save_dataset
from mammo_monai.io.writers import OutputInsideInputError

FILM = "cbis-ddsm/Mass-Test_P_00173_LEFT_CC.dcm"


@pytest.fixture(scope="module")
def film(shared_dicom) -> tuple[pydicom.Dataset, np.ndarray]:
    """The header of a real film and a 64 x 64 crop of its breast."""
    path = shared_dicom / FILM
    arr, _ = read_dicom_mammogram(path)
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    return ds, np.ascontiguousarray(arr[2000:2064, 400:464])


def small_copy(film, path: Path, syntax=RLELossless, pixels: np.ndarray | None = None, raw: dict | None = None,
               **edits) -> Path:
    """Write the crop with the film's header, then apply ``edits`` (keyword: value, written without validation)
    and the byte replacements ``raw`` (for values pydicom would not even write)."""
    header, crop = film
    arr = crop if pixels is None else pixels
    ds = copy.deepcopy(header)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.Rows, ds.Columns = arr.shape
    ds.PixelData = arr.tobytes()
    ds["PixelData"].VR = "OW"
    if syntax != ExplicitVRLittleEndian:
        compress_dataset(ds, syntax, arr)
    mode = pydicom.config.settings.writing_validation_mode
    pydicom.config.settings.writing_validation_mode = pydicom.config.IGNORE
    try:
        for keyword, value in edits.items():
            setattr(ds, keyword, value)
        save_dataset(ds, path)
    finally:
        pydicom.config.settings.writing_validation_mode = mode
    for old, new in (raw or {}).items():
        data = path.read_bytes()
        assert data.count(old) == 1 and len(old) == len(new)
        path.write_bytes(data.replace(old, new))
    return path


def test_the_hierarchy():
    for error in (MammogramReadError, InvalidHeaderError, ImageTooLargeError, PixelDataDecodeError,
                  OutputInsideInputError, InputNotFoundError):
        assert issubclass(error, MammoInputError) and issubclass(error, ValueError)
    assert issubclass(InputNotFoundError, FileNotFoundError)
    err = InvalidHeaderError("a.dcm", "is NaN", element="(0028,1053) RescaleSlope")
    assert str(err) == "a.dcm: (0028,1053) RescaleSlope: is NaN" and err.path == "a.dcm"
    assert str(MammoInputError("Info.txt", "too few fields", line=3)) == "Info.txt:line 3: too few fields"


@pytest.mark.parametrize("syntax", [RLELossless, ExplicitVRLittleEndian], ids=["rle", "native"])
def test_a_small_copy_reads_back_exactly(film, tmp_path, syntax):
    arr, meta = read_dicom_mammogram(small_copy(film, tmp_path / "ok.dcm", syntax))
    np.testing.assert_array_equal(arr, film[1])
    assert meta["laterality"] == "L" and meta["view"] == "CC"


@pytest.mark.parametrize(
    ("edits", "element"),
    [
        ({"RescaleSlope": "NaN", "RescaleIntercept": "0"}, "RescaleSlope"),
        ({"RescaleSlope": "inf", "RescaleIntercept": "0"}, "RescaleSlope"),
        ({"RescaleSlope": "0", "RescaleIntercept": "0"}, "RescaleSlope"),
        ({"RescaleSlope": "7.77777", "RescaleIntercept": "0", "raw": {b"7.77777 ": b"abc     "}}, "RescaleSlope"),
        ({"RescaleSlope": "1", "RescaleIntercept": "-inf"}, "RescaleIntercept"),
        ({"RescaleSlope": "1e308", "RescaleIntercept": "0"}, "RescaleSlope"),  # overflows to infinity
        ({"BitsAllocated": 12}, "BitsAllocated"),
        ({"PixelRepresentation": 7}, "PixelRepresentation"),
        ({"Rows": 0}, "Rows"),
        ({"Columns": 65}, "PixelData"),  # more bytes claimed than there are
        ({"Rows": 32}, "PixelData"),  # fewer: the rest of the data would be dropped silently
    ],
)
def test_impossible_header_values_are_errors_naming_the_element(film, tmp_path, edits, element):
    path = small_copy(film, tmp_path / "bad.dcm", ExplicitVRLittleEndian, **edits)
    with pytest.raises(MammogramReadError, match=element) as info:
        read_dicom_mammogram(path)
    assert path.name in str(info.value)


def test_rows_disagreeing_with_compressed_pixel_data(film, tmp_path):
    path = small_copy(film, tmp_path / "rows.dcm", Rows=80)
    with pytest.raises(CorruptPixelDataError, match="rows.dcm") as info:
        read_dicom_mammogram(path)
    assert "RLE Lossless" in str(info.value) or "Rows" in str(info.value)


def test_bits_stored_above_bits_allocated_is_repaired_with_a_warning(film, tmp_path, caplog):
    path = small_copy(film, tmp_path / "bits.dcm", BitsStored=17, HighBit=16)
    with caplog.at_level(logging.WARNING, logger="mammo_monai.io.dicom"):
        arr, _ = read_dicom_mammogram(path)
    np.testing.assert_array_equal(arr, film[1])
    assert "BitsStored" in caplog.text and "repaired to 16" in caplog.text


def test_values_above_bits_stored_are_masked_with_a_warning(film, tmp_path, caplog):
    pixels = (film[1] >> 4).astype(np.uint16)  # 12-bit values ...
    dirty = pixels | np.uint16(0xF000)  # ... with garbage in the 4 unused high bits
    path = small_copy(film, tmp_path / "high.dcm", ExplicitVRLittleEndian, pixels=dirty, BitsStored=12, HighBit=11)
    with caplog.at_level(logging.WARNING, logger="mammo_monai.io.dicom"):
        arr, meta = read_dicom_mammogram(path)
    np.testing.assert_array_equal(arr, pixels)
    assert arr.max() <= meta["value_range"][1] == 4095


def test_signed_values_are_sign_extended_from_bits_stored(film, tmp_path):
    pixels = np.array([[-2048, -1, 0, 2047]], dtype=np.int16)
    dirty = (pixels.astype(np.int64) & 0x0FFF).astype(np.int16)  # as stored: 12 bits, high bits zero
    header, _ = film
    path = small_copy((header, dirty), tmp_path / "signed.dcm", ExplicitVRLittleEndian, BitsStored=12, HighBit=11,
                      PixelRepresentation=1)
    arr, _ = read_dicom_mammogram(path)
    np.testing.assert_array_equal(arr, pixels)


@pytest.mark.parametrize("spacing", [["nan", "0.1"], ["0", "0.1"], ["-0.1", "0.1"], ["inf", "inf"], ["0.1"]])
def test_unusable_pixel_spacing_is_dropped_with_a_warning(film, tmp_path, caplog, spacing):
    path = small_copy(film, tmp_path / "spacing.dcm", PixelSpacing=spacing)
    with caplog.at_level(logging.WARNING, logger="mammo_monai.io.metadata"):
        arr, meta = read_dicom_mammogram(path)
    assert meta["pixel_spacing"] is None and "PixelSpacing" in caplog.text and "spacing.dcm" in caplog.text
    np.testing.assert_array_equal(arr, film[1])


def test_memory_guard_refuses_a_huge_header_before_any_allocation(film, tmp_path, monkeypatch):
    path = small_copy(film, tmp_path / "huge.dcm", Rows=65535, Columns=65535)

    def no_decode(*args, **kwargs):
        raise AssertionError("decoded although the header is over the limit")

    monkeypatch.setattr(dicom_module, "decode_pixel_data", no_decode)
    with pytest.raises(ImageTooLargeError, match="65535 x 65535") as info:
        read_dicom_mammogram(path)
    assert info.value.limit == DEFAULT_MAX_IMAGE_BYTES and info.value.nbytes == 65535 * 65535 * 2
    # configurable: by argument and by environment variable (0 = no limit)
    small = small_copy(film, tmp_path / "small.dcm")
    with pytest.raises(ImageTooLargeError, match="memory limit of 1,000 bytes"):
        read_dicom_mammogram(small, max_image_bytes=1000)
    monkeypatch.setenv(MAX_IMAGE_BYTES_ENV, "1e3")
    assert max_image_bytes() == 1000
    with pytest.raises(ImageTooLargeError):
        read_dicom_mammogram(small)
    monkeypatch.setenv(MAX_IMAGE_BYTES_ENV, "0")
    assert max_image_bytes() is None
    monkeypatch.setenv(MAX_IMAGE_BYTES_ENV, "lots")
    with pytest.raises(MammoInputError, match=MAX_IMAGE_BYTES_ENV):
        max_image_bytes()


class PanicException(BaseException):
    """What pyo3 raises on a Rust panic: a ``BaseException``, not an ``Exception``."""


def test_a_decoder_panic_becomes_the_projects_error(film, tmp_path, monkeypatch):
    path = small_copy(film, tmp_path / "panic.dcm")

    def panic(*args, **kwargs):
        raise PanicException("index out of bounds")

    monkeypatch.setattr(decoders_module, "_decode_rle_direct", panic)
    monkeypatch.setattr(decoders_module, "_pydicom_pixel_array", panic)
    with pytest.raises(PixelDataDecodeError, match="panic.dcm") as info:
        read_dicom_mammogram(path)
    message = str(info.value)
    assert "RLE Lossless" in message and "PanicException" in message and "pylibjpeg" in message


def test_anything_unexpected_becomes_the_projects_error(film, tmp_path, monkeypatch):
    path = small_copy(film, tmp_path / "odd.dcm")

    def broken(ds):
        raise KeyError("(0020,0060)")

    monkeypatch.setattr(dicom_module, "dicom_metadata", broken)
    for read in (read_dicom_mammogram, read_dicom_header):
        with pytest.raises(MammogramReadError, match="odd.dcm: unreadable DICOM: KeyError"):
            read(path)


def test_a_missing_file_is_both_kinds_of_error(tmp_path):
    with pytest.raises(InputNotFoundError, match="nothing.dcm: file not found"):
        read_dicom_mammogram(tmp_path / "nothing.dcm")
    with pytest.raises(FileNotFoundError):
        read_dicom_header(tmp_path / "nothing.dcm")


def test_dicomsdl_never_gets_a_stream_bigger_than_its_buffer(shared_dicom, monkeypatch):
    """dicomsdl decodes into a buffer sized from the header; a JPEG 2000 stream of 16-bit samples under a header
    saying BitsAllocated 8 would overrun it and abort the process (found by scripts/fuzz.py)."""
    from mammo_monai.io import dicomsdl_decoder
    from mammo_monai.io.decoders import _first_frame

    ds = pydicom.dcmread(shared_dicom / "nema-wg04" / "MG1_J2KI.dcm")
    frame = _first_frame(ds)
    assert dicomsdl_decoder.stream_geometry(frame) == (4664, 3064, 1, 12)

    class Untouchable:
        def open(self, path):
            raise AssertionError("dicomsdl was given the file")

    monkeypatch.setattr(dicomsdl_decoder, "_load", lambda: Untouchable())
    for rows, bits, frame_given in ((4664, 8, frame), (100, 16, frame), (4664, 16, None), (4664, 16, b"junk")):
        with pytest.raises(PixelDataDecodeError, match="not given to dicomsdl|no readable codestream"):
            dicomsdl_decoder.decode_with_dicomsdl("x.dcm", ds.file_meta.TransferSyntaxUID, rows=rows, columns=3064,
                                                  bits_allocated=bits, pixel_representation=0, frame=frame_given)


FLIPS = ("1577.4,1954.7,3336.5,3675.3,4860.0,3643.4,2696.1,2798.6,1598.6,5129.1,2263.3,2511.2,2863.6,2517.6,4749.6,"
         "2876.5,2578.4,2767.5,2238.0,5107.1,3176.7,2475.3,2957.1,2177.5,2280.5,4886.3,3226.3,2553.7,5092.0,3322.0,"
         "2966.0,4646.5,4338.1,2659.0,4643.0,2761.7,4662.7,2423.0,3101.6,4917.6,1976.1,3302.1,4937.3,2165.6,5201.3,"
         "1645.4,1876.2,2725.4,4547.2,5379.0,1885.6,2568.1,2427.6,4863.7,1655.0,4614.6,2646.3,5127.1,3909.1,3910.4,"
         "1978.7,3342.5,2419.6,2917.0")


def test_a_corrupt_jpeg2000_stream_is_an_error_not_a_segfault(shared_dicom, tmp_path):
    """Found by scripts/fuzz.py (seed 0): 64 bit flips in the codestream of a JPEG 2000 crop of the shared DDSM film
    made dicomsdl's OpenJPEG segfault; JPEG 2000 now goes to pylibjpeg-openjpeg, which raises. Read in a
    subprocess, so that a regression fails this test instead of killing the test run."""
    import importlib.util
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location("fuzz", root / "scripts" / "fuzz.py")
    fuzz = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fuzz)
    crop = tmp_path / "crop.dcm"
    fuzz._crop_copy(shared_dicom / "nema-wg04" / "MG1_J2KI.dcm", crop)
    data = bytearray(crop.read_bytes())
    if len(data) <= 5379 or pydicom.dcmread(crop).file_meta.TransferSyntaxUID != pydicom.uid.JPEG2000Lossless:
        pytest.skip("no JPEG 2000 encoder here: the crop is not the one the campaign found")
    for spot in FLIPS.split(","):
        offset, bit = map(int, spot.split("."))
        data[offset] ^= 1 << bit
    mutant = tmp_path / "mutant.dcm"
    mutant.write_bytes(bytes(data))
    code = ("import sys\nfrom mammo_monai.io import MammoInputError, read_dicom_mammogram\ntry:\n"
            "    read_dicom_mammogram(sys.argv[1])\n    print('read')\nexcept MammoInputError as e:\n"
            "    print('error', e)\n")
    done = subprocess.run([sys.executable, "-c", code, str(mutant)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(root)})
    assert done.returncode == 0, f"the reader died ({done.returncode}): {done.stderr[-2000:]}"
    assert done.stdout.startswith(("error", "read"))
