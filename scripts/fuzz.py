#!/usr/bin/env python
"""Seeded fuzz campaign over the shared films and index files (issue 21): every input, every crash, nothing lost.

The campaign mutates copies of the shared data (never the originals) with a fixed seed:

- **DICOM** (the four CBIS-DDSM RLE films and the NEMA/DDSM JPEG 2000 film, full size and as 64 x 64 crops that keep
  the real header): truncation, bit flips in the header and in the pixel data, edited elements (a wrong VR, a wrong
  length, NaN/infinite/zero RescaleSlope, BitsStored above BitsAllocated, Rows/Columns disagreeing with the pixel
  data, absurd dimensions, a wrong transfer syntax, unusable PixelSpacing/window values) and combinations;
- **MIAS Info.txt** (a 4-image copy of the shared folder): truncated, garbled, duplicated and overflowing lines,
  non-UTF-8 bytes, NUL bytes, a BOM, CRLF, bit flips, whole-file truncation;
- **CBIS-DDSM CSV** (the mass test table with the shared films' rows): the same kinds of damage to rows and bytes.

Each mutant goes through an entry point **in a worker subprocess with a time limit**: ``read`` (``read_mammogram``)
for DICOM, ``mammo-monai index dicom`` for the crops (a folder of the mutant and an intact file), ``index mias`` and
``index cbis_ddsm`` for the index files (the intact records beside the damaged ones). Each outcome is classified:

=================  ===========================================================================================
clean              read or indexed; for a read, the array agrees with the header (shape Rows x Columns, finite,
                   within the stored range after the rescale)
clear error        the project's error (``MammoInputError``), naming the file; or an index run that reported the
                   bad input and went on
raw exception      any other exception, or an error that does not name the file
panic              a ``BaseException`` that is not an ``Exception`` (a Rust panic from a decoder binding)
crash              the worker process died (a signal, an abort)
hang               no answer within the time limit
silently wrong     a read returned an array that contradicts the header (wrong shape, NaN/infinite values,
                   values outside the stored range)
aborted run        an index run indexed nothing although intact records were beside the bad one
input touched      an entry point wrote into, moved or deleted something in its input folder
=================  ===========================================================================================

The bad columns are everything but *clean* and *clear error*; the campaign exits with status 1 when any is not zero.

Usage::

    # the full campaign (documented in the README, "Failure behaviour"; ~25 min on 2 cores)
    nice -n 19 python scripts/fuzz.py --seed 0 --mutants 1500
    # the CI slice (tests/fuzz/test_fuzz_slice.py): small crops and index files only, under a minute
    python scripts/fuzz.py --seed 0 --mutants 60 --slice

``--json FILE`` writes every outcome (mutation, entry point, class, detail); ``--show N`` prints N details per bad
class. The shared data is taken from ``$MAMMO_SHARED_DATA`` (default ``/work/shared/data``).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import random
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

SHARED = Path(os.environ.get("MAMMO_SHARED_DATA", "/work/shared/data"))
FILMS = [
    "dicom/cbis-ddsm/Mass-Test_P_00173_LEFT_CC.dcm",
    "dicom/cbis-ddsm/Mass-Test_P_00173_LEFT_MLO.dcm",
    "dicom/cbis-ddsm/Mass-Test_P_00173_RIGHT_CC.dcm",
    "dicom/cbis-ddsm/Mass-Test_P_00173_RIGHT_MLO.dcm",
    "dicom/nema-wg04/MG1_J2KI.dcm",
]
CBIS_CSV = "mass_case_description_test_set.csv"
CLASSES = ["clean", "clear error", "raw exception", "panic", "crash", "hang", "silently wrong", "aborted run",
           "input touched"]
BAD = CLASSES[2:]

# --------------------------------------------------------------------------------------------------- the sources


def _crop_copy(src: Path, dst: Path) -> None:
    """A 64 x 64 crop of the breast of ``src`` with its real header, in the film's own transfer syntax when an
    encoder writes it (RLE, JPEG 2000 lossless for the J2K film), else uncompressed."""
    import numpy as np
    import pydicom
    from pydicom.uid import ExplicitVRLittleEndian, JPEG2000Lossless

    from mammo_monai.io import read_dicom_mammogram
    from mammo_monai.io.compat import compress_dataset, encoder_available, save_dataset

    arr, _ = read_dicom_mammogram(src, invert_monochrome1=False)
    r, c = arr.shape[0] // 2, arr.shape[1] // 3 if "LEFT" in src.name or "J2K" in src.name else 2 * arr.shape[1] // 3
    crop = np.ascontiguousarray(arr[r : r + 64, c : c + 64])
    ds = pydicom.dcmread(src, stop_before_pixels=True)
    ts = ds.file_meta.TransferSyntaxUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.Rows, ds.Columns = crop.shape
    for keyword in ("RescaleSlope", "RescaleIntercept"):  # the crop holds stored values
        if keyword in ds:
            del ds[keyword]
    ds.PixelData = crop.tobytes()
    ds["PixelData"].VR = "OW"
    target = JPEG2000Lossless if ts.name.startswith("JPEG 2000") else ts
    if target != ExplicitVRLittleEndian and encoder_available(target):
        try:
            compress_dataset(ds, target, crop)
        except Exception:  # no encoder for this bit depth: keep it uncompressed
            ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds.PixelData = crop.tobytes()
    save_dataset(ds, dst)


def prepare_sources(work: Path, full: bool) -> dict[str, list[Path]]:
    """Copies of the shared inputs under ``work/sources``: DICOM crops (and the full films), a MIAS folder, a CBIS
    CSV folder with the shared films as its images."""
    src = work / "sources"
    (src / "crops").mkdir(parents=True)
    sources: dict[str, list[Path]] = {"dicom": [], "crop": []}
    for name in FILMS:
        film = SHARED / name
        if not film.is_file():
            continue
        crop = src / "crops" / film.name
        _crop_copy(film, crop)
        sources["crop"].append(crop)
        if full:
            sources["dicom"].append(film)  # read-only: mutants are written elsewhere
    mias = src / "mias"
    mias.mkdir()
    names = [f"mdb{n:03d}" for n in (1, 2, 3, 4)]
    for name in names:
        shutil.copy(SHARED / "mias" / f"{name}.png", mias)
    lines = [ln for ln in (SHARED / "mias" / "Info.txt").read_text().splitlines() if ln[:6] in names]
    (mias / "Info.txt").write_text("\n".join(lines) + "\n")
    sources["mias"] = [mias / "Info.txt"]
    csv_rows = (SHARED / "cbis-ddsm" / CBIS_CSV).read_bytes().split(b"\r\n")
    keep = [csv_rows[0]] + [row for row in csv_rows[1:] if b"P_00173" in row]
    keep += [row for row in csv_rows[1:40] if b"P_00173" not in row]
    (src / "cbis_csv").mkdir()
    (src / "cbis_csv" / CBIS_CSV).write_bytes(b"\r\n".join(keep) + b"\r\n")
    sources["cbis"] = [src / "cbis_csv" / CBIS_CSV]
    return sources


# ------------------------------------------------------------------------------------------------- the mutations


def _pixel_offset(data: bytes) -> int:
    """Where the Pixel Data element starts (its tag), or 3/4 of the file when it is not found."""
    at = data.rfind(b"\xe0\x7f\x10\x00")
    return at if at > 0 else len(data) * 3 // 4


def _flip(data: bytearray, lo: int, hi: int, rng: random.Random, n: int) -> str:
    spots = []
    for _ in range(n):
        i = rng.randrange(lo, max(lo + 1, hi))
        bit = rng.randrange(8)
        data[i] ^= 1 << bit
        spots.append(f"{i}.{bit}")
    return ",".join(spots)


ELEMENT_EDITS: list[tuple[str, Any]] = [
    ("RescaleSlope", "NaN"), ("RescaleSlope", "inf"), ("RescaleSlope", "-inf"), ("RescaleSlope", "0"),
    ("RescaleSlope", "1e308"), ("RescaleSlope", "abc"), ("RescaleSlope", "1\\2"), ("RescaleIntercept", "nan"),
    ("RescaleIntercept", "1e309"), ("BitsStored", 17), ("BitsStored", 0), ("BitsStored", 255), ("BitsStored", 12),
    ("BitsAllocated", 0), ("BitsAllocated", 12), ("BitsAllocated", 8), ("BitsAllocated", 32), ("BitsAllocated", 64),
    ("HighBit", 40), ("PixelRepresentation", 1), ("PixelRepresentation", 7), ("SamplesPerPixel", 3),
    ("SamplesPerPixel", 0), ("NumberOfFrames", "2"), ("NumberOfFrames", "x"), ("NumberOfFrames", "0"),
    ("Rows", 0), ("Rows", 1), ("Rows", "+1"), ("Rows", "/2"), ("Rows", "*2"), ("Rows", 65535), ("Columns", 0),
    ("Columns", "+1"), ("Columns", "/2"), ("Columns", 65535), ("Rows,Columns", 65535), ("Rows,Columns", 1),
    ("PhotometricInterpretation", "MONOCHROME1"), ("PhotometricInterpretation", "RGB"),
    ("PhotometricInterpretation", "\x00\x01"), ("PixelSpacing", "nan\\0.1"), ("PixelSpacing", "0\\0"),
    ("PixelSpacing", "-1\\1"), ("PixelSpacing", "a\\b"), ("PixelSpacing", "0.1"), ("SpatialResolution", "inf"),
    ("WindowCenter", "nan"), ("WindowWidth", "0"), ("WindowWidth", "-5"),
    ("TransferSyntaxUID", "1.2.840.10008.1.2.5"), ("TransferSyntaxUID", "1.2.840.10008.1.2.4.90"),
    ("TransferSyntaxUID", "1.2.840.10008.1.2.1"), ("TransferSyntaxUID", "1.2.840.10008.1.2"),
    ("TransferSyntaxUID", "1.2.840.10008.1.2.4.50"), ("TransferSyntaxUID", "1.2.3.4"),
    ("TransferSyntaxUID", "1.2.840.10008.1.2.2"), ("Laterality", "X" * 300), ("PatientID", "\xff\xfe"),
    ("ModalityLUTSequence", "empty"), ("VOILUTSequence", "empty"), ("PixelData", "delete"), ("PixelData", "empty"),
    ("ReferencedImageSequence", "item length"), ("ReferencedImageSequence", "item tag"),
    ("VOILUTSequence", "item length"), ("ModalityLUTSequence", "item tag"),
]
_INT_KEYWORDS = {"BitsStored", "BitsAllocated", "HighBit", "PixelRepresentation", "SamplesPerPixel", "Rows",
                 "Columns"}


def _edit_element(data: bytes, keyword: str, value: Any) -> bytes:
    """``data`` with one element set to ``value`` as raw bytes. pydicom writes the element with a placeholder of the
    same length, whose value bytes are then overwritten: values pydicom would refuse reach the file as they are."""
    import pydicom
    from pydicom.datadict import dictionary_VR, tag_for_keyword
    from pydicom.dataelem import DataElement
    from pydicom.sequence import Sequence

    ds = pydicom.dcmread(io.BytesIO(data), force=True)
    out = io.BytesIO()
    if keyword == "TransferSyntaxUID":  # the data set keeps its original encoding; only the declared syntax changes
        little, implicit = ds.original_encoding if hasattr(ds, "original_encoding") else (True, False)
        ds.file_meta.TransferSyntaxUID = value
        pydicom.dcmwrite(out, ds, implicit_vr=not little if implicit is None else implicit, little_endian=True,
                         force_encoding=True)
        return out.getvalue()
    replacements = []
    for key in keyword.split(","):
        tag = tag_for_keyword(key)
        vr = dictionary_VR(tag).split(" or ")[0]
        if key == "RescaleSlope" and "RescaleIntercept" not in ds:  # a slope alone is ignored: give it a partner
            ds.RescaleIntercept = "0"
        if value == "delete":
            if key in ds:
                del ds[key]
            continue
        if value in ("item length", "item tag"):  # one item, then its item header broken below
            ds[tag] = DataElement(tag, "SQ", Sequence([pydicom.Dataset()]))
            ds[tag].value[0].PatientID = "ITEM"
            replacements.append((struct.pack("<HH", tag >> 16, tag & 0xFFFF) + b"SQ", value))
            continue
        if value == "empty":
            ds[tag] = DataElement(tag, vr, Sequence() if vr == "SQ" else b"" if vr.startswith("O") else "")
            continue
        if key in _INT_KEYWORDS:
            current = int(ds.get(key, 64) or 64)
            number = {"+1": current + 1, "/2": max(1, current // 2), "*2": current * 2}.get(value, value)
            raw, placeholder = struct.pack("<H", int(number) & 0xFFFF), 1
        else:
            raw = str(value).encode("latin-1")
            raw += b" " if len(raw) % 2 else b""
            placeholder = "1" * len(raw)
        ds[tag] = DataElement(tag, vr, placeholder)
        prefix = struct.pack("<HH", tag >> 16, tag & 0xFFFF) + vr.encode()
        replacements.append((prefix, raw))
    mode = pydicom.config.settings.writing_validation_mode
    pydicom.config.settings.writing_validation_mode = pydicom.config.IGNORE
    try:
        ds.save_as(out)
    finally:
        pydicom.config.settings.writing_validation_mode = mode
    buf = bytearray(out.getvalue())
    for prefix, raw in replacements:
        at = buf.find(prefix, 132)
        if at < 0:
            raise ValueError(f"{prefix!r} not written")
        if raw in ("item length", "item tag"):
            item = buf.find(b"\xfe\xff\x00\xe0", at)
            if raw == "item length":
                buf[item + 4 : item + 8] = struct.pack("<I", 0xFFFFFFF0)
            else:
                buf[item : item + 4] = b"\x10\x00\x20\x00"
            continue
        start = at + len(prefix) + 2  # a short explicit-VR element: 2 length bytes, then the value
        buf[start : start + len(raw)] = raw
    return bytes(buf)


def _wrong_vr_or_length(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """Overwrite the VR or the length field of a random explicit-VR element of group 0028 (image pixel module)."""
    spots = [i for i in range(132, min(len(data), _pixel_offset(data)) - 8)
             if data[i : i + 2] == b"\x28\x00" and data[i + 4 : i + 6].isalpha() and data[i + 4 : i + 6].isupper()]
    if not spots:
        return bytes(data), "no group 0028 element"
    i = rng.choice(spots)
    out = bytearray(data)
    tag = struct.unpack("<HH", data[i : i + 4])
    if rng.random() < 0.5:
        vr = rng.choice([b"OB", b"UN", b"SQ", b"DS", b"US", b"UI", b"FD", b"ZZ", b"\x00\x00"])
        out[i + 4 : i + 6] = vr
        return bytes(out), f"VR of ({tag[0]:04X},{tag[1]:04X}) -> {vr!r}"
    length = rng.choice([0, 1, 3, 0xFFFF, struct.unpack("<H", data[i + 6 : i + 8])[0] + rng.choice([-2, 2, 4])])
    out[i + 6 : i + 8] = struct.pack("<H", length & 0xFFFF)
    return bytes(out), f"length of ({tag[0]:04X},{tag[1]:04X}) -> {length & 0xFFFF}"


def mutate_dicom(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """One seeded mutation (or a combination of two or three) of a DICOM file's bytes, and what was done."""
    kinds = ["truncate", "flip_header", "flip_pixels", "element", "element", "element", "vr_or_length", "combo"]
    kind = rng.choice(kinds)
    steps = [rng.choice(kinds[:-1]) for _ in range(rng.choice([2, 3]))] if kind == "combo" else [kind]
    notes = []
    for step in steps:
        pixel = _pixel_offset(data)
        if step == "truncate":
            cut = rng.choice([rng.randrange(0, pixel + 1), rng.randrange(pixel, len(data) + 1), len(data) - 1])
            data, note = data[:cut], f"truncate@{cut}"
        elif step == "flip_header":
            buf = bytearray(data)
            note = "flip_header " + _flip(buf, 128, pixel, rng, rng.choice([1, 1, 2, 8]))
            data = bytes(buf)
        elif step == "flip_pixels":
            buf = bytearray(data)
            note = "flip_pixels " + _flip(buf, pixel, len(buf), rng, rng.choice([1, 4, 64]))
            data = bytes(buf)
        elif step == "element":
            keyword, value = rng.choice(ELEMENT_EDITS)
            try:
                data = _edit_element(data, keyword, value)
                note = f"{keyword}={value!r}"
            except Exception as e:  # a previous step broke the file so that it cannot be re-written: keep it
                note = f"{keyword}={value!r} not applied ({type(e).__name__})"
        else:
            data, note = _wrong_vr_or_length(data, rng)
        notes.append(note)
    return data, " + ".join(notes)


