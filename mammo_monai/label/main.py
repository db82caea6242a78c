"""The mammo-monai MONAI Label app (this folder is the app directory)::

    .venv-label/bin/python -m monailabel.main start_server --app mammo_monai/label --studies /data/studies \\
        --conf model_dir work/label_models --conf configs mias_cpu.json

Conf keys (``--conf KEY VALUE``; all optional):

- ``model_dir``: where the served checkpoints live, ``<model_dir>/<bundle>/model.pt`` (default
  ``~/.cache/mammo_monai/label``). Training runs write below it too (``<bundle>/train/<time>/``).
- ``bundles``: the bundles folder (default: the project's ``bundles/``); ``models``: which bundles to serve,
  comma-separated (default ``mammo_mass_segmentation,mammo_patch_detection,mammo_image_classification``).
- ``configs``: configs layered over each bundle's ``inference.json`` and ``train.json`` where the bundle has
  them (such as ``mias_cpu.json``, the recipes measured on 2 CPU cores); the same for serving and training.
- ``checkpoint_<bundle>``: a model.pt to start from when ``model_dir`` has none for that bundle (copied; the
  original is not touched). A bundle without weights is trained before it is listed as a model.
- ``device`` (default: CUDA when there is one), ``detection_threshold`` (0.5: candidates drawn into the
  detection mask), ``uncertainty`` (``tta`` or ``dropout``), ``uncertainty_max_images`` (20),
  ``max_epochs`` (10) and ``val_fraction`` (0.2) of a training request, ``extensions`` (the studies files
  listed, comma-separated), ``allow_delete`` (false: the datastore never deletes the user's images).
- DICOMweb (``--studies http://host:8042/dicom-web``): ``dicomweb_filter`` (the QIDO filter of the series
  listed, JSON, default ``{"Modality": "MG"}``); the cache is ``MONAI_LABEL_DATASTORE_CACHE_PATH`` or
  ``<model_dir>/dicomweb_cache``; MONAI Label's QIDO/WADO/STOW prefix and user/password settings apply.

Infer tasks, train tasks and strategies are named after the bundles; the strategies are ``random``, ``first``
(the first unlabelled image by id) and ``uncertainty``. Image ids and label tags that name a path are refused
with HTTP 400 (:mod:`mammo_monai.label.ids`).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from fastapi import HTTPException
from monailabel.interfaces.app import MONAILabelApp
from monailabel.interfaces.datastore import Datastore
from monailabel.tasks.activelearning.first import First
from monailabel.tasks.activelearning.random import Random

from mammo_monai.inference.bundle import BundleInference, default_bundles_dir
from mammo_monai.label.datastore import CheckedDICOMWebDatastore, CheckedLocalDatastore
from mammo_monai.label.ids import check_id
from mammo_monai.label.infer import BundleInfer, ClassificationInfer, DetectionInfer, SegmentationInfer
from mammo_monai.label.label_files import LABEL_CLASSES
from mammo_monai.label.strategies import TestTimeUncertainty
from mammo_monai.label.train import BundleFineTune

logger = logging.getLogger(__name__)

SEGMENTATION, DETECTION, CLASSIFICATION = "mammo_mass_segmentation", "mammo_patch_detection", \
    "mammo_image_classification"
DEFAULT_MODELS = (SEGMENTATION, DETECTION, CLASSIFICATION)
DEFAULT_EXTENSIONS = ("*.png", "*.pgm", "*.pnm", "*.tif", "*.tiff", "*.dcm", "*.dicom", "*.nii.gz", "*.nii",
                      "*.nrrd")


def _flag(value: Any) -> bool:
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


def _names(value: Any, default: Sequence[str] = ()) -> list[str]:
    if value in (None, ""):
        return list(default)
    return [v.strip() for v in str(value).split(",") if v.strip()]


def _require_lesions(kind: str):
    def check(items: Sequence[Mapping[str, Any]]) -> None:
        if not any(lesion["type"] == kind for item in items for lesion in item["lesions"]):
            value = next(v for v, name in LABEL_CLASSES.items() if name == kind)
            raise ValueError(f"no saved label has a {kind} (label value {value}): nothing to learn from yet")

    return check


class MammographyApp(MONAILabelApp):
    """Serves the project's bundles (see the module docstring for the conf keys)."""

    def __init__(self, app_dir: str, studies: str, conf: dict[str, str]) -> None:
        conf = dict(conf or {})
        self.model_dir = Path(conf.get("model_dir") or Path.home() / ".cache" / "mammo_monai" / "label").resolve()
        self.bundles_dir = Path(conf.get("bundles") or default_bundles_dir()).resolve()
        self.model_names = _names(conf.get("models"), DEFAULT_MODELS)
        unknown = [m for m in self.model_names if m not in DEFAULT_MODELS]
        if unknown:
            raise ValueError(f"models: unknown {unknown}; this app serves {', '.join(DEFAULT_MODELS)}")
        self.layered = _names(conf.get("configs"))
        self.device = conf.get("device") or ("cuda" if torch.cuda.is_available() else "cpu")
        self.runners: dict[str, BundleInference] = {}
        for name in self.model_names:
            bundle = self.bundles_dir / name
            checkpoint = self.model_dir / name / "model.pt"
            self._seed_checkpoint(checkpoint, conf.get(f"checkpoint_{name}"))
            self.runners[name] = BundleInference(bundle, checkpoint, configs=self._configs(bundle, "inference.json"),
                                                 device=self.device)
        super().__init__(app_dir=app_dir, studies=studies, conf=conf, name="mammo-monai",
                         description="Mammography: mass segmentation, patch detection and whole-image "
                                     "classification from the mammo-monai bundles", version="0.1.0")

    # -- configuration -----------------------------------------------------------------------------------------

    def _configs(self, bundle: Path, base: str) -> list[str]:
        """The layered configs this bundle has (a recipe missing for one bundle is skipped for it, logged)."""
        present = [c for c in self.layered if (bundle / "configs" / c).is_file() or os.path.isfile(c)]
        for c in set(self.layered) - set(present):
            logger.info("%s: no %s, served with %s alone", bundle.name, c, base)
        return present

    def _seed_checkpoint(self, checkpoint: Path, initial: str | None) -> None:
        if checkpoint.is_file() or not initial:
            return
        if not os.path.isfile(initial):
            raise FileNotFoundError(f"{initial}: checkpoint given for {checkpoint.parent.name} not found")
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(initial, checkpoint)
        logger.info("%s: started from a copy of %s", checkpoint.parent.name, initial)

    # -- MONAI Label hooks -------------------------------------------------------------------------------------

    def init_datastore(self) -> Datastore:
        if self.studies.startswith(("http://", "https://")):
            return super().init_datastore()
        return CheckedLocalDatastore(
            self.studies, extensions=_names(self.conf.get("extensions"), DEFAULT_EXTENSIONS),
            auto_reload=True, allow_delete=_flag(self.conf.get("allow_delete", "false")),
        )

    def init_remote_datastore(self) -> Datastore:
        """A DICOMweb server (MONAI Label's own XNAT/DSA datastores are not offered: they hold no mammograms)."""
        from monailabel.config import settings
        from monailabel.datastore.dicom import DICOMwebClientX

        session = None
        user = settings.MONAI_LABEL_DATASTORE_USERNAME or settings.MONAI_LABEL_DICOMWEB_USERNAME
        password = settings.MONAI_LABEL_DATASTORE_PASSWORD or settings.MONAI_LABEL_DICOMWEB_PASSWORD
        if user and password:
            from dicomweb_client.session_utils import create_session_from_user_pass

            session = create_session_from_user_pass(user, password)
        client = DICOMwebClientX(url=self.studies, session=session, qido_url_prefix=settings.MONAI_LABEL_QIDO_PREFIX,
                                 wado_url_prefix=settings.MONAI_LABEL_WADO_PREFIX,
                                 stow_url_prefix=settings.MONAI_LABEL_STOW_PREFIX)
        cache = (settings.MONAI_LABEL_DATASTORE_CACHE_PATH or settings.MONAI_LABEL_DICOMWEB_CACHE_PATH or "").strip()
        search_filter = json.loads(self.conf.get("dicomweb_filter") or '{"Modality": "MG"}')
        return CheckedDICOMWebDatastore(client, search_filter,
                                        cache_path=cache or str(self.model_dir / "dicomweb_cache"),
                                        algorithm=self.name or "mammo-monai",
                                        allow_delete=_flag(self.conf.get("allow_delete", "false")))

    def init_infers(self) -> dict[str, BundleInfer]:
        infers: dict[str, BundleInfer] = {}
        for name, runner in self.runners.items():
            if name == SEGMENTATION:
                infers[name] = SegmentationInfer(name, runner)
            elif name == DETECTION:
                infers[name] = DetectionInfer(name, runner, threshold=float(self.conf.get("detection_threshold", 0.5)))
            else:
                infers[name] = ClassificationInfer(name, runner)
            if not runner.is_ready():
                logger.warning("%s: no checkpoint at %s; listed once trained (POST /train/%s) or given with "
                               "--conf checkpoint_%s FILE", name, runner.checkpoint, name, name)
        return infers

    def init_trainers(self) -> dict[str, BundleFineTune]:
        trainers: dict[str, BundleFineTune] = {}
        common = {"max_epochs": int(self.conf.get("max_epochs", 10)),
                  "val_fraction": float(self.conf.get("val_fraction", 0.2))}
        for name, runner in self.runners.items():
            bundle = self.bundles_dir / name
            configs = self._configs(bundle, "train.json")
            if name == SEGMENTATION:
                trainers[name] = BundleFineTune(name, bundle, runner.checkpoint, configs,
                                                {"label_source": "file"}, require=_require_lesions("mass"), **common)
            elif name == DETECTION:
                trainers[name] = BundleFineTune(name, bundle, runner.checkpoint, configs, **common)
            elif runner.get("task") == "abnormal":
                trainers[name] = BundleFineTune(name, bundle, runner.checkpoint, configs, **common)
            else:
                logger.info("%s: no train task: its task %r needs pathology, which a drawn label does not carry "
                            "(serve it with the 'abnormal' task, e.g. configs mias_cpu.json, to train it here)",
                            name, runner.get("task"))
        return trainers

    def init_strategies(self) -> dict[str, Any]:
        strategies: dict[str, Any] = {"random": Random(), "first": First()}
        if SEGMENTATION in self.runners:
            strategies["uncertainty"] = TestTimeUncertainty(
                self.runners[SEGMENTATION], method=self.conf.get("uncertainty", "tta"),
                max_images=int(self.conf.get("uncertainty_max_images", 20)))
        return strategies

    def infer(self, request, datastore=None):
        """MONAI Label's infer after refusing an ``image`` that is a path: an uploaded file (which the server
        stores as a temporary file) and datastore ids pass; ``../x`` or ``/etc/x`` get a 400, an unknown id a 404."""
        image = request.get("image")
        if isinstance(image, str):
            uploaded = os.path.isfile(image) and os.path.dirname(os.path.abspath(image)) == tempfile.gettempdir()
            if not uploaded:
                check_id(image)
                if image not in (datastore or self.datastore()).list_images():
                    raise HTTPException(status_code=404, detail=f"no image {image!r} in the datastore")
        model = request.get("model")
        if model and model in self._infers and not self._infers[model].is_valid():
            raise HTTPException(status_code=409, detail=f"model {model!r} has no checkpoint yet: train it first")
        if model and model not in self._infers:
            raise HTTPException(status_code=404, detail=f"no model {model!r}; this app serves "
                                f"{', '.join(sorted(self._infers))}")
        return super().infer(request, datastore)

    def on_init_complete(self):
        super().on_init_complete()
        for name, runner in self.runners.items():
            state = "ready" if runner.is_ready() else "no checkpoint yet"
            logger.info("%s: %s (%s)", name, state, runner.checkpoint)
