"""Classification label sets: the one definition of the classes and of how an item's truth is derived.

The classification bundles (training targets) and ``mammo-monai eval classification`` (ground truth) both
read their classes and targets from here, so a class index means the same thing everywhere.

=================  ======  ==============================================================================
name               level   classes (index order) and rule
=================  ======  ==============================================================================
``abnormal``       image   ``normal``, ``abnormal``: abnormal when the image has at least one lesion record
                           (any type, positioned or not)
``malignant``      image   ``non_malignant``, ``malignant``: malignant when at least one lesion is malignant
``pathology``      lesion  ``benign``, ``malignant``: the lesion's pathology
``type_pathology`` lesion  ``benign_mass``, ``malignant_mass``, ``benign_calcification``,
                           ``malignant_calcification``; with ``include_normal=True`` ``normal`` first
                           (index 0), given to normal-tissue items (``type_pathology == "normal"``)
=================  ======  ==============================================================================

Image-level sets take the items of a per-image datalist (:mod:`mammo_monai.data.schema`); lesion-level
sets take per-lesion items (:func:`mammo_monai.data.lesion_items.lesion_items`, keys ``lesion_type``,
``lesion_pathology``, ``type_pathology``, ``lesion_index``) and, for the normal class, the items of
:func:`normal_items`. :meth:`LabelSet.items` expands a datalist split into the items a set scores.

Explicit rules (an item that fits none gets no target: :meth:`LabelSet.target` is ``None`` and
:meth:`LabelSet.skip_reason` says why; evaluators skip and count such items):

- Pathologies are read through :func:`mammo_monai.data.schema.normalise_pathology`, so CBIS-DDSM's
  ``BENIGN_WITHOUT_CALLBACK`` is benign (the indexers already store it as ``benign`` and keep the raw value
  as ``source_pathology``). A lesion whose pathology is missing or unknown has no target; at image level
  it makes ``malignant`` undecidable unless another lesion of the image is malignant.
- The lesion records are the truth at image level; the item's ``pathology`` is only read for an image
  without lesions: ``normal`` is a normal (non-malignant) image, ``None`` (not annotated, e.g. a hospital
  folder indexed without labels) and ``benign``/``malignant`` without a lesion record are skipped.
- ``type_pathology`` knows masses and calcifications only: architectural distortion, asymmetry and other
  types (MIAS) are skipped. A normal-tissue item is skipped unless the set has the normal class.

Example:
    >>> ls = label_set("malignant")
    >>> ls.classes, ls.level, ls.positive
    (('non_malignant', 'malignant'), 'image', 'malignant')
    >>> item = {"image": "a.png", "pathology": "benign",
    ...         "lesions": [{"type": "mass", "pathology": "BENIGN_WITHOUT_CALLBACK"}]}
    >>> ls.target(item), label_set("abnormal").target(item), label_set("abnormal").target({"pathology": "normal"})
    (0, 1, 0)
    >>> tp = label_set("type_pathology", include_normal=True)
    >>> tp.classes[:2], tp.target({"lesion_type": "calcification", "lesion_pathology": "malignant"})
    (('normal', 'benign_mass'), 4)
    >>> label_set("type_pathology").skip_reason({"lesion_type": "asymmetry", "lesion_pathology": "benign"})
    "lesion type 'asymmetry' is not in type_pathology (masses and calcifications only)"
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .lesion_items import lesion_items
from .schema import LESIONS, PATHOLOGY, load_decathlon_datalist, normalise_pathology

__all__ = [
    "CROP_SOURCES",
    "IMAGE_LEVEL",
    "LABEL_SETS",
    "LESION_LEVEL",
    "LEVELS",
    "NORMAL",
    "TASKS",
    "TYPE_PATHOLOGY_CLASSES",
    "LabelSet",
    "datalist_task_items",
    "label_set",
    "labelled_items",
    "normal_items",
]

IMAGE_LEVEL = "image"
LESION_LEVEL = "lesion"
LEVELS = (IMAGE_LEVEL, LESION_LEVEL)
#: the normal-tissue class of ``type_pathology`` (with ``include_normal``) and its item marker
NORMAL = "normal"
#: the lesion types ``type_pathology`` knows, in class order
_TYPE_PATHOLOGY_TYPES = ("mass", "calcification")
TYPE_PATHOLOGY_CLASSES = tuple(f"{p}_{t}" for t in _TYPE_PATHOLOGY_TYPES for p in ("benign", "malignant"))

#: where a lesion crop is cut from: the full mammogram (lesions need a position) or the dataset's own crop file
CROP_SOURCES = ("full_image", "crop_file")

#: a rule maps an item to ``(class name, None)`` or ``(None, why it has no class)``
Rule = Callable[[Mapping[str, Any]], tuple[str | None, str | None]]


@dataclass(frozen=True)
class LabelSet:
    """A named set of classes and the rule that gives an item its class.

    Attributes:
        name: the task name (a key of :data:`LABEL_SETS`).
        level: ``"image"`` (items of a per-image datalist) or ``"lesion"`` (per-lesion items).
        classes: class names in index order (the network's output channels); for a binary set the second
            one is the positive class.
        rule: ``item -> (class name, None)`` or ``(None, reason)``; use :meth:`target`/:meth:`skip_reason`.
        description: one line for reports.
    """

    name: str
    level: str
    classes: tuple[str, ...]
    rule: Rule = field(repr=False, compare=False)
    description: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"level must be one of {LEVELS}, got {self.level!r}")
        object.__setattr__(self, "classes", tuple(self.classes))
        if len(self.classes) < 2 or len(set(self.classes)) != len(self.classes):
            raise ValueError(f"a label set needs at least two distinct classes, got {self.classes}")

    @property
    def is_binary(self) -> bool:
        """Two classes (the second one positive)."""
        return len(self.classes) == 2

    @property
    def positive(self) -> str:
        """The positive class of a binary set (its second class).

        Raises:
            ValueError: the set has more than two classes.
        """
        if not self.is_binary:
            raise ValueError(f"label set {self.name!r} has {len(self.classes)} classes: no single positive class")
        return self.classes[1]

    @property
    def include_normal(self) -> bool:
        """A lesion-level set with the normal-tissue class."""
        return self.level == LESION_LEVEL and NORMAL in self.classes

    def truth(self, item: Mapping[str, Any]) -> tuple[int | None, str | None]:
        """``(class index, None)``, or ``(None, reason)`` when the item has no class in this set."""
        name, reason = self.rule(item)
        if name is None:
            return None, reason or "no class"
        return self.classes.index(name), None

    def target(self, item: Mapping[str, Any]) -> int | None:
        """The item's class index, or ``None`` when it has no class in this set (see :meth:`skip_reason`)."""
        return self.truth(item)[0]

    def skip_reason(self, item: Mapping[str, Any]) -> str | None:
        """Why :meth:`target` is ``None`` for ``item`` (``None`` when the item has a class)."""
        return self.truth(item)[1]

    def items(self, split_items: Iterable[Mapping[str, Any]], require_position: bool = False,
              use_crop_files: bool = False, split: str | None = None) -> list[dict[str, Any]]:
        """The items this set scores, from the per-image items of one datalist split.

        Image level: copies of the items. Lesion level: one item per lesion
        (:func:`~mammo_monai.data.lesion_items.lesion_items`; ``require_position`` keeps only lesions with a
        box or centre+radius, what a crop-based model can see; ``use_crop_files``: the dataset's own crop file
        as ``image``, CBIS-DDSM), then, when the set has the normal class, one normal-tissue item per normal
        image (:func:`normal_items`). ``split`` (the datalist split's name) is only used in error messages.

        Raises:
            ValueError: lesion level, the split has lesion records but none of them can be cropped: none has
                a position (``require_position``) or none has a crop file (``use_crop_files``). Without it
                a bundle would run on an empty dataset and write nothing.
        """
        split_items = list(split_items)
        if self.level == IMAGE_LEVEL:
            return [dict(item) for item in split_items]
        out = lesion_items(split_items, require_position=require_position, use_crop_files=use_crop_files)
        if not out and (require_position or use_crop_files):
            _no_lesion_to_crop(split_items, use_crop_files, split)
        if self.include_normal:
            out += normal_items(split_items)
        return out


def _no_lesion_to_crop(split_items: list[Mapping[str, Any]], use_crop_files: bool, split: str | None) -> None:
    """Raise the error of :meth:`LabelSet.items` when the split has lesions but none could be cropped."""
    n_lesions = sum(len(item.get(LESIONS) or []) for item in split_items)
    if not n_lesions:
        return
    n_images = sum(bool(item.get(LESIONS)) for item in split_items)
    where = f"datalist split {split!r}" if split else "the datalist split"
    if use_crop_files:
        raise ValueError(
            f"no lesion of {where} has a crop file (crop_source 'crop_file'): its {n_lesions} lesion(s) on "
            f"{n_images} image(s) have no 'crop'; use crop_source 'full_image' with positioned lesions "
            f"(a box, or a centre and radius)")
    raise ValueError(
        f"no lesion of {where} has a position: its {n_lesions} lesion(s) on {n_images} image(s) have neither a "
        f"box nor a centre and radius (the CBIS-DDSM indexer derives them from the ROI masks), so crop_source "
        f"'full_image' has nothing to cut a crop around; use crop_source 'crop_file' (the dataset's own lesion "
        f"crops) or a datalist whose lesions are positioned")


def normal_items(items: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One normal-tissue item per annotated image without a lesion (``pathology == "normal"``, no lesion
    record), shaped like :func:`~mammo_monai.data.lesion_items.lesion_items` output: the image's keys minus
    ``lesions``, ``lesion`` and ``lesion_index`` ``None``, ``lesion_type`` ``None``, ``lesion_pathology`` and
    ``type_pathology`` ``"normal"``. A per-lesion prediction file gives such an item with an empty
    ``lesion_index``.

    Example:
        >>> items = [{"image": "n.png", "pathology": "normal", "lesions": []},
        ...          {"image": "u.dcm", "pathology": None, "lesions": []},
        ...          {"image": "m.png", "pathology": "benign", "lesions": [{"type": "mass", "pathology": "benign"}]}]
        >>> [(i["image"], i["lesion_index"], i["type_pathology"]) for i in normal_items(items)]
        [('n.png', None, 'normal')]
    """
    out = []
    for item in items:
        if item.get(LESIONS) or item.get(PATHOLOGY) is None:
            continue
        try:
            if normalise_pathology(item[PATHOLOGY]) != NORMAL:
                continue
        except ValueError:
            continue
        entry = {k: v for k, v in item.items() if k != LESIONS}
        entry.update(lesion=None, lesion_index=None, lesion_type=None, lesion_pathology=NORMAL,
                     type_pathology=NORMAL)
        out.append(entry)
    return out


# ----------------------------------------------------------------------------------------------- rules


def _lesion_pathology(value: Any) -> tuple[str | None, str | None]:
    if value is None or value == "":
        return None, "lesion has no pathology"
    try:
        pathology = normalise_pathology(value)
    except ValueError:
        return None, f"unknown lesion pathology {value!r}"
    if pathology == NORMAL:
        return None, "lesion pathology 'normal'"
    return pathology, None


def _no_lesion_image(item: Mapping[str, Any], negative: str) -> tuple[str | None, str | None]:
    """An image without lesion records: ``negative`` when annotated normal, else why it is skipped."""
    value = item.get(PATHOLOGY)
    if value is None or value == "":
        return None, "not annotated (pathology None, no lesion record)"
    try:
        pathology = normalise_pathology(value)
    except ValueError:
        return None, f"unknown image pathology {value!r} and no lesion record"
    if pathology != NORMAL:
        return None, f"image pathology {pathology!r} but no lesion record"
    return negative, None


def _abnormal(item: Mapping[str, Any]) -> tuple[str | None, str | None]:
    if item.get(LESIONS):
        return "abnormal", None
    return _no_lesion_image(item, NORMAL)


def _malignant(item: Mapping[str, Any]) -> tuple[str | None, str | None]:
    lesions = item.get(LESIONS) or []
    if not lesions:
        return _no_lesion_image(item, "non_malignant")
    found = [_lesion_pathology(lesion.get(PATHOLOGY)) for lesion in lesions]
    if any(p == "malignant" for p, _ in found):
        return "malignant", None
    unknown = [reason for p, reason in found if p is None]
    if unknown:
        return None, f"no malignant lesion but {len(unknown)} lesion(s) undecided ({unknown[0]})"
    return "non_malignant", None


def _lesion_fields(item: Mapping[str, Any]) -> str | None:
    """Why ``item`` is not a per-lesion item (``None`` when it is one)."""
    if "lesion_pathology" not in item and item.get("type_pathology") != NORMAL:
        return "not a per-lesion item (no 'lesion_pathology'; expand the datalist with lesion_items)"
    return None


def _pathology(item: Mapping[str, Any]) -> tuple[str | None, str | None]:
    if item.get("type_pathology") == NORMAL:
        return None, "normal-tissue item: not a lesion"
    not_lesion = _lesion_fields(item)
    if not_lesion:
        return None, not_lesion
    return _lesion_pathology(item.get("lesion_pathology"))


def _type_pathology_rule(include_normal: bool) -> Rule:
    def rule(item: Mapping[str, Any]) -> tuple[str | None, str | None]:
        if item.get("type_pathology") == NORMAL:
            if include_normal:
                return NORMAL, None
            return None, "normal-tissue item but the task has no normal class (include_normal=False)"
        not_lesion = _lesion_fields(item)
        if not_lesion:
            return None, not_lesion
        lesion_type = item.get("lesion_type")
        if lesion_type not in _TYPE_PATHOLOGY_TYPES:
            return None, f"lesion type {lesion_type!r} is not in type_pathology (masses and calcifications only)"
        pathology, reason = _lesion_pathology(item.get("lesion_pathology"))
        if pathology is None:
            return None, reason
        return f"{pathology}_{lesion_type}", None

    return rule


#: the label sets by task name (``type_pathology`` without the normal class; see :func:`label_set`)
LABEL_SETS: dict[str, LabelSet] = {
    "abnormal": LabelSet("abnormal", IMAGE_LEVEL, ("normal", "abnormal"), _abnormal,
                         "image has at least one lesion (any type)"),
    "malignant": LabelSet("malignant", IMAGE_LEVEL, ("non_malignant", "malignant"), _malignant,
                          "image has at least one malignant lesion"),
    "pathology": LabelSet("pathology", LESION_LEVEL, ("benign", "malignant"), _pathology,
                          "lesion pathology (BENIGN_WITHOUT_CALLBACK counts as benign)"),
    "type_pathology": LabelSet("type_pathology", LESION_LEVEL, TYPE_PATHOLOGY_CLASSES, _type_pathology_rule(False),
                               "lesion type (mass/calcification) x pathology"),
}
TASKS = tuple(LABEL_SETS)


def label_set(name: str, include_normal: bool = False) -> LabelSet:
    """The label set of task ``name``; ``include_normal=True`` adds the normal-tissue class (index 0) to
    ``type_pathology`` (the only set it applies to).

    Raises:
        ValueError: an unknown name (the message lists the valid ones), or ``include_normal`` for a set
            other than ``type_pathology``.

    Example:
        >>> label_set("type_pathology", include_normal=True).classes[0]
        'normal'
        >>> label_set("birads")
        Traceback (most recent call last):
        ...
        ValueError: unknown classification task 'birads'; expected one of abnormal, malignant, pathology, type_pathology
    """
    if name not in LABEL_SETS:
        raise ValueError(f"unknown classification task {name!r}; expected one of {', '.join(TASKS)}")
    base = LABEL_SETS[name]
    if not include_normal:
        return base
    if name != "type_pathology":
        raise ValueError(f"include_normal applies to type_pathology only, not to {name!r} "
                         f"(classes {', '.join(base.classes)})")
    return dataclasses.replace(base, classes=(NORMAL, *base.classes), rule=_type_pathology_rule(True),
                               description=base.description + ", plus normal tissue")


def labelled_items(
    split_items: Iterable[Mapping[str, Any]],
    task: str,
    include_normal: bool = False,
    key: str = "label",
    require_position: bool = False,
    use_crop_files: bool = False,
    split: str | None = None,
) -> list[dict[str, Any]]:
    """The items of one datalist split that ``task`` scores, each with its class index under ``key``: what a
    classification bundle trains and validates on (``"data": "$mammo_monai.data.labels.labelled_items(...)"``).
    ``require_position``, ``use_crop_files`` and ``split`` (its name, for error messages) as in
    :meth:`LabelSet.items`, which raises when a split's lesions have nothing to crop.

    Items without a class in the task (see :meth:`LabelSet.skip_reason`) are left out and counted in one log
    line per reason, so a training run says what it did not see.

    Example:
        >>> items = [{"image": "a.png", "pathology": "normal", "lesions": []},
        ...          {"image": "b.png", "pathology": "benign", "lesions": [{"type": "mass", "pathology": "benign"}]},
        ...          {"image": "c.png", "pathology": None, "lesions": []}]
        >>> [(i["image"], i["label"]) for i in labelled_items(items, "abnormal")]
        [('a.png', 0), ('b.png', 1)]
    """
    import logging
    from collections import Counter

    ls = label_set(task, include_normal=include_normal)
    kept, skipped = [], Counter()
    for item in ls.items(split_items, require_position=require_position, use_crop_files=use_crop_files,
                         split=split):
        target, reason = ls.truth(item)
        if target is None:
            skipped[reason] += 1
            continue
        kept.append({**item, key: target})
    for reason, count in skipped.items():
        logging.getLogger(__name__).info("%s: %d item(s) left out: %s", task, count, reason)
    return kept


def datalist_task_items(
    datalist: str | os.PathLike,
    split: str,
    task: str,
    crop_source: str = "full_image",
    include_normal: bool = False,
    labelled: bool = True,
) -> list[dict[str, Any]]:
    """The items of ``split`` of the datalist file ``datalist`` that ``task`` scores, for a classification bundle:
    read with :func:`~mammo_monai.data.schema.load_decathlon_datalist`, then :func:`labelled_items` (``labelled``:
    training, validation, evaluation; each with its class index under ``"label"``) or :meth:`LabelSet.items`
    (inference: every scored item, with or without a truth). ``crop_source`` (:data:`CROP_SOURCES`) says what a
    lesion crop is cut from: ``"full_image"`` keeps only lesions with a position, ``"crop_file"`` uses the
    dataset's own crop files as ``image``.

    Raises:
        ValueError: an unknown ``crop_source`` or ``task``, or a split whose lesions have nothing to crop.
    """
    if crop_source not in CROP_SOURCES:
        raise ValueError(f"crop_source must be one of {CROP_SOURCES}, got {crop_source!r}")
    items = load_decathlon_datalist(datalist, labelled, split)
    options = {"require_position": crop_source == "full_image", "use_crop_files": crop_source == "crop_file",
               "split": split}
    if labelled:
        return labelled_items(items, task, include_normal=include_normal, **options)
    return label_set(task, include_normal=include_normal).items(items, **options)