_GARBAGE_LINES = [
    "mdb003 G", "mdb003 G CIRC B abc 1 2", "mdb003 G CIRC B 1 1 " + "9" * 400, "mdb004 G CIRC B 10 10 -5",
    "mdb004 G CIRC B nan inf 3", "mdb003 G FOO B 1 2 3", "mdb000 G CIRC B 1 2 3", "mdb004 X NORM", "mdb004",
    "../../etc/passwd G NORM", "/abs/mdb003 G NORM", "mdb003 G CIRC B 1e999 -1e999 1e999", "\x00\x00\x00",
    "mdb003 G CIRC B 1 2 3 4 5 6 7 8", "mdb003\tG\tCIRC\tB\t1\t2\t3", "mdb003 G CIRC M 99999999 99999999 0",
    "mdb004 G NORM" * 50, "mdb003 G CALC B 10 10 10", "mdb003 G ARCH B -0 -0 -0", "mdb004 F CIRC B 1 2 3",
]


def mutate_text(data: bytes, rng: random.Random, protected: int, newline: bytes) -> tuple[bytes, str]:
    """A seeded mutation of a text index (Info.txt, a CSV) that leaves its first ``protected`` lines intact (the
    records that must still be indexed) and damages the rest, or the bytes around them."""
    lines = data.split(newline)
    head, tail = lines[:protected], lines[protected:]
    kind = rng.choice(["garbage", "flip", "truncate_line", "shuffle", "binary", "encoding", "dup", "overflow",
                       "empty_tail", "combo"])
    steps = [rng.choice(["garbage", "flip", "truncate_line", "binary", "encoding", "dup", "overflow"])
             for _ in range(2)] if kind == "combo" else [kind]
    notes = []
    for step in steps:
        if not tail:
            tail = [b""]
        i = rng.randrange(len(tail))
        if step == "garbage":
            tail.insert(i, rng.choice(_GARBAGE_LINES).encode("latin-1"))
        elif step == "flip":
            buf = bytearray(tail[i] or b"x")
            _flip(buf, 0, len(buf), rng, rng.choice([1, 3]))
            tail[i] = bytes(buf)
        elif step == "truncate_line":
            tail[i] = tail[i][: rng.randrange(len(tail[i]) + 1)]
        elif step == "shuffle":
            parts = tail[i].split(b" " if b"," not in tail[i] else b",")
            rng.shuffle(parts)
            tail[i] = (b" " if b"," not in tail[i] else b",").join(parts)
        elif step == "binary":
            tail.insert(i, bytes(rng.randrange(256) for _ in range(rng.choice([1, 16, 300]))))
        elif step == "encoding":
            tail[i] = tail[i] + rng.choice([b"\xe9", b"\xff\xfe", b"\x00", b'"', b"\xef\xbb\xbf", b"\r"])
        elif step == "dup":
            tail.insert(i, tail[i])
        elif step == "overflow":
            tail.insert(i, b"x" * rng.choice([10_000, 200_000]))
        elif step == "empty_tail":
            tail = [b""]
        notes.append(f"{step}@{i}")
    out = newline.join(head + tail)
    if rng.random() < 0.1:
        out = b"\xef\xbb\xbf" + out
        notes.append("bom")
    return out, " + ".join(notes)


