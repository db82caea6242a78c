"""A bundle's ``inference.json`` parsed once and run on one image at a time, for the serving apps (the MONAI Label
app in :mod:`mammo_monai.label`, the MONAI Deploy app in :mod:`mammo_monai.deploy`).

The bundle stays the single source of truth: its ``network``, ``preprocessing``, ``inferer`` and
``postprocessing`` are parsed from its own config and run in the order its ``SupervisedEvaluator`` runs them
(preprocessing -> the dataloader's collate -> inferer -> decollate -> postprocessing). Only the writers of the
postprocessing (``Save*`` transforms) are switched off with ``_disabled_``: the apps return the result instead of
writing files beside the data. MONAI Label's ``BundleInferTask`` and the Deploy SDK's
``MonaiBundleInferenceOperator`` are not used: the first rebuilds the pipeline from pieces (it swaps the loader,
drops keys the mammography transforms need and transposes 2D results), the second wants a TorchScript bundle and
loads images through the SDK's series-to-volume conversion (no VOI LUT, no MONOCHROME1).

The bundle's output, read the same way by both apps: :func:`segmentation_mask` (the label on the image's own
grid), :func:`detection_candidates` (the detector's candidates in the image's pixels), :func:`class_probabilities`.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import uuid
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.bundle import ConfigParser
from monai.data import decollate_batch, list_data_collate
from monai.utils import convert_to_numpy

__all__ = [
    "BundleInference",
    "bundle_config_files",
    "class_probabilities",
    "default_bundles_dir",
    "detection_candidates",
    "finding_labels",
    "load_weights",
    "segmentation_mask",
    "writer_indices",
]

logger = logging.getLogger(__name__)


def default_bundles_dir() -> Path:
    """The project's ``bundles/`` folder beside the ``mammo_monai`` package (an editable install or a checkout)."""
    import mammo_monai

    return Path(mammo_monai.__file__).resolve().parents[1] / "bundles"


def bundle_config_files(bundle_dir: str | os.PathLike, base: str, configs: Sequence[str] = ()) -> list[str]:
    """``configs/<base>`` of the bundle followed by the layered ``configs`` (names in ``configs/`` or paths).

    Raises:
        FileNotFoundError: a file that is not there (named).
    """
    folder = Path(bundle_dir) / "configs"
    files = [folder / base] + [Path(c) if os.path.isabs(c) or os.sep in c else folder / c for c in configs]
    for f in files:
        if not f.is_file():
            raise FileNotFoundError(f"{f}: bundle config not found")
    return [str(f) for f in files]


def writer_indices(transforms: Sequence[Any]) -> list[int]:
    """Positions of the writers (``_target_`` named ``Save...``) in a config's list of transform entries.

    Example:
        >>> writer_indices([{"_target_": "Activationsd"}, {"_target_": "SaveImaged"},
        ...                 {"_target_": "mammo_monai.inference.SaveOverlayd"}])
        [1, 2]
    """
    found = []
    for i, entry in enumerate(transforms):
        target = entry.get("_target_", "") if isinstance(entry, Mapping) else ""
        if isinstance(target, str) and target.rsplit(".", 1)[-1].startswith("Save"):
            found.append(i)
    return found


def load_weights(network: torch.nn.Module, path: str | os.PathLike, device: torch.device | str = "cpu") -> None:
    """Load a bundle checkpoint into ``network``: a bare ``state_dict`` or a dict holding one under ``"model"``
    (what the bundles' ``CheckpointSaver`` writes, as MONAI's ``CheckpointLoader`` reads both).

    Raises:
        ValueError: the file is not a checkpoint of this network (the message names the file).
    """
    checkpoint = torch.load(path, map_location=device, weights_only=True)
    state = checkpoint.get("model", checkpoint) if isinstance(checkpoint, Mapping) else None
    if not isinstance(state, Mapping):
        raise ValueError(f"{path}: not a checkpoint (expected a state_dict or {{'model': state_dict}})")
    try:
        network.load_state_dict(state)
    except RuntimeError as e:
        raise ValueError(f"{path}: does not fit the bundle's network_def: {e}") from e


