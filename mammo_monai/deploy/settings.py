"""The app's settings: which bundles, layered configs, threshold, selection rules, device.

Defaults run the project's three bundles with their own ``inference.json``. A JSON file named by the environment
variable ``MAMMO_DEPLOY_SETTINGS`` changes any of them (a MAP passes it with ``--env`` or bakes it in):

.. code-block:: json

    {"configs": {"mammo_patch_detection": ["mias_cpu.json"]},
     "overrides": {"mammo_patch_detection": {"default_spacing": 0.05}},
     "detection_threshold": 0.5, "device": "cpu", "overwrite": false}

Checkpoints are ``<models>/<bundle name>/model.pt`` under the models folder (``-m``, ``HOLOSCAN_MODEL_PATH``;
the layout ``holoscan package --models`` copies into a MAP).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..inference.bundle import default_bundles_dir
from .loading import MIN_FIELD_MM
from .selection import MAMMOGRAPHY_RULES

__all__ = ["SETTINGS_ENV", "DeploySettings"]

SETTINGS_ENV = "MAMMO_DEPLOY_SETTINGS"


@dataclass
class DeploySettings:
    """Attributes:
    bundles_dir: folder holding the bundles (default: the project's ``bundles/``; ``MAMMO_DEPLOY_BUNDLES``).
    segmentation, classification, detection: the bundle run for each job (folder names in ``bundles_dir``).
    configs: bundle name -> config files layered over its ``inference.json`` (names in its ``configs/`` or paths).
    overrides: bundle name -> config values set before parsing.
    detection_threshold: candidates scoring at least this go into the SR (all are in the JSON summary).
    rules: the SDK series selector's rules (JSON text).
    min_field_mm: shorter side under which an image with known spacing is a crop.
    device: ``"cpu"``, ``"cuda:0"``, ... (default: each bundle's own ``device`` expression).
    overwrite: replace outputs of an earlier run in the output folder.
    """

    bundles_dir: str = field(default_factory=lambda: os.environ.get("MAMMO_DEPLOY_BUNDLES")
                             or str(default_bundles_dir()))
    segmentation: str = "mammo_mass_segmentation"
    classification: str = "mammo_image_classification"
    detection: str = "mammo_patch_detection"
    configs: dict[str, list[str]] = field(default_factory=dict)
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    detection_threshold: float = 0.5
    rules: str = MAMMOGRAPHY_RULES
    min_field_mm: float = MIN_FIELD_MM
    device: str | None = None
    overwrite: bool = False

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> DeploySettings:
        """Settings from a JSON object of these attributes.

        Raises:
            ValueError: not JSON, or keys that are no setting (named).
        """
        try:
            values = json.loads(Path(path).read_text())
        except (OSError, ValueError) as e:
            raise ValueError(f"{path}: cannot read the deploy settings: {e}") from e
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known) if isinstance(values, dict) else ["(not a JSON object)"]
        if unknown:
            raise ValueError(f"{path}: unknown setting(s) {unknown}; known: {sorted(known)}")
        if isinstance(values.get("rules"), dict):
            values["rules"] = json.dumps(values["rules"])
        return cls(**values)

    @classmethod
    def from_env(cls) -> DeploySettings:
        """From the file ``$MAMMO_DEPLOY_SETTINGS`` names, else the defaults."""
        path = os.environ.get(SETTINGS_ENV)
        return cls.from_file(path) if path else cls()

    def bundle_dir(self, kind: str) -> Path:
        """The folder of the bundle run for ``kind`` (``"segmentation"``, ...).

        Raises:
            FileNotFoundError: it has no ``configs/inference.json``.
        """
        folder = Path(self.bundles_dir) / getattr(self, kind)
        if not (folder / "configs" / "inference.json").is_file():
            raise FileNotFoundError(f"{folder}: no bundle there (configs/inference.json missing); set bundles_dir "
                                    f"or {kind} in ${SETTINGS_ENV}")
        return folder