# ------------------------------------------------------------------------------------------------- the worker


def _folder_state(folder: Path) -> str:
    """A digest of every name, size and content under ``folder`` (to tell whether an entry point touched it)."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        digest.update(str(path.relative_to(folder)).encode())
        if path.is_file():
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _check_array(path: Path, arr: Any, meta: dict) -> str | None:
    """Why a returned array contradicts the file's header, or ``None`` when it agrees."""
    import numpy as np
    import pydicom

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
        shape = (int(ds.Rows), int(ds.Columns))
    except Exception as e:
        return f"read succeeded but the header does not parse ({type(e).__name__}: {e})"
    if tuple(arr.shape) != shape:
        return f"shape {tuple(arr.shape)} but Rows x Columns {shape}"
    if arr.dtype.kind not in "uif":
        return f"dtype {arr.dtype}"
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        return "NaN or infinite values"
    lo, hi = meta.get("value_range") or (None, None)
    if lo is not None and arr.size and (float(arr.min()) < lo - 1e-3 or float(arr.max()) > hi + 1e-3):
        return f"values [{arr.min()}, {arr.max()}] outside the value range [{lo}, {hi}]"
    return None


def _classify_exception(e: BaseException, name: str) -> tuple[str, str]:
    try:
        from mammo_monai.io.errors import MammoInputError
    except ImportError:  # an older checkout (--code): its root error
        from mammo_monai.io.errors import MammogramReadError as MammoInputError

    detail = f"{type(e).__module__}.{type(e).__name__}: {str(e)[:300]}"
    if not isinstance(e, Exception):
        return "panic", detail
    if isinstance(e, MammoInputError):
        return ("clear error", detail) if name in str(e) else ("raw exception", "error without the file: " + detail)
    return "raw exception", detail