class BundleInference:
    """One bundle's inference components, with its checkpoint reloaded whenever the file changes.

    Args:
        bundle_dir: the bundle (``configs/inference.json`` inside).
        checkpoint: the weights to serve (``model.pt``); it may appear later (after a training run).
        configs: further config files layered over ``inference.json`` (names in the bundle's ``configs/``, such as
            ``"mias_cpu.json"``, or paths), as ``monai.bundle run --config_file`` layers them.
        overrides: config values to set before parsing (``{"image_size": 512}``).
        device: where the network runs (default: the bundle's own ``device`` expression).

    The bundle's ``output_dir`` is pointed at a scratch path of its own in the temporary folder, which is not created
    (the writers are off: nothing should land there; a process that is killed leaves nothing behind). Should
    anything create it, it is removed by :meth:`close`, at the end of a ``with`` block, or when the object is
    garbage collected or the interpreter exits, whichever comes first.

    Example:
        >>> runner = BundleInference("bundles/mammo_mass_segmentation", "work/segmentation/model.pt")  # doctest: +SKIP
        >>> out = runner("mdb001.png")  # doctest: +SKIP
        >>> out["pred"].shape  # the label on the image's own (1, rows, cols) grid  # doctest: +SKIP
        torch.Size([1, 1024, 1024])
    """

    def __init__(self, bundle_dir: str | os.PathLike, checkpoint: str | os.PathLike,
                 configs: Sequence[str] = (), overrides: Mapping[str, Any] | None = None,
                 device: str | None = None) -> None:
        self.bundle_dir = Path(bundle_dir).resolve()
        self.checkpoint = Path(checkpoint)
        files = bundle_config_files(self.bundle_dir, "inference.json", configs)
        self._scratch = os.path.join(tempfile.gettempdir(), f"mammo_bundle_{uuid.uuid4().hex[:12]}")
        self._remove_scratch = weakref.finalize(self, shutil.rmtree, self._scratch, ignore_errors=True)
        parser = ConfigParser()
        parser.read_config(files)
        # nothing of the bundle's default data or output folders is touched: the writers are off and the
        # expressions that would index the embedded synthetic data are never evaluated
        parser.update({"bundle_root": str(self.bundle_dir), "output_dir": self._scratch, "data_root_dir": "",
                       "num_workers": 0, **dict(overrides or {})})
        if device is not None:
            parser["device"] = f"$torch.device('{device}')"
        for i in writer_indices(parser["postprocessing"]["transforms"]):
            parser[f"postprocessing#transforms#{i}#_disabled_"] = True
        self.parser = parser
        self.device = torch.device(parser.get_parsed_content("device"))
        self.network: torch.nn.Module = parser.get_parsed_content("network")
        self.preprocessing = parser.get_parsed_content("preprocessing")
        self.inferer = parser.get_parsed_content("inferer")
        self.postprocessing = parser.get_parsed_content("postprocessing")
        self.collate = parser.get_parsed_content("dataloader#collate_fn") if "collate_fn" in parser["dataloader"] \
            else None
        self.amp = bool(parser.get_parsed_content("amp")) if "amp" in parser else False
        self._loaded: tuple[float, int] | None = None
        self._lock = threading.RLock()  # __call__ holds it around predict_preprocessed

    def close(self) -> None:
        """Remove the scratch folder if anything made it (idempotent; the object must not be called afterwards)."""
        self._remove_scratch()

    def __enter__(self) -> BundleInference:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def get(self, key: str, default: Any = None) -> Any:
        """A parsed value of the bundle's config (``classes``, ``pixdim``, ...), or ``default``."""
        return self.parser.get_parsed_content(key) if key in self.parser else default

    def is_ready(self) -> bool:
        """Whether there are weights to serve."""
        return self.checkpoint.is_file()

    def _ensure_weights(self) -> None:
        if not self.is_ready():
            raise FileNotFoundError(f"{self.checkpoint}: no checkpoint yet (train the model or copy a model.pt there)")
        stat = self.checkpoint.stat()
        stamp = (stat.st_mtime, stat.st_size)
        if stamp != self._loaded:
            load_weights(self.network, self.checkpoint, self.device)
            self.network.eval()
            self._loaded = stamp
            logger.info("loaded %s into %s", self.checkpoint, self.bundle_dir.name)

    def __call__(self, image: str | os.PathLike, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Run the bundle on one image file; returns the item after the bundle's postprocessing (``pred`` and
        whatever the postprocessing adds, such as the detector's ``candidates``).

        Args:
            image: a file the bundle's reader reads (DICOM, PNG, PGM, TIFF).
            extra: further item keys for the preprocessing (lesion positions for the lesion classifier).
        """
        with self._lock:
            self._ensure_weights()
            item = self.preprocessing({"image": str(image), **dict(extra or {})})
            batch = (self.collate or list_data_collate)([item])
            inputs = batch["image"].to(self.device)
            pred = self.predict_preprocessed(inputs)
            merged = {**decollate_batch(batch)[0], **decollate_batch({"image": inputs, "pred": pred})[0]}
            return self.postprocessing(merged)

    def predict_preprocessed(self, inputs: torch.Tensor) -> torch.Tensor:
        """The bundle's inferer on an already preprocessed batch ``(B, C, ...)`` (for test-time augmentation)."""
        with self._lock:
            self._ensure_weights()
            with torch.no_grad(), torch.autocast(self.device.type, enabled=self.amp and self.device.type == "cuda"):
                return self.inferer(inputs.to(self.device), self.network)


def segmentation_mask(output: Mapping[str, Any]) -> np.ndarray:
    """The segmentation bundle's ``pred`` (argmax label, inverted onto the image's grid) as a ``(rows, cols)``
    ``uint8`` mask."""
    mask = convert_to_numpy(output["pred"])
    return mask.reshape(mask.shape[-2:]).astype(np.uint8)


def finding_labels(classes: Sequence[str]) -> dict[str, int]:
    """The detector's classes other than ``normal``, numbered from 1 (the label values of its masks).

    Example:
        >>> finding_labels(["normal", "mass", "calcification"])
        {'mass': 1, 'calcification': 2}
    """
    return {str(c): k for k, c in enumerate((c for c in classes if c != "normal"), start=1)}


def detection_candidates(output: Mapping[str, Any], classes: Sequence[str], threshold: float) -> list[dict[str, Any]]:
    """The detector's candidates (highest score first), each with ``point_xy`` (``[x, y]`` = ``[col, row]`` of the
    centre), ``label`` (the class's value among the non-``normal`` classes, from 1; 0 for an unknown class) and
    ``in_mask`` (``score >= threshold``), besides the bundle's ``score``, ``center`` (``[row, col]``), ``box``
    (``[r0, c0, r1, c1]`` half-open, in the image's pixels), ``class`` and ``probabilities``.

    Example:
        >>> out = {"candidates": [{"score": 0.2, "center": [5.0, 7.5], "box": [0, 2, 10, 12], "class": "mass"}]}
        >>> [(c["label"], c["point_xy"], c["in_mask"]) for c in detection_candidates(out, ["normal", "mass"], 0.5)]
        [(1, [7.5, 5.0], False)]
    """
    labels = finding_labels(classes)
    ranked = sorted(output.get("candidates", []), key=lambda c: c["score"], reverse=True)
    return [{**c, "point_xy": [float(c["center"][1]), float(c["center"][0])], "label": labels.get(c["class"], 0),
             "in_mask": bool(c["score"] >= threshold)} for c in ranked]


def class_probabilities(output: Mapping[str, Any], classes: Sequence[str]) -> dict[str, Any]:
    """``{"probabilities": {class: p}, "prediction": class}`` from a classifier's ``pred`` (after its softmax).

    Raises:
        ValueError: the number of outputs differs from the number of classes.
    """
    p = convert_to_numpy(output["pred"]).reshape(-1).astype(float)
    if len(p) != len(classes):
        raise ValueError(f"{len(p)} outputs for {len(classes)} classes {list(classes)}")
    return {"probabilities": {str(c): float(v) for c, v in zip(classes, p)},
            "prediction": str(classes[int(np.argmax(p))])}
