"""Building the flat, descriptively named CBIS-DDSM layout that some projects expect, from a TCIA tree.

A TCIA/NBIA download nests every DICOM three folders deep under UID or date names
(``Mass-Training_P_00038_LEFT_CC/<study>/<series>/1-1.dcm``). Some training code instead wants one
folder of self-describing names::

    out/Mass-Train_P_00038_LEFT_CC_FULL.dcm       the full mammogram
    out/Mass-Train_P_00038_LEFT_CC_CROP_1.dcm     abnormality 1: the cropped lesion
    out/Mass-Train_P_00038_LEFT_CC_MASK_1.dcm     abnormality 1: the ROI mask

The case (``Mass-Training_P_00038_LEFT_CC_1``) comes from the file's PatientID or its case folder; crop
and mask are told apart by content (:func:`~mammo_monai.data.cbis_ddsm.read_roi_mask`: an ROI mask has
its full image's size and two pixel values), never by file name. The user's files are never moved,
changed or deleted: targets are hard links (a copy where a link cannot be made) or copies, an existing
target is never overwritten (identical content counts as "already there", so a second run does nothing),
and the number and size of the source files are counted before and after.

Example:
    >>> res = restructure_cbis_ddsm("/data/CBIS-DDSM", "/data/cbis-flat", dry_run=True)  # doctest: +SKIP
    >>> res["new"], res["already_there"], res["problems"].counts()  # doctest: +SKIP
    (45, 0, {})
"""

from __future__ import annotations

import errno
import filecmp
import os
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any

from mammo_monai.io import MammogramReadError

from .cbis_ddsm import DicomRecord, parse_case_folder, read_roi_mask, scan_dicom_tree
from .problems import ProblemLog
from .schema import ensure_outside_inputs

__all__ = ["FLAT_PREFIXES", "flat_name", "restructure_cbis_ddsm"]

#: (abnormality, official split) -> the prefix of the flat names
FLAT_PREFIXES = {
    ("mass", "training"): "Mass-Train",
    ("mass", "test"): "Mass-Test",
    ("calc", "training"): "Calc-Train",
    ("calc", "test"): "Calc-Test",
}
_SIDES = {"L": "LEFT", "R": "RIGHT"}
# a hard link cannot be made here: copy instead
_LINK_ERRNOS = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EACCES}


def flat_name(case: str, kind: str) -> str:
    """The flat file name of a ``"full"``, ``"crop"`` or ``"mask"`` file of a CBIS case folder.

    Example:
        >>> flat_name("Mass-Training_P_00038_LEFT_CC", "full")
        'Mass-Train_P_00038_LEFT_CC_FULL.dcm'
        >>> flat_name("Calc-Test_P_00038_RIGHT_MLO_2", "mask")
        'Calc-Test_P_00038_RIGHT_MLO_MASK_2.dcm'

    Raises:
        ValueError: ``case`` is not a CBIS-DDSM case folder name, or ``kind`` does not fit it.
    """
    info = parse_case_folder(case)
    if info is None:
        raise ValueError(f"{case!r} is not a CBIS-DDSM case folder name (Mass-Training_P_00001_LEFT_CC[_1])")
    stem = f"{FLAT_PREFIXES[(info['abnormality'], info['split'])]}_{info['patient_id']}_" \
           f"{_SIDES[info['laterality']]}_{info['view']}"
    if kind == "full" and info["abnormality_id"] is None:
        return f"{stem}_FULL.dcm"
    if kind in ("crop", "mask") and info["abnormality_id"] is not None:
        return f"{stem}_{kind.upper()}_{info['abnormality_id']}.dcm"
    raise ValueError(f"{case!r}: a {kind!r} file does not fit this case folder")


def _count_files(root: Path) -> tuple[int, int]:
    """Number and total size of the regular files under ``root`` (links followed as the walk does)."""
    count = size = 0
    for folder, _, files in os.walk(root, followlinks=False):
        for name in files:
            try:
                size += os.stat(os.path.join(folder, name)).st_size
            except OSError:
                continue
            count += 1
    return count, size


def _same_content(a: str | Path, b: str | Path) -> bool:
    try:
        if os.path.samefile(a, b):
            return True
        return filecmp.cmp(a, b, shallow=False)
    except OSError:
        return False