def _run_cli(argv: list[str]) -> tuple[int | None, str, BaseException | None]:
    from mammo_monai.cli import main

    err = io.StringIO()
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            rc = main(argv)
    except (KeyboardInterrupt, SystemExit) as e:
        return getattr(e, "code", None), err.getvalue(), None
    except BaseException as e:  # what escaped the command line is a finding
        return None, err.getvalue(), e
    return rc, err.getvalue(), None


def run_task(task: dict) -> tuple[str, str]:
    """Run one mutant through one entry point (in the worker) and classify the outcome."""
    path = Path(task["path"])
    if task["entry"] == "read":
        from mammo_monai.io import read_mammogram

        try:
            arr, meta = read_mammogram(path)
        except BaseException as e:
            return _classify_exception(e, path.name)
        wrong = _check_array(path, arr, meta)
        return ("silently wrong", wrong) if wrong else ("clean", "")
    folder = path.parent
    before = _folder_state(folder)
    out = Path(task["out"])
    if task["entry"] == "index_dicom":
        argv = ["index", "dicom", str(folder), "--out", str(out / "d.json"), "--progress=False"]
    elif task["entry"] == "index_mias":
        argv = ["index", "mias", str(folder), "--out", str(out / "m.json"), "--progress=False"]
    else:
        argv = ["index", "cbis_ddsm", task["root"], "--csv_dir", str(folder), "--out", str(out / "c.json"),
                "--progress=False"]
    rc, stderr, error = _run_cli(argv)
    if _folder_state(folder) != before:
        return "input touched", f"{folder} changed"
    if error is not None:
        return _classify_exception(error, "")
    if rc == 0:
        report = next(out.glob("*_problems.csv"), None)
        rows = report.read_text(errors="replace").splitlines()[1:] if report else []
        mine = [row for row in rows if path.name in row and "duplicate_instance" not in row]
        return ("clear error", f"reported, run went on: {mine[0][:300]}") if mine else ("clean", "")
    if rc == 1:
        return "aborted run", f"nothing indexed: {stderr.strip()[:300]}"
    if rc == 2 and ("/" in stderr or "\\" in stderr):
        return "clear error", stderr.strip()[:300]
    return "raw exception", f"exit status {rc}: {stderr.strip()[:300]}"


