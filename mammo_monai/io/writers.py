"""Atomic writers for the project's outputs: any file (:func:`atomic_write_file`: checkpoints, DICOM SEG/SR), plain
text, JSON (NaN-safe) and CSV rows.

Every layer that writes a report or a table uses these (the classifiers' probabilities CSV in
:mod:`mammo_monai.inference`, the evaluators' reports, the cross-validation runners), so they live at the bottom
of the import layers. A file is written to a temporary name beside it and renamed, so a crash never leaves half a
file. JSON has no NaN/inf, so they are written as ``null``; CSV cells hold ``""`` for NaN/None.
(:mod:`mammo_monai.evaluation.report` re-exports them under their old names.)

Example:
    >>> import tempfile, os
    >>> scratch = tempfile.TemporaryDirectory(); d = scratch.name
    >>> _ = write_json({"dice": float("nan"), "n": np.int64(3)}, os.path.join(d, "s.json"))
    >>> open(os.path.join(d, "s.json")).read().split()
    ['{', '"dice":', 'null,', '"n":', '3', '}']
    >>> _ = write_csv([{"a": 0.5, "b": None}], os.path.join(d, "t.csv"), ["a", "b"])
    >>> open(os.path.join(d, "t.csv")).read().split()
    ['a,b', '0.5,']
    >>> scratch.cleanup()
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from .errors import MammoInputError

__all__ = [
    "OutputInsideInputError",
    "atomic_write_file",
    "atomic_write_text",
    "ensure_outside_inputs",
    "jsonable",
    "write_csv",
    "write_json",
]


def jsonable(obj: Any) -> Any:
    """``obj`` with numpy scalars/arrays, paths and tuples made JSON types, and NaN/inf as ``None``."""
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [jsonable(v) for v in obj.tolist()]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, os.PathLike):
        return str(obj)
    return obj


class OutputInsideInputError(MammoInputError):
    """An output path equals, or sits inside, one of the command's input folders (or is one of its input files)."""


def ensure_outside_inputs(
    out: str | os.PathLike, *inputs: str | os.PathLike | None, what: str = "output"
) -> Path:
    """Refuse to write ``out`` where it would touch what the user gave: check before anything is written.

    ``out`` (a file or a folder, existing or not) may not equal any of ``inputs`` nor sit inside one that is a
    folder (an input that does not exist yet is taken as a folder). Paths are compared after resolving symbolic
    links and ``..``, so ``data/../data/x.json`` and a link to ``data`` are caught too. ``None`` inputs are skipped.

    Args:
        out: the output path (a datalist, a report folder, a masks folder, ...).
        inputs: the command's input folders and files.
        what: how the error names ``out`` (``"output"``, ``"masks folder"``, ...).

    Returns:
        ``out`` as a :class:`~pathlib.Path` (unchanged).

    Raises:
        OutputInsideInputError: (a ``ValueError``) naming both paths.

    Example:
        >>> ensure_outside_inputs("/data/out/cbis.json", "/data/cbis", "/data/csv").name
        'cbis.json'
        >>> try:
        ...     ensure_outside_inputs("/data/mias/index.json", "/data/mias")
        ... except OutputInsideInputError as e:
        ...     print(str(e)[:64])
        /data/mias/index.json: the output is inside the input folder /da
    """
    out_path = Path(out)
    real_out = Path(os.path.realpath(os.path.abspath(out_path)))
    for given in inputs:
        if given is None:
            continue
        real_in = Path(os.path.realpath(os.path.abspath(given)))
        if real_out == real_in:
            kind = "folder" if real_in.is_dir() else "file"
            raise OutputInsideInputError(
                f"{out_path}: the {what} is the input {kind} {given}; nothing is ever written over an input "
                "(choose another output path)"
            )
        if not real_in.is_file() and real_in in real_out.parents:
            raise OutputInsideInputError(
                f"{out_path}: the {what} is inside the input folder {given}; nothing is ever written into an input "
                "(choose another output path)"
            )
    return out_path


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: the process's umask at import (reading it means setting it, so it is read once)
_UMASK = _umask()


def _link_new(tmp: str, path: Path) -> None:
    """Put ``tmp`` at ``path`` unless ``path`` exists (``FileExistsError``): a hard link, which fails atomically when
    the name is taken; where the file system has no hard links, a check then a rename."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError:
        if os.path.lexists(path):
            raise FileExistsError(f"{path}: exists (not replaced)") from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)


def atomic_write_file(
    path: str | os.PathLike, write: Callable[[IO[bytes]], Any], overwrite: bool = True, fsync: bool = True
) -> Path:
    """Write a file atomically: ``write(f)`` fills a temporary file in ``path``'s folder (``.<name>.<random>``),
    which then replaces ``path`` in one ``os.replace``, so a run killed while writing leaves the previous ``path``
    (or none) and never half a file. Whatever ``write`` raises removes the temporary file and is re-raised.

    The file gets the permissions an ordinary ``open(path, "w")`` would give (``0o666`` less the umask, not the
    owner-only mode of a temporary file); parents are created.

    Args:
        path: the file to write.
        write: fills the open binary file, e.g. ``lambda f: torch.save(state, f)`` or ``dataset.save_as``.
        overwrite: replace an existing ``path``; when False an existing ``path`` raises ``FileExistsError`` (checked
            atomically where the file system has hard links: the file is linked into place, which fails when the
            name is taken).
        fsync: flush the data to the disk before the rename (survives a power cut, not just a killed process).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Example:
        >>> import tempfile, os
        >>> scratch = tempfile.TemporaryDirectory()
        >>> path = atomic_write_file(os.path.join(scratch.name, "a.bin"), lambda f: f.write(b"abc"))
        >>> path.read_bytes(), sorted(os.listdir(scratch.name))
        (b'abc', ['a.bin'])
        >>> scratch.cleanup()
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)
        if overwrite:
            os.replace(tmp, path)
        else:
            _link_new(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8, newlines as given) to ``path`` atomically (:func:`atomic_write_file`); parents are
    created."""
    return atomic_write_file(path, lambda f: f.write(text.encode()), fsync=False)


def write_json(obj: Any, path: str | os.PathLike) -> Path:
    """Write ``obj`` as indented JSON (via :func:`jsonable`: NaN/inf -> ``null``), atomically."""
    return atomic_write_text(path, json.dumps(jsonable(obj), indent=1, allow_nan=False) + "\n")


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return "" if not math.isfinite(value) else repr(round(value, 6))
    return value


def write_csv(rows: Iterable[Mapping[str, Any]], path: str | os.PathLike, fieldnames: Sequence[str]) -> Path:
    """Write ``rows`` (dicts; keys beyond ``fieldnames`` ignored) as CSV with a header, atomically.
    Floats are rounded to 6 decimals; NaN, inf and ``None`` become empty cells."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(fieldnames), extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(row.get(k)) for k in fieldnames})
    return atomic_write_text(path, buffer.getvalue())