def _copy_exclusive(src: str, target: Path) -> None:
    """Copy ``src`` to a NEW file ``target`` (exclusive creation: never replaces a file), with its times."""
    with open(src, "rb") as fin, open(target, "xb") as fout:
        try:
            shutil.copyfileobj(fin, fout, length=1 << 22)
        except BaseException:
            fout.close()
            target.unlink(missing_ok=True)
            raise
    shutil.copystat(src, target)


def _plan(records: list[DicomRecord], problems: ProblemLog, progress: bool) -> list[tuple[DicomRecord, str, str]]:
    """``(record, kind, flat name)`` for every usable file; crops and masks told apart by content."""
    from tqdm.auto import tqdm

    full_shape: dict[str, tuple[int, int] | None] = {}
    roi: list[DicomRecord] = []
    plan = []
    for record in records:
        if record.error:
            problems.add(record.path, "unreadable_dicom", record.error)
            continue
        info = parse_case_folder(record.case) if record.case else None
        if info is None:
            problems.add(record.path, "unrecognised_file",
                         f"neither its PatientID ({record.patient_id!r}) nor a folder above it is a CBIS-DDSM case "
                         f"folder name")
            continue
        if info["abnormality_id"] is None:
            full_shape.setdefault(record.case, record.shape)
            plan.append((record, "full", flat_name(record.case, "full")))
        else:
            roi.append(record)
    for record in tqdm(roi, desc="telling ROI masks from crops", unit="file", disable=not progress):
        parent = record.case.rsplit("_", 1)[0]
        image_shape = full_shape.get(parent)
        if image_shape is None:
            problems.add(record.path, "no_full_image",
                         f"the full image of {record.case} ({parent}) is not in the tree; crop or mask told by "
                         f"its pixel values only")
        try:
            mask = read_roi_mask(record.path, image_shape, shape=record.shape)
        except (MammogramReadError, FileNotFoundError) as e:
            problems.add(record.path, "unreadable_dicom", str(e))
            continue
        kind = "crop" if mask is None else "mask"
        plan.append((record, kind, flat_name(record.case, kind)))
    plan.sort(key=lambda p: (p[2], p[0].path))
    return plan


def _create(source: str, target: Path, out: Path, mode: str, counts: dict[str, int], problems: ProblemLog
            ) -> tuple[str, str | None]:
    """Hard-link (falling back to a copy where a link cannot be made) or copy ``source`` to the new ``target``,
    counting in ``counts``. Returns the status (``created``, ``already_there``/``name_clash`` when the target
    appeared meanwhile, ``write_failed``, reported) and why a hard link fell back to a copy (else ``None``)."""
    reason = None
    try:
        if mode == "hardlink":
            try:
                os.link(source, target)
                counts["hardlinked"] += 1
            except OSError as e:
                if isinstance(e, FileExistsError) or e.errno not in _LINK_ERRNOS:
                    raise
                reason = f"{e.strerror} ({source} -> {out})"
                _copy_exclusive(source, target)
                counts["copied"] += 1
                counts["fell_back_to_copy"] += 1
        else:
            _copy_exclusive(source, target)
            counts["copied"] += 1
        return "created", reason
    except FileExistsError:  # appeared meanwhile
        return ("already_there" if _same_content(source, target) else "name_clash"), reason
    except OSError as e:
        problems.add(target, "write_failed", f"from {source}: {e}")
        return "write_failed", reason