def worker() -> None:
    """Read tasks (JSON lines) from stdin, answer each with a JSON line on stdout."""
    import logging
    import warnings

    logging.disable(logging.CRITICAL)
    warnings.simplefilter("ignore")
    # the answers go to a private copy of stdout; fd 1 itself goes to stderr, so that nothing a library prints
    # (native code included) can garble the protocol
    real_stdout = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    for line in sys.stdin:
        task = json.loads(line)
        outcome, detail = run_task(task)
        real_stdout.write(json.dumps({"id": task["id"], "outcome": outcome, "detail": detail}) + "\n")
        real_stdout.flush()


class Worker:
    """The worker subprocess: one task at a time with a time limit; restarted after a crash or a hang."""

    def __init__(self, timeout: float, code: Path | None = None) -> None:
        self.timeout = timeout
        self.code = code or Path(__file__).resolve().parents[1]
        self.proc: subprocess.Popen | None = None

    def _start(self) -> subprocess.Popen:
        env = {**os.environ, "PYTHONPATH": str(self.code), "PYTHONFAULTHANDLER": ""}
        return subprocess.Popen([sys.executable, __file__, "--worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, env=env, text=True, bufsize=1)

    def run(self, task: dict) -> tuple[str, str]:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = self._start()
        proc = self.proc
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(json.dumps(task) + "\n")
            proc.stdin.flush()
        except BrokenPipeError:
            self.proc = None
            return "crash", f"worker died before the task (status {proc.wait()})"
        # the first task also pays for the imports
        deadline = time.monotonic() + self.timeout + (60 if task.get("first") else 0)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                proc.kill()
                proc.wait()
                self.proc = None
                return "hang", f"no answer in {self.timeout:.0f} s"
            ready, _, _ = select.select([proc.stdout], [], [], left)
            if ready:
                line = proc.stdout.readline()
                if not line:
                    status = proc.wait()
                    self.proc = None
                    return "crash", f"worker died (status {status})"
                answer = json.loads(line)
                return answer["outcome"], answer["detail"]

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


# ------------------------------------------------------------------------------------------------- the campaign


def build_tasks(sources: dict[str, list[Path]], work: Path, n: int, seed: int) -> list[dict]:
    """``n`` mutants spread over the sources (seeded), each with its entry point(s)."""
    rng = random.Random(seed)
    plan = [("crop", 0.45), ("dicom", 0.25), ("mias", 0.15), ("cbis", 0.15)]
    plan = [(kind, share) for kind, share in plan if sources.get(kind)]
    total = sum(share for _, share in plan)
    tasks: list[dict] = []
    for kind, share in plan:
        count = max(1, round(n * share / total))
        for k in range(count):
            source = sources[kind][k % len(sources[kind])]
            folder = work / "mutants" / f"{kind}{k:05d}"
            folder.mkdir(parents=True)
            out = work / "outputs" / f"{kind}{k:05d}"
            out.mkdir(parents=True)
            base = {"source": source.name, "out": str(out)}
            if kind in ("crop", "dicom"):
                data, note = mutate_dicom(source.read_bytes(), rng)
                mutant = folder / "mutant.dcm"
                mutant.write_bytes(data)
                tasks.append({**base, "entry": "read", "path": str(mutant), "mutation": note})
                if kind == "crop":
                    shutil.copy(source, folder / "good.dcm")
                    oddity = rng.choice([None, None, None, "empty file", "folder named .dcm", "dangling link",
                                         "link loop", "link outside", "not dicom", "nested"])
                    if oddity == "empty file":
                        (folder / "empty.dcm").write_bytes(b"")
                    elif oddity == "folder named .dcm":
                        (folder / "dir.dcm").mkdir()
                    elif oddity == "dangling link":
                        (folder / "gone.dcm").symlink_to(folder / "nowhere.dcm")
                    elif oddity == "link loop":
                        (folder / "loop").symlink_to(folder)
                    elif oddity == "link outside":
                        (folder / "outside.dcm").symlink_to(source)
                    elif oddity == "not dicom":
                        (folder / "notes.txt").write_text("not a mammogram")
                    elif oddity == "nested":
                        (folder / "a" / "b").mkdir(parents=True)
                        shutil.copy(folder / "mutant.dcm", folder / "a" / "b" / "deep.dcm")
                    note = note + (f" [tree: {oddity}]" if oddity else "")
                    tasks.append({**base, "entry": "index_dicom", "path": str(mutant), "mutation": note})
            elif kind == "mias":
                shutil.copytree(source.parent, folder, dirs_exist_ok=True)
                data, note = mutate_text(source.read_bytes(), rng, protected=2, newline=b"\n")
                (folder / "Info.txt").write_bytes(data)
                tasks.append({**base, "entry": "index_mias", "path": str(folder / "Info.txt"), "mutation": note})
            else:
                data, note = mutate_text(source.read_bytes(), rng, protected=3, newline=b"\r\n")
                (folder / CBIS_CSV).write_bytes(data)
                tasks.append({**base, "entry": "index_cbis", "path": str(folder / CBIS_CSV), "mutation": note,
                              "root": str(work / "sources" / "cbis_root")})
    return tasks


def _cbis_root(work: Path, sources: dict[str, list[Path]]) -> None:
    """The CBIS-DDSM image root the CSV mutants are indexed against: the crops of the four CBIS films."""
    root = work / "sources" / "cbis_root"
    root.mkdir()
    for crop in sources["crop"]:
        if crop.name.startswith("Mass-Test"):
            shutil.copy(crop, root / crop.name)


def format_table(results: list[dict]) -> str:
    """The outcome table: one row per entry point, one column per class, and a total."""
    counts: dict[str, Counter] = defaultdict(Counter)
    for r in results:
        counts[r["entry"]][r["outcome"]] += 1
    header = "| entry point | mutants | " + " | ".join(CLASSES) + " |"
    rule = "|" + "---|" * (len(CLASSES) + 2)
    rows = [header, rule]
    total: Counter = Counter()
    for entry in ("read", "index_dicom", "index_mias", "index_cbis"):
        if entry in counts:
            c = counts[entry]
            total.update(c)
            rows.append(f"| {entry} | {sum(c.values())} | " + " | ".join(str(c[k]) for k in CLASSES) + " |")
    rows.append(f"| **all** | {sum(total.values())} | " + " | ".join(str(total[k]) for k in CLASSES) + " |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mutants", type=int, default=1500, help="how many mutants in all (default 1500)")
    parser.add_argument("--slice", action="store_true", help="crops and index files only (the CI slice)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per mutant before it counts as a hang")
    parser.add_argument("--json", type=Path, help="write every outcome to this file")
    parser.add_argument("--show", type=int, default=5, help="details printed per bad class")
    parser.add_argument("--work", type=Path, help="keep the mutants here (default: a temporary folder, removed)")
    parser.add_argument("--code", type=Path, help="the mammo_monai checkout the entry points run from (default: this "
                                                 "one; another to measure an older version on the same mutants)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker()
        return 0
    if not (SHARED / "dicom").is_dir():
        print(f"fuzz: the shared data is not at {SHARED} (set MAMMO_SHARED_DATA)", file=sys.stderr)
        return 2
    started = time.monotonic()
    import logging
    import warnings

    logging.disable(logging.CRITICAL)
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory(prefix="mammo-fuzz-") as tmp:
        work = args.work or Path(tmp)
        if args.work:
            if work.exists():
                shutil.rmtree(work)
            work.mkdir(parents=True)
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        sources = prepare_sources(work, full=not args.slice)
        _cbis_root(work, sources)
        tasks = build_tasks(sources, work, args.mutants, args.seed)
        pool = Worker(args.timeout, args.code)
        results = []
        try:
            for i, task in enumerate(tasks):
                task["id"] = i
                task["first"] = pool.proc is None
                outcome, detail = pool.run(task)
                results.append({**{k: task[k] for k in ("entry", "source", "mutation")}, "outcome": outcome,
                                "detail": detail})
        finally:
            pool.close()
    table = format_table(results)
    print(f"fuzz: seed {args.seed}, {len(results)} runs of {args.mutants} mutants"
          f"{' (slice)' if args.slice else ''}, {time.monotonic() - started:.0f} s\n")
    print(table)
    for cls in BAD:
        found = [r for r in results if r["outcome"] == cls]
        for r in found[: args.show]:
            print(f"\n[{cls}] {r['entry']} {r['source']} {r['mutation']}\n    {r['detail']}")
    if args.json:
        args.json.write_text(json.dumps({"seed": args.seed, "mutants": args.mutants, "slice": args.slice,
                                         "table": table, "results": results}, indent=1))
    return 1 if any(r["outcome"] in BAD for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
