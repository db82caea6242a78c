"""Active learning by uncertainty: the unlabelled image on which the segmentation model disagrees most with
itself, for the annotator's next correction.

Each unlabelled image goes through the bundle's own preprocessing once; the network then sees ``samples``
versions of it (test-time augmentation: the image itself, flipped top-bottom, and gamma 0.8 / 1.25 — changes a
mammogram may show between acquisitions, unlike a left-right flip, which the laterality normalisation undoes;
or, with ``method="dropout"``, the same image with the network's dropout layers left on: MC dropout). The score
is ``1 - `` the mean pairwise Dice of the thresholded foreground masks (0 when no version finds anything): 0
means every version agrees. Scores are cached per image and checkpoint, and at most ``max_images`` new images
are scored per request (those not yet scored first), so a large studies folder does not stall the server.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Callable, Sequence

import torch
from monailabel.interfaces.datastore import Datastore
from monailabel.interfaces.tasks.strategy import Strategy

from ..inference.bundle import BundleInference
from .infer import source_image

__all__ = ["TTA_AUGMENTATIONS", "TestTimeUncertainty", "mask_disagreement"]

logger = logging.getLogger(__name__)


def _flip_rows(x: torch.Tensor) -> torch.Tensor:
    return torch.flip(x, dims=[-2])


def _gamma(g: float) -> Callable[[torch.Tensor], torch.Tensor]:
    def apply(x: torch.Tensor) -> torch.Tensor:
        low, high = x.min(), x.max()
        scale = (high - low).clamp_min(1e-6)
        return ((x - low) / scale) ** g * scale + low

    return apply


#: name -> (augmentation of the preprocessed batch, its inverse on the prediction)
TTA_AUGMENTATIONS: dict[str, tuple[Callable[[torch.Tensor], torch.Tensor], Callable[[torch.Tensor], torch.Tensor]]] = {
    "identity": (lambda x: x, lambda y: y),
    "flip_rows": (_flip_rows, _flip_rows),
    "gamma_0.8": (_gamma(0.8), lambda y: y),
    "gamma_1.25": (_gamma(1.25), lambda y: y),
}


def mask_disagreement(masks: Sequence[torch.Tensor]) -> float:
    """``1 -`` the mean pairwise Dice of boolean masks; pairs where both are empty agree (Dice 1).

    Example:
        >>> a = torch.zeros(4, 4, dtype=torch.bool); b = a.clone(); b[:2] = True; c = b.clone()
        >>> mask_disagreement([a, a]), mask_disagreement([b, c]), mask_disagreement([a, b])
        (0.0, 0.0, 1.0)
    """
    dices = []
    for a, b in itertools.combinations(masks, 2):
        total = int(a.sum()) + int(b.sum())
        dices.append(1.0 if total == 0 else 2.0 * int((a & b).sum()) / total)
    return float(1.0 - sum(dices) / len(dices)) if dices else 0.0


class TestTimeUncertainty(Strategy):
    """The unlabelled image with the highest disagreement score (see the module docstring).

    Args:
        runner: the segmentation bundle (its preprocessing, network and inferer).
        method: ``"tta"`` (the augmentations above) or ``"dropout"`` (MC dropout; the network must have
            dropout layers, such as the ``mias_cpu`` UNet).
        samples: MC-dropout passes (``"tta"``: all four augmentations).
        max_images: at most this many images are newly scored per request.
        foreground: the class channel scored (1: mass) and ``threshold`` its probability cut.
    """

    __test__ = False  # not a pytest class, whatever its name says

    def __init__(self, runner: BundleInference, method: str = "tta", samples: int = 4, max_images: int = 20,
                 foreground: int = 1, threshold: float = 0.5) -> None:
        if method not in ("tta", "dropout"):
            raise ValueError(f"method must be 'tta' or 'dropout', got {method!r}")
        super().__init__(f"Uncertainty of {runner.bundle_dir.name} "
                         f"({'test-time augmentation' if method == 'tta' else 'MC dropout'}) over unlabelled images")
        self.runner, self.method, self.samples = runner, method, int(samples)
        self.max_images, self.foreground, self.threshold = int(max_images), int(foreground), float(threshold)
        self._scores: dict[tuple[str, float], float] = {}

    def score(self, image: str | os.PathLike) -> float:
        """The disagreement score of one image file."""
        item = self.runner.preprocessing({"image": source_image(image)})
        x = item["image"].as_tensor()[None] if hasattr(item["image"], "as_tensor") else item["image"][None]
        masks = []
        if self.method == "tta":
            for forward, inverse in TTA_AUGMENTATIONS.values():
                masks.append(self._foreground(inverse(self.runner.predict_preprocessed(forward(x)))))
        else:
            network = self.runner.network
            # layers with p = 0 (MONAI's blocks often hold some) would give identical samples: a score of 0
            dropouts = [m for m in network.modules() if isinstance(m, torch.nn.modules.dropout._DropoutNd) and m.p > 0]
            if not dropouts:
                raise ValueError(f"{self.runner.bundle_dir.name}: the network has no dropout layer (p > 0) for MC "
                                 "dropout (use method 'tta', or a network_def with dropout)")
            try:
                for m in dropouts:
                    m.train()
                for _ in range(self.samples):
                    masks.append(self._foreground(self.runner.predict_preprocessed(x)))
            finally:
                network.eval()
        return mask_disagreement(masks)

    def _foreground(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.softmax(logits.float(), dim=1)[0, self.foreground] >= self.threshold

    def __call__(self, request, datastore: Datastore):
        images = sorted(datastore.get_unlabeled_images(request.get("label_tag"), request.get("labels")))
        if not images:
            return None
        if not self.runner.is_ready():
            raise ValueError(f"{self.runner.checkpoint}: no checkpoint to score uncertainty with (train first, "
                             "or use the random/first strategy)")
        stamp = self.runner.checkpoint.stat().st_mtime
        scored = {i: self._scores[(i, stamp)] for i in images if (i, stamp) in self._scores}
        for image_id in [i for i in images if i not in scored][: self.max_images]:
            scored[image_id] = self.score(datastore.get_image_uri(image_id))
            self._scores[(image_id, stamp)] = scored[image_id]
        best = max(sorted(scored), key=lambda i: scored[i])
        logger.info("uncertainty: %s (%.3f) out of %d scored", best, scored[best], len(scored))
        return {"id": best, "uncertainty": scored[best], "scored": len(scored), "unlabelled": len(images)}