def restructure_cbis_ddsm(
    root: str | os.PathLike,
    out: str | os.PathLike,
    mode: str = "hardlink",
    dry_run: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Give every CBIS-DDSM DICOM under ``root`` a flat descriptive name in ``out`` (hard links or copies).

    Names: ``<Mass|Calc>-<Train|Test>_P_00038_<LEFT|RIGHT>_<CC|MLO>_FULL.dcm`` for a full mammogram,
    ``..._CROP_<N>.dcm`` / ``..._MASK_<N>.dcm`` for abnormality ``N`` (from the case folder
    ``..._LEFT_CC_<N>``); crop and mask are told apart by content, a crop is never decoded.

    Nothing under ``root`` is ever moved, changed or deleted, and no file in ``out`` is ever replaced: a
    target that exists with the same content (same inode or same bytes) is counted as already there (so
    running twice is harmless), one with other content is a ``name_clash`` problem and is left alone. Other
    problems (``unreadable_dicom``, ``unrecognised_file``, ``no_full_image``) are reported, never raised.

    Args:
        root: the TCIA tree (either layout, see :mod:`mammo_monai.data.cbis_ddsm`).
        out: the flat folder (created when needed); must not be inside ``root``.
        mode: ``"hardlink"`` (no extra disk space; falls back to a copy where a link cannot be made, e.g.
            across file systems, and says so in ``fell_back_to_copy``) or ``"copy"`` (``shutil.copy2``-like:
            content and times).
        dry_run: plan and count only; nothing is written (not even ``out``).
        progress: show tqdm progress bars.

    Returns:
        a summary dict: ``root``, ``out``, ``mode``, ``dry_run``; ``source_files_before``/``_after`` and
        ``source_bytes_before``/``_after`` (all files under ``root``; equal unless something else changed
        them meanwhile); ``dicom_files`` (scanned), ``full``/``crops``/``masks`` (planned targets by kind),
        ``new`` (targets that did not exist: created, or to be created by a dry run), ``created``,
        ``hardlinked``, ``copied``, ``already_there``, ``name_clashes``, ``fell_back_to_copy`` (how many
        hard links became copies) with ``fallback_reason``; ``problems`` (a
        :class:`~mammo_monai.data.problems.ProblemLog`) and ``files`` (``{"source", "target", "kind",
        "status"}`` per planned target, status ``created``/``would_create``/``already_there``/``name_clash``).

    Raises:
        ValueError: unknown ``mode``, or ``out`` inside ``root``.
        FileNotFoundError: ``root`` is not a folder.
        NotADirectoryError: ``out`` exists and is not a folder.

    Example:
        >>> res = restructure_cbis_ddsm("/data/CBIS-DDSM", "/data/cbis-flat")  # doctest: +SKIP
        >>> res["source_files_before"] == res["source_files_after"], res["name_clashes"]  # doctest: +SKIP
        (True, 0)
    """
    from tqdm.auto import tqdm

    if mode not in ("hardlink", "copy"):
        raise ValueError(f"mode must be 'hardlink' or 'copy', got {mode!r}")
    root = Path(os.path.abspath(root))
    out = Path(os.path.abspath(out))
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: image folder not found")
    ensure_outside_inputs(out, root)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"{out}: exists and is not a folder")

    files_before, bytes_before = _count_files(root)
    problems = ProblemLog()
    records = scan_dicom_tree(root, progress=progress)
    plan = _plan(records, problems, progress)

    counts = defaultdict(int)
    fallback_reason = None
    files = []
    planned: dict[str, str] = {}  # flat name -> the source it was given to in this run
    if not dry_run:
        out.mkdir(parents=True, exist_ok=True)
    for record, kind, name in tqdm(plan, desc="linking" if mode == "hardlink" else "copying", unit="file",
                                   disable=not progress):
        counts[kind] += 1
        target = out / name
        status = None
        if name in planned:  # two sources for one name in this run
            status = "already_there" if _same_content(record.path, planned[name]) else "name_clash"
        elif os.path.lexists(target):
            status = "already_there" if _same_content(record.path, target) else "name_clash"
        elif dry_run:
            status = "would_create"
        else:
            status, reason = _create(record.path, target, out, mode, counts, problems)
            fallback_reason = fallback_reason or reason
        if status == "name_clash":
            problems.add(target, "name_clash", f"exists with other content than {record.path}; left alone")
        counts[status] += 1
        planned.setdefault(name, record.path)
        files.append({"source": record.path, "target": str(target), "kind": kind, "status": status})

    files_after, bytes_after = _count_files(root)
    if (files_after, bytes_after) != (files_before, bytes_before):
        problems.add(root, "source_changed", f"{files_before} files / {bytes_before} bytes before, {files_after} / "
                                             f"{bytes_after} after (changed by something else meanwhile?)")
    return {
        "root": str(root),
        "out": str(out),
        "mode": mode,
        "dry_run": bool(dry_run),
        "source_files_before": files_before,
        "source_files_after": files_after,
        "source_bytes_before": bytes_before,
        "source_bytes_after": bytes_after,
        "dicom_files": len(records),
        "full": counts["full"],
        "crops": counts["crop"],
        "masks": counts["mask"],
        "new": counts["created"] + counts["would_create"],
        "created": counts["created"],
        "hardlinked": counts["hardlinked"],
        "copied": counts["copied"],
        "already_there": counts["already_there"],
        "name_clashes": counts["name_clash"],
        "fell_back_to_copy": counts["fell_back_to_copy"],
        "fallback_reason": fallback_reason,
        "problems": problems,
        "files": files,
    }
