"""Matching predicted masks to the images of a datalist split: a folder searched by file stem, or a datalist of
predictions with a ``pred`` key."""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from ...data.problems import ProblemLog
from ...data.schema import IMAGE, SPLITS, load_datalist
from ..inputs import MASK_SUFFIXES, mask_suffix, resolve_datalist_path

#: the datalist key of a predicted mask (a datalist given as ``pred``)
PRED = "pred"
#: how a folder file matches an image stem, best first
_MATCH_KINDS = ("exact", "_seg", "_pred", "subfolder")


def match_prediction_folder(
    root: str | os.PathLike, stems: Sequence[str]
) -> dict[str, tuple[Path | None, str | None, list[Path]]]:
    """Find each image stem's predicted mask under ``root`` (searched recursively).

    A file matches stem ``S`` when its name is ``S.<ext>`` (``exact``), ``S_seg.<ext>`` (``_seg``) or
    ``S_pred.<ext>`` (``_pred``), or when it lies anywhere under a folder named ``S`` (``subfolder``),
    ``<ext>`` one of :data:`MASK_SUFFIXES`. The best kind wins (in that order), then the shallowest
    file, then the suffix order of :data:`MASK_SUFFIXES`, then the path. MONAI ``SaveImage`` output
    (``<out>/<stem>/<stem>_seg.nii.gz``) thus matches as ``_seg``.

    Returns:
        ``{stem: (file or None, match kind or None, other files of the same kind and depth)}``; a
        non-empty third element means the choice was ambiguous.

    Example:
        >>> import tempfile
        >>> scratch = tempfile.TemporaryDirectory(); root = Path(scratch.name); (root / "mdb001").mkdir()
        >>> (root / "mdb001" / "mdb001_seg.nii.gz").touch(); (root / "mdb002.png").touch()
        >>> found = match_prediction_folder(root, ["mdb001", "mdb002", "mdb003"])
        >>> [(s, f and f.name, kind) for s, (f, kind, _) in found.items()]
        [('mdb001', 'mdb001_seg.nii.gz', '_seg'), ('mdb002', 'mdb002.png', 'exact'), ('mdb003', None, None)]
        >>> scratch.cleanup()
    """
    root = Path(root)
    wanted = set(stems)
    candidates: dict[str, list[tuple[int, int, int, str, Path]]] = defaultdict(list)
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        rel_parts = Path(dirpath).relative_to(root).parts
        depth = len(rel_parts)
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = Path(dirpath) / name
            suffix = mask_suffix(path)
            if suffix is None:
                continue
            order = MASK_SUFFIXES.index(suffix)
            stem = name[: -len(suffix)]
            keys = [(stem, 0)]
            for tag, kind in (("_seg", 1), ("_pred", 2)):
                if stem.endswith(tag):
                    keys.append((stem[: -len(tag)], kind))
            keys += [(folder, 3) for folder in rel_parts]
            for key, kind in keys:
                if key in wanted:
                    candidates[key].append((kind, depth, order, str(path), path))
    found: dict[str, tuple[Path | None, str | None, list[Path]]] = {}
    for stem in stems:
        options = sorted(candidates.get(stem, []))
        if not options:
            found[stem] = (None, None, [])
            continue
        best = options[0]
        ties = [o[4] for o in options[1:] if o[:2] == best[:2] and o[4] != best[4]]
        found[stem] = (best[4], _MATCH_KINDS[best[0]], ties)
    return found



def _load_pred_datalist(path: Path, problems: ProblemLog) -> dict[str, str]:
    """``{normalised image path: pred path}`` from every split of a datalist whose items have ``pred``."""
    datalist = load_datalist(path)
    base = path.parent
    mapping: dict[str, str] = {}
    for split in SPLITS:
        for item in datalist[split]:
            image, pred = resolve_datalist_path(item.get(IMAGE), base), resolve_datalist_path(item.get(PRED), base)
            if image is None or pred is None:
                continue
            if image in mapping and mapping[image] != pred:
                problems.add(image, "ambiguous_prediction",
                             f"{path.name} lists two predictions: {mapping[image]} (used) and {pred}")
                continue
            mapping[image] = pred
    if not mapping:
        raise ValueError(f"{path}: no item has a {PRED!r} key; expected a datalist of predictions or a folder")
    return mapping
