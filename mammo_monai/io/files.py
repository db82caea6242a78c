"""Finding DICOM files in a download and checking, without decoding, that their pixel data is whole.

Example:
    >>> files, skipped = find_dicom_files("/data/CBIS-DDSM")  # doctest: +SKIP
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any

from .dicom import is_dicom_file
from .reader import DICOM_SUFFIXES

__all__ = ["find_dicom_files", "pixel_data_looks_intact"]

_SEQUENCE_DELIMITER = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
_PIXEL_DATA_TAG = b"\xe0\x7f\x10\x00"


def _is_candidate_file(path: Path) -> bool:
    if path.name.startswith(".") or path.name == "DICOMDIR":
        return False  # hidden files, macOS "._1-1.dcm" resource forks
    suffix = path.suffix.lower()
    if suffix in DICOM_SUFFIXES:
        return True
    return not suffix and is_dicom_file(path)


def find_dicom_files(root: str | os.PathLike) -> tuple[list[Path], int]:
    """Every candidate DICOM under ``root``, sorted, following folder links once (no cycles), and how many
    other files were skipped.

    Candidates are files named ``*.dcm``/``*.dicom``/``*.dic`` and suffix-less files with the DICOM
    preamble; hidden files and folders (``.DS_Store``, macOS ``._1-1.dcm`` forks) and ``DICOMDIR`` are not.
    """
    found: list[Path] = []
    skipped = 0
    seen: set[tuple[int, int]] = set()
    for folder, dirs, files in os.walk(root, followlinks=True):
        try:
            st = os.stat(folder)
        except OSError:
            dirs[:] = []
            continue
        if (st.st_dev, st.st_ino) in seen:
            dirs[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = Path(folder) / name
            if _is_candidate_file(path):
                found.append(path)
            else:
                skipped += 1
    return found, skipped


def pixel_data_looks_intact(path: str, header: dict[str, Any]) -> bool:
    """A cheap check that the pixel data is not cut short, from the file's last bytes (no decoding).

    Encapsulated (compressed, RLE) pixel data ends with a sequence delimiter; native pixel data of
    ``Rows x Columns`` samples ends the file right after its element header. ``False`` only means
    "suspicious": the caller confirms by decoding.
    """
    rows, columns = header.get("rows"), header.get("columns")
    syntax = header.get("transfer_syntax_uid")
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            if syntax and syntax not in ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2",
                                         "1.2.840.10008.1.2.1.99"):
                f.seek(max(0, size - 256))
                return _SEQUENCE_DELIMITER in f.read()
            if not rows or not columns:
                return False
            bits = int(header.get("bits_stored") or 16)
            nbytes = rows * columns * (1 if bits <= 8 else 2 if bits <= 16 else 4)
            start = size - nbytes - (nbytes % 2)
            if start < 12:
                return False
            f.seek(start - 12)
            element = f.read(12)
    except OSError:
        return False
    length = struct.unpack("<I", element[8:12])[0]
    return _PIXEL_DATA_TAG in (element[0:4], element[4:8]) and length in (nbytes, nbytes + nbytes % 2)
