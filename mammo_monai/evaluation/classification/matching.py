"""Matching a classification prediction file to the items of a datalist split: one entry per item, with its
truth, probabilities and status (the problems reported)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ...data.labels import LESION_LEVEL, LabelSet
from ...data.problems import ProblemLog
from ...data.schema import IMAGE, PATIENT_ID
from ..inputs import resolve_datalist_path
from .predictions import LESION_INDEX, read_predictions


def _item_ref(entry: Mapping[str, Any], lesion_level: bool) -> str:
    if not lesion_level:
        return str(entry["image"])
    index = entry["lesion_index"]
    return f"{entry['image']}#" + ("normal_tissue" if index is None else f"lesion_index={index}")



def _collect(
    pred_path: Path, split_items: Sequence[Mapping[str, Any]], ls: LabelSet, label_path: Path, split: str,
    other_keys: Mapping[tuple[str | None, int | None], str], problems: ProblemLog, role: str,
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Entries (one per item of ``split``: truth, probabilities, status) matched to ``pred_path``'s rows."""
    lesion_level = ls.level == LESION_LEVEL
    label_base, pred_base = label_path.parent, pred_path.parent
    entries: list[dict[str, Any]] = []
    index: dict[tuple[str | None, int | None], dict[str, Any]] = {}
    for n, item in enumerate(ls.items(split_items)):
        image = resolve_datalist_path(item.get(IMAGE), label_base)
        patient = item.get(PATIENT_ID)
        truth, reason = ls.truth(item)
        entry: dict[str, Any] = {
            "image": image, "lesion_index": item.get(LESION_INDEX) if lesion_level else None,
            "patient_id": patient, "truth_index": truth, "truth": None if truth is None else ls.classes[truth],
            "status": "ok" if truth is not None else "skipped", "detail": reason or "", "probs": None,
            "source": None, "_group": patient if patient not in (None, "") else f"item:{image}#{n}",
        }
        entries.append(entry)
        if image is None:
            entry["status"], entry["detail"] = "missing_image_path", f"item has no {IMAGE!r}"
            problems.add(f"{label_path}#{split}[{n}]", "missing_image_path", f"item has no {IMAGE!r} ({role})")
            continue
        key = (image, entry["lesion_index"])
        if key in index:
            entry["status"] = "duplicate_item"
            entry["detail"] = f"the same item appears earlier in split {split!r}; only the first is matched"
            problems.add(_item_ref(entry, lesion_level), "duplicate_item", entry["detail"])
            continue
        index[key] = entry
        if patient in (None, "") and truth is not None:
            problems.add(_item_ref(entry, lesion_level), "missing_patient_id",
                         "the item is its own patient in the bootstrap")

    counts = {"rows": 0, "unmatched_rows": 0, "duplicate_rows": 0, "unusable_rows": 0, "rows_for_skipped_items": 0}
    for row in read_predictions(pred_path, ls):
        counts["rows"] += 1
        if row.kind in ("missing_image_path", "bad_lesion_index"):
            counts["unusable_rows"] += 1
            problems.add(row.source, row.kind, row.error or "")
            continue
        keys = [(resolve_datalist_path(row.image, base), row.lesion_index) for base in (label_base, pred_base)]
        entry = next((index[key] for key in keys if key in index), None)
        what = row.image + ("" if not lesion_level else f", lesion_index {row.lesion_index}"
                            if row.lesion_index is not None else ", no lesion_index (normal tissue)")
        if entry is None:
            elsewhere = next((other_keys[key] for key in keys if key in other_keys), None)
            hint = f" (it is an item of split {elsewhere!r})" if elsewhere else ""
            if lesion_level and row.lesion_index is None and not ls.include_normal:
                hint += "; a row without lesion_index is a normal-tissue item, which needs include_normal"
            counts["unmatched_rows"] += 1
            problems.add(row.source, "unmatched_prediction", f"{what} matches no item of split {split!r}{hint}")
            continue
        if entry["source"] is not None:
            counts["duplicate_rows"] += 1
            problems.add(row.source, "duplicate_prediction",
                         f"{what} already predicted in {entry['source']} (that row is used)")
            continue
        entry["source"] = row.source
        if entry["status"] == "skipped":
            counts["rows_for_skipped_items"] += 1
            continue
        if row.kind is not None:
            counts["unusable_rows"] += 1
            entry["status"], entry["detail"] = row.kind, row.error or ""
            problems.add(row.source, row.kind, f"{row.error} ({what})")
            continue
        entry["probs"] = row.probs
    for entry in entries:
        if entry["status"] == "ok" and entry["probs"] is None:
            entry["status"], entry["detail"] = "missing_prediction", f"no row in {pred_path}"
            problems.add(_item_ref(entry, lesion_level), "missing_prediction", f"no row in {pred_path} ({role})")
    return entries, counts



def _entry_counts(entries: Sequence[Mapping[str, Any]], ls: LabelSet) -> dict[str, Any]:
    ok = [e for e in entries if e["status"] == "ok"]
    not_ok = [e for e in entries if e["status"] not in ("ok", "skipped")]
    skipped = [e for e in entries if e["status"] == "skipped"]
    return {
        "items": len(entries),
        "patients": len({e["_group"] for e in entries if e["status"] != "skipped"}),
        "evaluated": len(ok),
        "evaluated_patients": len({e["_group"] for e in ok}),
        "by_class": {c: sum(e["truth"] == c for e in ok) for c in ls.classes},
        "missing": len(not_ok),
        "missing_by_reason": dict(Counter(e["status"] for e in not_ok)),
        "skipped": len(skipped),
        "skipped_by_reason": dict(Counter(e["detail"] for e in skipped)),
    }
