"""Fine-tuning a bundle on the labels saved in the datastore so far: the app's train tasks.

A request (``POST /train/<model>``, which MONAI Label runs in a child process) goes:

1. every image with a ``final`` label -> a datalist item (:func:`labelled_items`): the viewer's label is read
   back as ``(rows, cols)`` (:func:`~.label_files.read_label_mask`), checked against its image, written as a PNG
   mask in the run's folder, and its connected components become the item's lesions (label 1 = mass,
   2 = calcification: the detector's classes); a label that cannot be used is logged with the reason and left out.
2. a patient-level split into training and validation (:func:`~mammo_monai.data.splits.split_by_patient`; the
   patient is the image's DICOM PatientID where the datastore knows it, else the image id): never a woman on
   both sides, at least one on each.
3. the bundle's own ``train.json`` (plus the app's layered configs) with the datalist, ``max_epochs`` and the
   run's folders set, the network started from the checkpoint being served (from scratch when there is none),
   run as ``monai.bundle run`` would (``initialize``, ``run``, ``finalize``).
4. the run's best checkpoint (``model.pt``, else ``model_final.pt``) replaces the served one atomically; the
   previous one is kept as ``model_previous.pt``. The infer task picks the new weights up on its next request.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from monai.bundle import ConfigParser
from monailabel.interfaces.datastore import Datastore
from monailabel.interfaces.tasks.train import TrainTask
from PIL import Image
from skimage.measure import label as connected_components

from ..data.geometry import lesion_geometry_from_mask
from ..data.splits import split_by_patient
from ..evaluation.inputs import file_stem, image_shape_and_spacing
from ..inference.bundle import bundle_config_files, load_weights
from ..io.writers import atomic_write_file
from .infer import source_image
from .label_files import LABEL_CLASSES, read_label_mask

__all__ = ["BundleFineTune", "labelled_items"]

logger = logging.getLogger(__name__)


def _patient_id(datastore: Datastore, image_id: str) -> str:
    info = datastore.get_image_info(image_id) or {}
    for key in ("PatientID", "patient_id"):
        value = info.get(key)
        if value not in (None, "", "UNK"):
            return str(value)
    return image_id


def labelled_items(datastore: Datastore, work_dir: str | os.PathLike,
                   label_types: Mapping[int, str] = LABEL_CLASSES) -> tuple[list[dict[str, Any]], list[str]]:
    """Datalist items of the images with a final label, and the problems of those left out.

    Args:
        datastore: the app's datastore.
        work_dir: where the ``(rows, cols)`` PNG masks are written (``masks/<image id>.png``).
        label_types: label value -> lesion type; other non-zero values become ``"other"`` lesions.

    Returns:
        ``(items, problems)``: items with ``image`` (the file the bundle reads), ``label`` (the PNG mask),
        ``patient_id``, ``lesions`` (one per connected component, ``center``/``radius``/``box`` in pixels,
        pathology unknown) and ``pathology`` (``"normal"`` for an empty label, else unknown); problems as
        ``"<image id>: <reason>"``.
    """
    masks = Path(work_dir) / "masks"
    masks.mkdir(parents=True, exist_ok=True)
    items, problems = [], []
    for pair in datastore.datalist():
        image_id = file_stem(pair["image"])  # a DICOM UID's dots stay in the id
        try:
            image = source_image(pair["image"])
            shape, _ = image_shape_and_spacing(image, need_shape=True)
            mask = read_label_mask(pair["label"], shape)
        except (OSError, ValueError) as e:
            problems.append(f"{image_id}: {e}")
            continue
        lesions = []
        for value in (int(v) for v in np.unique(mask) if v):
            components = connected_components(mask == value, connectivity=2)
            for k in range(1, int(components.max()) + 1):
                center, radius, box = lesion_geometry_from_mask(components == k)
                lesions.append({"type": label_types.get(value, "other"), "pathology": None, "center": center,
                                "radius": radius, "box": box})
        path = masks / f"{image_id}.png"
        Image.fromarray(mask, mode="L").save(path)
        items.append({"image": image, "label": str(path), "patient_id": _patient_id(datastore, image_id),
                      "lesions": lesions, "pathology": None if lesions else "normal", "label_id": image_id})
    return items, problems


class BundleFineTune(TrainTask):
    """Train one bundle on the datastore's labels and publish the checkpoint its infer task serves.

    Args:
        name: the model's name in the app.
        bundle_dir: the bundle (``configs/train.json``).
        checkpoint: the served checkpoint (start point and destination).
        configs: further configs layered over ``train.json`` (the same as the infer task's).
        overrides: bundle keys this app always sets (such as ``label_source: "file"`` for segmentation).
        val_fraction: the share of patients held out for validation (at least one patient).
        max_epochs, num_workers: defaults a request may change (``{"max_epochs": 1}``).
        require: a check of the items before training (a ValueError names what is missing).
        seed: the split's and the training's seed.

    Example:
        >>> task = BundleFineTune("mammo_mass_segmentation", "bundles/mammo_mass_segmentation",
        ...                       "work/mammo_mass_segmentation/model.pt")  # doctest: +SKIP
        >>> task({"max_epochs": 1}, datastore)  # doctest: +SKIP
        {'model': 'mammo_mass_segmentation', 'checkpoint': '.../model.pt', 'training_images': 3, ...}
    """

    def __init__(self, name: str, bundle_dir: str | os.PathLike, checkpoint: str | os.PathLike,
                 configs: Sequence[str] = (), overrides: Mapping[str, Any] | None = None, val_fraction: float = 0.2,
                 max_epochs: int = 10, num_workers: int = 0, seed: int = 0,
                 require: Callable[[Sequence[Mapping[str, Any]]], None] | None = None, description: str = "") -> None:
        super().__init__(description or f"Fine-tune {name} on the saved labels (validation split by patient)")
        self.name = name
        self.bundle_dir = Path(bundle_dir).resolve()
        self.checkpoint = Path(checkpoint)
        self.configs = list(configs)
        self.overrides = dict(overrides or {})
        self.val_fraction = float(val_fraction)
        self.max_epochs, self.num_workers, self.seed = int(max_epochs), int(num_workers), int(seed)
        self.require = require
        self._last: dict[str, Any] = {}
        bundle_config_files(self.bundle_dir, "train.json", self.configs)  # fail at start-up, not at the first run

    def config(self) -> dict[str, Any]:
        return {"max_epochs": self.max_epochs, "val_fraction": self.val_fraction, "num_workers": self.num_workers}

    def stats(self) -> dict[str, Any]:
        return dict(self._last)

    def __call__(self, request: Mapping[str, Any], datastore: Datastore) -> dict[str, Any]:
        started = time.time()
        run_dir = self.checkpoint.parent / "train" / time.strftime("%Y%m%d-%H%M%S")
        while run_dir.exists():
            run_dir = run_dir.with_name(run_dir.name + "_")
        run_dir.mkdir(parents=True)
        items, problems = labelled_items(datastore, run_dir)
        for problem in problems:
            logger.warning("%s: label left out: %s", self.name, problem)
        if self.require is not None:
            self.require(items)
        patients = {item["patient_id"] for item in items}
        if len(patients) < 2:
            raise ValueError(f"{self.name}: training needs final labels of at least 2 patients (one is held out "
                             f"for validation), the datastore has {len(items)} usable labelled image(s) of "
                             f"{len(patients)} patient(s)" + (f"; left out: {problems}" if problems else ""))
        val_fraction = float(request.get("val_fraction", self.val_fraction))
        split = split_by_patient(items, {"training": 1.0 - val_fraction, "validation": val_fraction},
                                 seed=int(request.get("seed", self.seed)), stratify_key=None)
        datalist = run_dir / "datalist.json"
        datalist.write_text(json.dumps(split, indent=1))

        parser = ConfigParser()
        parser.read_config(bundle_config_files(self.bundle_dir, "train.json", self.configs))
        parser.update({"bundle_root": str(self.bundle_dir), "datalist": str(datalist),
                       "ckpt_dir": str(run_dir / "models"), "output_dir": str(run_dir / "eval"),
                       "max_epochs": int(request.get("max_epochs", self.max_epochs)),
                       "num_workers": int(request.get("num_workers", self.num_workers)),
                       "seed": int(request.get("seed", self.seed)),
                       # a fine-tune's progress goes to the server's log (GET /train/), not to trackers
                       "use_tensorboard": False, "use_mlflow": False, **self.overrides})
        if "persistent_workers" in parser:
            parser["persistent_workers"] = False
        parser.parse()
        network = parser.get_parsed_content("network")
        if self.checkpoint.is_file():
            load_weights(network, self.checkpoint, parser.get_parsed_content("device"))
            logger.info("%s: fine-tuning from %s", self.name, self.checkpoint)
        else:
            logger.info("%s: no checkpoint yet, training from scratch", self.name)
        for key in ("initialize", "run", "finalize"):
            if key in parser:
                parser.get_parsed_content(key)

        best = run_dir / "models" / "model.pt"
        if not best.is_file():
            best = run_dir / "models" / "model_final.pt"
        if not best.is_file():
            raise RuntimeError(f"{self.name}: training finished without a checkpoint in {run_dir / 'models'}")
        self._publish(best)
        result = {"model": self.name, "checkpoint": str(self.checkpoint), "source": str(best),
                  "run_dir": str(run_dir), "training_images": len(split["training"]),
                  "validation_images": len(split["validation"]), "patients": len(patients),
                  "left_out": problems, "seconds": round(time.time() - started, 1)}
        self._last = result
        logger.info("%s: published %s", self.name, result)
        return result

    def _publish(self, source: Path) -> None:
        """The new weights replace the served ones atomically (the old ones kept as ``model_previous.pt``); only
        the model's ``state_dict`` is published, whatever else the run's checkpoint holds."""
        import torch

        checkpoint = torch.load(source, map_location="cpu", weights_only=True)
        state = checkpoint.get("model", checkpoint) if isinstance(checkpoint, Mapping) else checkpoint
        if self.checkpoint.is_file():
            previous = self.checkpoint.read_bytes()
            atomic_write_file(self.checkpoint.with_name("model_previous.pt"), lambda f: f.write(previous))
        atomic_write_file(self.checkpoint, lambda f: torch.save(state, f))
