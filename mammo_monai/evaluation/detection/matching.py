"""Matching detection prediction files to datalist items, and the hits of one evaluated image (reads the image
headers and lesion masks; the rule itself is :func:`~.geometry.hits_lesion`)."""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...data.problems import ProblemLog
from ...data.schema import IMAGE, LESIONS, PATIENT_ID, SPLITS
from ..inputs import file_stem, image_shape_and_spacing, is_dicom, read_mask, resolve_datalist_path
from .geometry import _bad_geometry, _circle, _has_position, _valid_box, hits_lesion
from .predictions import DetectionPrediction, read_detections


def _key(path: str) -> str:
    return os.path.realpath(path)



def _item_entries(items: Sequence[Mapping[str, Any]], base: Path, label_path: Path, split: str,
                  problems: ProblemLog) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """One entry per item (image, patient, status) and ``{resolved image key: entry}``."""
    entries: list[dict[str, Any]] = []
    by_key: dict[str, dict[str, Any]] = {}
    for n, item in enumerate(items):
        image = resolve_datalist_path(item.get(IMAGE), base)
        patient = item.get(PATIENT_ID)
        entry: dict[str, Any] = {
            "image": image, "patient_id": patient, "status": "ok", "detail": "", "prediction": None, "match": None,
            "_item": item, "_pred": None, "_group": patient if patient not in (None, "") else f"image:{image}#{n}",
        }
        entries.append(entry)
        if image is None:
            entry["status"], entry["detail"] = "missing_image_path", f"item has no {IMAGE!r}"
            problems.add(f"{label_path}#{split}[{n}]", "missing_image_path", entry["detail"])
            continue
        if _key(image) in by_key:
            entry["status"] = "duplicate_item"
            entry["detail"] = f"the same image appears earlier in split {split!r}; only the first is evaluated"
            problems.add(image, "duplicate_item", entry["detail"])
            continue
        by_key[_key(image)] = entry
        if patient in (None, ""):
            problems.add(image, "missing_patient_id", "the image is its own patient in the bootstrap")
    return entries, by_key



def _other_splits(datalist: Mapping[str, Sequence[Mapping[str, Any]]], split: str, base: Path
                  ) -> tuple[dict[str, str], dict[str, str]]:
    """``{image key: split}`` and ``{stem: split}`` of the other splits (for the unmatched hint)."""
    keys, stems = {}, {}
    for other in SPLITS:
        if other == split:
            continue
        for item in datalist[other]:
            image = resolve_datalist_path(item.get(IMAGE), base)
            if image is not None:
                keys.setdefault(_key(image), other)
                stems.setdefault(file_stem(image), other)
    return keys, stems



