"""The classification bundles' prediction file: one row of class probabilities per item, as CSV.

:class:`ClassificationProbabilitySaver` is an Ignite handler (like MONAI's ``ClassificationSaver``, whose CSV
has no header and no class names) that writes the file ``mammo-monai eval classification`` reads
(:mod:`mammo_monai.evaluation.classification`): ``image`` (the source file, from the image's
``filename_or_obj``), any ``extra_keys`` of the item (``lesion_index`` for lesion classifiers), and
``prob_<class>`` per class. For an item cut from a crop file (``full_image`` set: CBIS-DDSM's own lesion crops)
``image`` is the full mammogram, so rows match the datalist whatever the crop source. Rows are collected per
iteration and the file is written once, atomically, at the end of the epoch; under ``torch.distributed`` the
ranks' rows are gathered and rank 0 writes.

Example (in an inference config)::

    "handlers": [{"_target_": "mammo_monai.inference.ClassificationProbabilitySaver",
                  "output_dir": "@output_dir", "filename": "test_probabilities.csv", "classes": "@classes"}]
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.utils import ImageMetaKey

__all__ = ["LESION_INDEX", "ClassificationProbabilitySaver", "probability_rows"]

#: the lesion column; a value below 0 (what a config writes for a normal-tissue item, whose index is ``None``,
#: so that the batch can be collated) is written as an empty cell, as the evaluator reads normal tissue
LESION_INDEX = "lesion_index"


#: the item key naming the full mammogram when the network's input is another file (a lesion's crop file:
#: :func:`mammo_monai.data.lesion_items`); the row's ``image`` is then that mammogram, as the datalist has it
FULL_IMAGE = "full_image"


def _source(item: Mapping[str, Any], image_key: str) -> str:
    full = item.get(FULL_IMAGE)
    if isinstance(full, (str, os.PathLike)) and str(full):
        return str(full)
    image = item.get(image_key)
    meta = getattr(image, "meta", None) or item.get(f"{image_key}_meta_dict") or {}
    source = meta.get(ImageMetaKey.FILENAME_OR_OBJ)
    if not source:
        raise ValueError(f"ClassificationProbabilitySaver: the item's {image_key!r} has no filename_or_obj in its "
                         f"meta: keep the image a MetaTensor (track_meta) through the preprocessing")
    return str(source)


def probability_rows(batch: Sequence[Mapping[str, Any]], output: Sequence[Mapping[str, Any]],
                     classes: Sequence[str], pred_key: str = "pred", image_key: str = "image",
                     extra_keys: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Rows of a decollated batch and its decollated engine output: ``image``, ``extra_keys``, ``prob_<class>``.

    Raises:
        ValueError: a prediction whose size is not ``len(classes)``, or probabilities that do not sum to 1
            (a missing softmax in the postprocessing).
    """
    rows = []
    for item, out in zip(batch, output):
        probs = out[pred_key]
        probs = np.asarray(probs.detach().cpu() if isinstance(probs, torch.Tensor) else probs, dtype=np.float64)
        probs = probs.reshape(-1)
        if probs.size != len(classes):
            raise ValueError(f"ClassificationProbabilitySaver: {probs.size} probabilities for {len(classes)} classes "
                             f"({', '.join(classes)}) for {_source(item, image_key)}")
        if not np.isclose(probs.sum(), 1.0, atol=1e-4):
            raise ValueError(f"ClassificationProbabilitySaver: probabilities sum to {probs.sum():.4f} for "
                             f"{_source(item, image_key)}: add Activationsd(softmax=True) to the postprocessing")
        row: dict[str, Any] = {"image": _source(item, image_key)}
        for key in extra_keys:
            value = item.get(key)
            if isinstance(value, torch.Tensor) and value.numel() == 1:
                value = value.item()
            if key == LESION_INDEX and isinstance(value, (int, np.integer)) and value < 0:
                value = None  # -1: the collate-friendly stand-in for "no lesion" (normal tissue)
            row[key] = "" if value is None else (int(value) if isinstance(value, (int, np.integer)) else value)
        row.update({f"prob_{name}": float(p) for name, p in zip(classes, probs)})
        rows.append(row)
    return rows


class ClassificationProbabilitySaver:
    """Write ``<output_dir>/<filename>``: the class probabilities of every item an engine ran on.

    Args:
        output_dir: the folder (created).
        filename: the CSV's name.
        classes: class names in output-channel order (``mammo_monai.data.labels.label_set(task).classes``).
        pred_key, image_key: keys of the (decollated) engine output and batch items.
        extra_keys: item keys written as columns before the probabilities (e.g. ``["lesion_index"]``).
        overwrite: replace an existing file (default, like MONAI's savers: these are this run's outputs);
            ``False`` raises ``FileExistsError`` instead.
        output_transform, batch_transform: map ``engine.state.output`` / ``engine.state.batch`` to the
            decollated lists of dicts (default: as they are, which is what ``SupervisedEvaluator`` gives).
    """

    def __init__(self, output_dir: str | os.PathLike, filename: str = "probabilities.csv",
                 classes: Sequence[str] = ("0", "1"), pred_key: str = "pred", image_key: str = "image",
                 extra_keys: Sequence[str] = (), overwrite: bool = True,
                 output_transform: Callable[[Any], Any] = lambda x: x,
                 batch_transform: Callable[[Any], Any] = lambda x: x) -> None:
        self.path = Path(output_dir) / filename
        self.classes = [str(c) for c in classes]
        self.pred_key, self.image_key, self.extra_keys = pred_key, image_key, list(extra_keys)
        self.overwrite = bool(overwrite)
        self.output_transform, self.batch_transform = output_transform, batch_transform
        self.rows: list[dict[str, Any]] = []

    def attach(self, engine: Any) -> None:
        from ignite.engine import Events

        engine.add_event_handler(Events.EPOCH_STARTED, self._reset)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self._collect)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self._write)

    def _reset(self, _engine: Any = None) -> None:
        self.rows = []

    def _collect(self, engine: Any) -> None:
        batch, output = self.batch_transform(engine.state.batch), self.output_transform(engine.state.output)
        if isinstance(batch, Mapping) or isinstance(output, Mapping):
            raise ValueError("ClassificationProbabilitySaver needs decollated batches (the engine's decollate=True)")
        self.rows += probability_rows(batch, output, self.classes, self.pred_key, self.image_key, self.extra_keys)

    def _write(self, _engine: Any = None) -> None:
        import torch.distributed as dist

        from mammo_monai.io.writers import write_csv

        rows = self.rows
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            gathered: list[Any] = [None] * dist.get_world_size()
            dist.all_gather_object(gathered, rows)
            if dist.get_rank() != 0:
                return
            rows = [row for part in gathered for row in part]
        if self.path.exists() and not self.overwrite:
            raise FileExistsError(f"{self.path} exists (overwrite=False)")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fields = ["image", *self.extra_keys, *(f"prob_{c}" for c in self.classes)]
        write_csv(rows, self.path, fields)
