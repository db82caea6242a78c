"""Hard-negative mining for the patch detector: the previous epoch's false positives become training negatives.

:class:`HardNegativeMiner` is an Ignite handler for the training engine. Every ``interval`` epochs it sweeps
the current network over each cached training mammogram (:class:`~mammo_monai.inference.PatchHeatmapInferer`,
the inference sweep), takes the heatmap's peaks (:func:`~mammo_monai.inference.heatmap_candidates`) that lie
where a negative patch may be centred (the item's :class:`~mammo_monai.transforms.LesionPatchCentres`:
inside the breast, ``min_distance`` away from every lesion) and scored at least ``threshold``, and stores the
best ``max_per_image`` of them in the cached item (``hard_negatives``: flat indices of its grid).
:class:`~mammo_monai.transforms.RandLesionPatchesd` then draws ``hard_negative_fraction`` of its negatives
from them in the following epochs; the rest stay uniform over the breast.

Where the items live: the training ``CacheDataset``'s cache (all items cached, ``cache_rate`` 1), written in
the training process between epochs. DataLoader workers see it when they start, i.e. every epoch unless they
are persistent: the miner refuses ``persistent_workers`` with ``num_workers > 0``. Under DDP each rank mines
the items of its own partition.

Example (in a bundle's ``train#handlers``)::

    {"_target_": "mammo_monai.engines.HardNegativeMiner", "dataset": "@train#dataset",
     "inferer": "@mining_inferer", "classes": "@classes", "interval": 2, "max_per_image": 8}
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from monai.data import CacheDataset
from monai.utils import convert_to_numpy

from mammo_monai.inference.detection import PatchHeatmapInferer, heatmap_candidates
from mammo_monai.transforms.patches import HARD_NEGATIVES_KEY, PATCH_CENTRES_KEY, LesionPatchCentres
from mammo_monai.transforms.utils import BREAST_MASK_KEY

__all__ = ["HardNegativeMiner", "mine_hard_negatives"]

logger = logging.getLogger(__name__)


def mine_hard_negatives(
    heatmap: np.ndarray,
    classes: Sequence[str],
    centres: LesionPatchCentres,
    breast_mask: np.ndarray | None = None,
    threshold: float = 0.5,
    max_per_image: int = 8,
    min_distance: int = 8,
) -> np.ndarray:
    """Flat indices (``row * cols + col``) of the heatmap's peaks that are allowed negative centres.

    Args:
        heatmap: ``(K, rows, cols)`` class probabilities on the item's grid.
        classes: the class names (``"normal"`` the no-finding class).
        centres: the item's patch centres (its allowed negatives).
        breast_mask: peaks only inside it.
        threshold: the lowest abnormality score of a hard negative.
        max_per_image: keep the best this many.
        min_distance: px between two peaks.

    Example:
        >>> heat = np.zeros((2, 20, 20), np.float32); heat[0] = 1; heat[:, 5, 5] = [0.2, 0.8]
        >>> centres = LesionPatchCentres((20, 20), {}, np.arange(400), [], [])
        >>> mine_hard_negatives(heat, ["normal", "abnormal"], centres).tolist()
        [105]
    """
    if tuple(heatmap.shape[1:]) != tuple(centres.shape):
        raise ValueError(f"the heatmap {tuple(heatmap.shape[1:])} is not on the item's grid {tuple(centres.shape)}")
    found = heatmap_candidates(heatmap, classes, breast_mask, min_distance=min_distance, threshold=threshold,
                               max_candidates=max(4 * max_per_image, 16))
    cols = centres.shape[1]
    flat = np.array([round(c["center"][0]) * cols + round(c["center"][1]) for c in found], np.int64)
    allowed = flat[np.isin(flat, centres.negatives)] if flat.size else flat
    return allowed[:max_per_image]


class HardNegativeMiner:
    """Ignite handler: store each cached training item's false-positive peaks as its hard negatives.

    Args:
        dataset: the training ``CacheDataset`` (every item cached; its cached items end with the patch centres).
        inferer: the sweep (a :class:`~mammo_monai.inference.PatchHeatmapInferer` with the training patch size;
            a smaller ``overlap`` than inference's keeps mining cheap).
        classes: the network's class names.
        interval: mine after every ``interval``-th epoch, from ``start_epoch`` on (not after the last epoch).
        start_epoch: the first epoch after which to mine (the network should be past its first guesses).
        threshold, max_per_image, min_distance: as in :func:`mine_hard_negatives`.
        network: the network (default: the engine's).
        image_key, breast_mask_key, centres_key, hard_negatives_key: the cached item's entries.
        amp: autocast on CUDA.

    Each round logs how many hard negatives it found on how many images and how long it took, and keeps the
    counts in ``self.history`` (epoch, images with hard negatives, hard negatives, seconds).
    """

    def __init__(self, dataset: CacheDataset, inferer: PatchHeatmapInferer, classes: Sequence[str],
                 interval: int = 1, start_epoch: int = 1, threshold: float = 0.5, max_per_image: int = 8,
                 min_distance: int = 8, network: torch.nn.Module | None = None, image_key: str = "image",
                 breast_mask_key: str | None = BREAST_MASK_KEY, centres_key: str = PATCH_CENTRES_KEY,
                 hard_negatives_key: str = HARD_NEGATIVES_KEY, amp: bool = False) -> None:
        if not isinstance(dataset, CacheDataset):
            raise TypeError(f"HardNegativeMiner needs the training CacheDataset (the items it writes into), got "
                            f"{type(dataset).__name__}")
        if int(interval) < 1 or int(start_epoch) < 1 or int(max_per_image) < 1:
            raise ValueError("interval, start_epoch and max_per_image must be >= 1")
        self.dataset, self.inferer, self.classes = dataset, inferer, [str(c) for c in classes]
        self.interval, self.start_epoch = int(interval), int(start_epoch)
        self.options = {"threshold": float(threshold), "max_per_image": int(max_per_image),
                        "min_distance": int(min_distance)}
        self.network, self.amp = network, bool(amp)
        self.image_key, self.breast_mask_key = image_key, breast_mask_key
        self.centres_key, self.hard_negatives_key = centres_key, hard_negatives_key
        self.history: list[dict[str, Any]] = []

    def attach(self, engine: Any) -> None:
        from ignite.engine import Events

        loader = getattr(engine, "data_loader", None)
        if loader is not None and getattr(loader, "persistent_workers", False) and loader.num_workers > 0:
            raise ValueError("HardNegativeMiner: persistent DataLoader workers would never see the mined items; "
                             "set persistent_workers false (or num_workers 0)")
        engine.add_event_handler(Events.EPOCH_COMPLETED, self)

    def _cached_items(self) -> list[dict]:
        cache = getattr(self.dataset, "_cache", None)
        if not isinstance(cache, list) or len(cache) != len(self.dataset.data):
            raise ValueError(f"HardNegativeMiner: the training CacheDataset must cache every item (cache_rate 1.0); "
                             f"{len(cache) if isinstance(cache, list) else 0} of {len(self.dataset.data)} cached")
        bad = [i for i, item in enumerate(cache) if not isinstance(item, dict) or
               not isinstance(item.get(self.centres_key), LesionPatchCentres)]
        if bad:
            raise ValueError(f"HardNegativeMiner: cached item {bad[0]} has no {self.centres_key!r} "
                             f"(LesionPatchCentresd must be the last cached transform)")
        return cache

    def mine(self, network: torch.nn.Module, device: torch.device | str) -> dict[str, Any]:
        """One round over every cached item; returns its counts."""
        start = time.perf_counter()
        items = self._cached_items()
        was_training = network.training
        network.eval()
        n_found = n_images = 0
        try:
            with torch.no_grad(), torch.autocast(device_type=torch.device(device).type, enabled=self.amp):
                for item in items:
                    image = torch.as_tensor(item[self.image_key]).float()[None].to(device)
                    heat = convert_to_numpy(self.inferer(image, network)[0], dtype=np.float32)
                    breast = item.get(self.breast_mask_key) if self.breast_mask_key else None
                    found = mine_hard_negatives(heat, self.classes, item[self.centres_key],
                                                breast, **self.options)
                    item[self.hard_negatives_key] = found
                    n_found += int(found.size)
                    n_images += int(found.size > 0)
        finally:
            network.train(was_training)
        return {"images_with_hard_negatives": n_images, "hard_negatives": n_found, "images": len(items),
                "seconds": round(time.perf_counter() - start, 2)}

    def __call__(self, engine: Any) -> None:
        epoch = int(engine.state.epoch)
        if epoch < self.start_epoch or (epoch - self.start_epoch) % self.interval:
            return
        if epoch >= int(getattr(engine.state, "max_epochs", None) or epoch + 1):
            return  # no epoch left to train on what would be mined
        network = self.network if self.network is not None else engine.network
        device = getattr(engine.state, "device", None) or next(network.parameters()).device
        counts = {"epoch": epoch, **self.mine(network, device)}
        self.history.append(counts)
        logger.info("hard-negative mining after epoch %d: %d hard negatives on %d of %d images (%.1f s)", epoch,
                    counts["hard_negatives"], counts["images_with_hard_negatives"], counts["images"],
                    counts["seconds"])