def _match_predictions(files: Sequence[Path], by_key: Mapping[str, dict[str, Any]], base: Path, split: str,
                       elsewhere: tuple[dict[str, str], dict[str, str]], problems: ProblemLog) -> dict[str, int]:
    """Read the prediction files and attach each to its entry (``_pred``, ``prediction``, ``match``): by path
    first (every file), then by stem (the files no path matched)."""
    by_stem: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry in by_key.values():
        by_stem[file_stem(entry["image"])].append(entry)
    counts = {"files": len(files), "matched": 0, "matched_by_stem": 0, "unmatched": 0, "ambiguous_stem": 0,
              "duplicate": 0, "malformed": 0}

    def attach(entry: dict[str, Any], pred: DetectionPrediction, how: str) -> None:
        if entry["_pred"] is not None:
            counts["duplicate"] += 1
            problems.add(pred.source, "duplicate_prediction",
                         f"{entry['image']} already predicted by {entry['prediction']} ({entry['match']} match; "
                         "that file is used)")
            return
        entry["_pred"], entry["prediction"], entry["match"] = pred, pred.source, how
        counts["matched"] += 1
        counts["matched_by_stem"] += how == "stem"

    by_path_later = []
    for file in files:
        pred = read_detections(file)
        if pred.image is None:
            counts["malformed"] += 1
            problems.add(pred.source, pred.kind or "malformed_prediction", pred.error or "")
            continue
        keys = [_key(p) for p in {resolve_datalist_path(pred.image, base),
                                  resolve_datalist_path(pred.image, file.parent)}]
        entry = next((by_key[k] for k in keys if k in by_key), None)
        if entry is not None:
            attach(entry, pred, "path")
        else:
            by_path_later.append((pred, keys))
    for pred, keys in by_path_later:
        stem = file_stem(pred.image)  # type: ignore[arg-type]
        options = by_stem.get(stem, [])
        if len(options) == 1:
            attach(options[0], pred, "stem")
            continue
        if len(options) > 1:
            counts["ambiguous_stem"] += 1
            listed = ", ".join(e["image"] for e in options[:3]) + (", ..." if len(options) > 3 else "")
            problems.add(pred.source, "ambiguous_stem",
                         f"{pred.image} matches no image path of split {split!r} and its stem {stem!r} is shared "
                         f"by {len(options)} images ({listed}); write the image path as in the datalist")
            continue
        other = next((elsewhere[0][k] for k in keys if k in elsewhere[0]), None) or elsewhere[1].get(stem)
        hint = f" (it is an image of split {other!r})" if other else ""
        counts["unmatched"] += 1
        problems.add(pred.source, "unmatched_prediction", f"{pred.image} matches no image of split {split!r}{hint}")
    return counts



def _image_shape(entry: dict[str, Any], pred: DetectionPrediction) -> tuple[tuple[int, int] | None, str | None]:
    """The image's ``(rows, cols)`` (its file header, else the prediction's ``image_shape``) and, when both are
    known and differ, the mismatch."""
    try:
        header_shape, _ = image_shape_and_spacing(Path(entry["image"]), need_shape=True)
    except Exception:
        header_shape = None
    if header_shape is not None and pred.image_shape is not None and tuple(header_shape) != pred.image_shape:
        hint = " (transposed: (cols, rows)?)" if tuple(header_shape) == pred.image_shape[::-1] else ""
        return header_shape, (f"image_shape {list(pred.image_shape)} differs from the image's {list(header_shape)} "
                              f"({entry['image']}){hint}: the coordinates are not in the original grid")
    return (tuple(header_shape) if header_shape is not None else pred.image_shape), None  # type: ignore[return-value]



def _outside(centers: np.ndarray, shape: tuple[int, int] | None) -> list[str]:
    """The errors of the centres more than a pixel outside the image (``-1 <= row <= rows`` is inside: either
    pixel convention, centres or corners on integer coordinates, fits)."""
    if shape is None or not len(centers):
        return []
    out = ((centers < -1.0) | (centers > np.asarray(shape, dtype=float))).any(axis=1)
    return [f"candidates[{i}]: center {centers[i].tolist()} is outside the image {list(shape)}"
            for i in np.flatnonzero(out)]



def _read_lesion_mask(path: str, shape: tuple[int, int] | None) -> np.ndarray:
    """A lesion mask file as a boolean array (non-zero is the lesion), checked against the image's shape.

    Raises:
        FileNotFoundError / ValueError / MammogramReadError: (naming the file) unreadable, another shape, empty.
    """
    file = Path(path)
    if file.is_file() and is_dicom(file):
        from ...io.dicom import read_dicom_mammogram

        array = np.squeeze(read_dicom_mammogram(file, invert_monochrome1=False)[0])
        if array.ndim != 2:
            raise ValueError(f"{file}: not a 2D mask (shape {array.shape})")
    else:
        array = read_mask(file)
    if shape is not None and tuple(array.shape) != tuple(shape):
        hint = " (transposed?)" if tuple(array.shape) == tuple(shape)[::-1] else ""
        raise ValueError(f"{file}: mask shape {tuple(array.shape)} differs from the image's {tuple(shape)}{hint}")
    mask = array != 0
    if not mask.any():
        raise ValueError(f"{file}: the mask is empty")
    return mask



def _lesion_mask(lesion: Mapping[str, Any], where: str, base: Path, shape: tuple[int, int] | None,
                 problems: ProblemLog) -> tuple[np.ndarray | None, str | None]:
    """The lesion's usable mask (or ``None``, the problem reported) and its resolved path."""
    path = resolve_datalist_path(lesion.get("mask"), base)
    if path is None:
        return None, None
    fallback = ("the radius rule is used" if _circle(lesion) is not None else "the box is used"
                if _valid_box(lesion.get("box")) is not None else "the lesion is left out")
    try:
        mask = _read_lesion_mask(path, shape)
    except Exception as e:
        problems.add(path, "bad_lesion_mask", f"{e} ({where}); {fallback}")
        return None, path
    if shape is None:
        problems.add(path, "unchecked_lesion_mask", f"the image's shape is unknown (unreadable image, no image_shape "
                     f"in the prediction): the mask is used as it is ({where})")
    return mask, path



def _evaluate_image(entry: dict[str, Any], lesion_types: Sequence[str], base: Path, problems: ProblemLog
                    ) -> tuple[list[dict[str, Any]], np.ndarray]:
    """Hits of one evaluated image: its lesion rows and each candidate's role (``tp``, ``ignored``, ``fp``)."""
    pred: DetectionPrediction = entry["_pred"]
    shape = entry["_shape"]
    scores, centers = pred.scores, pred.centers
    hits_target = np.zeros(len(scores), bool)
    hits_ignored = np.zeros(len(scores), bool)
    rows = []
    for j, lesion in enumerate(entry["_item"].get(LESIONS) or []):
        lesion_type = lesion.get("type")
        target = lesion_type in lesion_types
        where = f"{entry['image']}#lesions[{j}]"
        bad = _bad_geometry(lesion)
        if bad:
            problems.add(where, "bad_lesion_geometry", f"unusable {', '.join(bad)} ({lesion_type})")
        mask, mask_path = _lesion_mask(lesion, where, base, shape, problems)
        hits, rule = hits_lesion(centers, lesion, mask)
        row = _lesion_row(entry, j, lesion, rule, mask_path)
        rows.append(row)
        if rule == "none":
            row["role"] = "no_position" if target else "ignored_type"
            if target:
                problems.add(where, "lesion_without_position",
                             f"{lesion_type} without mask, center+radius or box: left out of the targets")
            continue
        if not target:
            row["role"] = "ignored_type"
            hits_ignored |= hits
            continue
        hits_target |= hits
        row["n_hits"] = int(hits.sum())
        row["hit"] = bool(hits.any())
        if row["hit"]:
            best = int(np.flatnonzero(hits)[np.argmax(scores[hits])])  # the first of the highest scores
            row["score"], row["hit_by"] = float(scores[best]), best
    roles = np.where(hits_target, "tp", np.where(hits_ignored, "ignored", "fp"))
    return rows, roles



def _lesion_row(entry: Mapping[str, Any], index: int, lesion: Mapping[str, Any], rule: str | None,
                mask_path: str | None) -> dict[str, Any]:
    return {"image": entry["image"], "patient_id": entry["patient_id"], "lesion_index": index,
            "type": lesion.get("type"), "pathology": lesion.get("pathology"),
            "role": "target", "rule": rule, "image_status": entry["status"], "hit": None, "score": None,
            "hit_by": None, "n_hits": None, "mask": mask_path, "_group": entry["_group"]}



def _unevaluated_lesion_rows(entry: Mapping[str, Any], lesion_types: Sequence[str]) -> list[dict[str, Any]]:
    """The lesion rows of an image that is not evaluated (no hit, no rule: its masks are not read)."""
    rows = []
    for j, lesion in enumerate(entry["_item"].get(LESIONS) or []):
        row = _lesion_row(entry, j, lesion, None, None)
        if lesion.get("type") not in lesion_types:
            row["role"] = "ignored_type"
        elif not (_has_position(lesion) or lesion.get("mask")):
            row["role"] = "no_position"
        rows.append(row)
    return rows
