"""From a patch classifier to lesion candidates on the original mammogram: heatmap, peaks, JSON and overlay.

The detection bundle's inference (MONAI's pathology tumour-detection recipe brought to mammograms):

1. :class:`PatchHeatmapInferer`: MONAI's ``SlidingWindowInferer`` sweeps the patch classifier over the
   preprocessed mammogram (breast crop, resampled to the training pixel size); each window's class
   probabilities (softmax of the ``(B, K)`` logits) are spread over the window and blended (Gaussian by
   default), which gives a ``(K, rows, cols)`` probability heatmap on the preprocessed grid.
2. :class:`HeatmapCandidatesd`: the abnormality score (``1 - p(normal)``) is masked to the breast; its local
   maxima (``skimage.feature.peak_local_max``: a maximum filter of ``min_distance`` px, i.e. non-maximum
   suppression within that radius) above ``threshold`` are the candidates, each with a score, a class (the
   most likely abnormal class at the peak), its class probabilities, a centre and a box (the part of the
   score's connected region above ``box_level`` x the peak, within ``box_radius`` of it). Centres and boxes
   are mapped to the ORIGINAL image's pixel grid through the affines MONAI tracks (``inv(original_affine) @
   affine``): breast crop, resampling and laterality flip undone exactly, without resampling the heatmap.
3. :class:`SaveDetectionsd`: one JSON per image (the format ``mammo-monai eval detection`` reads) and an
   overlay PNG (the original mammogram with the heatmap in colour and the candidate boxes).

The JSON::

    {"image": "<the image's path>", "image_shape": [rows, cols], "classes": ["normal", "mass", ...],
     "pixdim": [0.4, 0.4], "candidates": [{"score": 0.93, "center": [row, col], "box": [r0, c0, r1, c1],
     "class": "mass", "probabilities": {"mass": 0.9, "calcification": 0.03}}, ...]}

with ``center`` (fractional) and ``box`` (half-open, like the datalists' lesion records) in the original
image's pixels, candidates sorted by score.

Example:
    >>> import torch
    >>> from monai.data import MetaTensor
    >>> heat = torch.zeros(3, 60, 40); heat[0] = 1.0                       # all normal ...
    >>> heat[:, 18:23, 8:13] = torch.tensor([0.1, 0.8, 0.1])[:, None, None]  # ... but a mass at (20, 10)
    >>> image = MetaTensor(torch.zeros(1, 60, 40), meta={"original_affine": torch.eye(3)})
    >>> out = HeatmapCandidatesd("pred", classes=["normal", "mass", "calcification"])({"pred": heat, "image": image})
    >>> [(c["class"], round(c["score"], 2), c["center"], c["box"]) for c in out["candidates"]]
    [('mass', 0.9, [20.0, 10.0], [18, 8, 23, 13])]
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data.folder_layout import FolderLayout
from monai.inferers import SlidingWindowInferer
from monai.transforms import MapTransform
from monai.utils import ImageMetaKey, convert_to_numpy
from PIL import Image, ImageDraw
from scipy import ndimage
from skimage.feature import peak_local_max

from mammo_monai.io import read_mammogram

from .overlay import fit_shape, window_to_uint8

__all__ = [
    "HeatmapCandidatesd",
    "PatchHeatmapInferer",
    "SaveDetectionsd",
    "abnormality_score",
    "breast_score",
    "common_root",
    "data_root_for",
    "detection_overlay",
    "grid_to_original",
    "heatmap_candidates",
    "split_patch_classifier",
]

logger = logging.getLogger(__name__)

#: The class name that means "no lesion" in a detector's class list (its probability is not a finding).
NORMAL = "normal"


class PatchHeatmapInferer(SlidingWindowInferer):
    """MONAI's ``SlidingWindowInferer`` for a patch *classifier*: a ``(B, K)`` logit network becomes a
    ``(B, K, rows, cols)`` probability heatmap.

    Every window's softmax probabilities are spread over the window and blended with the others (``mode``
    ``"gaussian"``: windows count most near their centre, where the classifier was trained to look), so the
    heatmap at a pixel is the weighted mean of the probabilities of the windows covering it. With ``overlap``
    0.75 the windows are ``roi_size / 4`` apart. The network is called as it is (its checkpoint keys and
    ``eval()`` mode untouched); the wrapping happens per call, and the network runs under
    ``torch.inference_mode``.

    **Windows outside the breast are skipped** when a breast mask on the input's grid is given
    (``inferer(image, network, breast_mask=mask)``; the detection bundle passes the item's ``breast_mask`` with
    MONAI's ``PrepareBatchExtraInput``): a window holding no breast pixel is not run through the network and
    counts as ``background_class`` (probability 1, e.g. ``normal``). Such a window covers no breast pixel, so
    the heatmap inside the breast, and so every candidate (found on the breast-masked score) and the overlay
    (which shows that score), are those of the exhaustive sweep: only the numerical noise of running the
    network on smaller batches differs. Without a mask, or with ``skip_background=False``, every window runs.
    After each call ``windows_run`` and ``windows_total`` say how many windows the network saw.

    ``fully_convolutional=True`` (opt-in; it changes what is computed, so check FROC before relying on it): the
    network's convolutional body runs once over the whole film and each window's logits are its classifier head
    on the mean of the feature cells under the window (:func:`split_patch_classifier`: MONAI's ``DenseNet*`` and
    ``ResNet``), instead of one forward per window. A window's features then see the film around it instead of
    the zero padding at the patch's edge, so the probabilities differ from the patch classifier's; the cost is
    about one forward of the film's area instead of ``windows x`` a patch's. Networks it cannot split, and films
    smaller than a window, are swept window by window as usual.

    Args:
        roi_size: the patch size the classifier was trained on (``(rows, cols)``).
        activation: ``"softmax"`` (default) or ``"sigmoid"`` on the logits, or ``None`` when the network
            already returns probabilities.
        skip_background: skip the windows outside a given breast mask (default ``True``).
        background_class: the class a skipped window counts as (its index; ``None``: all probabilities 0).
        fully_convolutional: one pass of the network's body over the film (see above; default ``False``).
        kwargs: the rest of ``SlidingWindowInferer``'s arguments (``sw_batch_size``, ``overlap``, ``mode``,
            ``sigma_scale``, ``padding_mode``, ``sw_device``, ``device``, ``progress``...).

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.LazyLinear(3))
        >>> heat = PatchHeatmapInferer(roi_size=(16, 16), overlap=0.5)(torch.rand(1, 1, 40, 24), net)
        >>> tuple(heat.shape), bool(torch.allclose(heat.sum(1), torch.ones(1, 40, 24), atol=1e-5))
        ((1, 3, 40, 24), True)
        >>> mask = torch.zeros(1, 1, 40, 24); mask[..., :12, :8] = 1                  # breast in one corner
        >>> inferer = PatchHeatmapInferer(roi_size=(16, 16), overlap=0.5)
        >>> inside = inferer(torch.rand(1, 1, 40, 24), net, breast_mask=mask)
        >>> inferer.windows_run, inferer.windows_total
        (2, 8)
    """

    def __init__(self, roi_size: Sequence[int] | int, activation: str | None = "softmax", mode: str = "gaussian",
                 overlap: float = 0.75, skip_background: bool = True, background_class: int | None = 0,
                 fully_convolutional: bool = False, **kwargs: Any) -> None:
        super().__init__(roi_size=roi_size, overlap=overlap, mode=mode, **kwargs)
        if activation not in ("softmax", "sigmoid", None):
            raise ValueError(f"activation must be 'softmax', 'sigmoid' or None, got {activation!r}")
        self.activation = activation
        self.skip_background = bool(skip_background)
        self.background_class = None if background_class is None else int(background_class)
        self.windows_run = self.windows_total = 0
        self.fully_convolutional = bool(fully_convolutional)

    def _activate(self, logits: torch.Tensor) -> torch.Tensor:
        if logits.ndim != 2:
            raise ValueError(f"PatchHeatmapInferer: the network must return (batch, classes) logits, got "
                             f"{tuple(logits.shape)}")
        return (logits.softmax(1) if self.activation == "softmax" else
                logits.sigmoid() if self.activation == "sigmoid" else logits).float()

    def _probabilities(self, network: Callable[..., torch.Tensor], masked: bool) -> Callable[..., torch.Tensor]:
        def spread(window: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
            self.windows_total += int(window.shape[0])
            if masked:  # the last channel is the breast mask: run the windows that hold breast only
                window, mask = window[:, :-1], window[:, -1]
                keep = mask.reshape(mask.shape[0], -1).amax(1) > 0
                if not bool(keep.all()):
                    return self._spread(self._masked_probabilities(network, window, keep, *args, **kwargs), window)
            self.windows_run += int(window.shape[0])
            with torch.inference_mode():
                probs = self._activate(network(window, *args, **kwargs))
            return self._spread(probs.clone(), window)

        return spread

    def _masked_probabilities(self, network: Callable[..., torch.Tensor], window: torch.Tensor, keep: torch.Tensor,
                              *args: Any, **kwargs: Any) -> torch.Tensor:
        """Class probabilities of a batch of windows: the network's for ``keep``, ``background_class`` else."""
        index = keep.nonzero()[:, 0]
        self.windows_run += int(index.numel())
        probs_kept = None
        if index.numel():
            with torch.inference_mode():
                probs_kept = self._activate(network(window[index], *args, **kwargs)).clone()
        classes = probs_kept.shape[1] if probs_kept is not None else self._num_classes(network, window)
        probs = torch.zeros(window.shape[0], classes, device=window.device, dtype=torch.float32)
        if self.background_class is not None:
            probs[:, self.background_class] = 1.0
        if probs_kept is not None:
            probs[index] = probs_kept.to(probs.device)
        return probs

    def _num_classes(self, network: Callable[..., torch.Tensor], window: torch.Tensor) -> int:
        """The number of classes, from the network's output on one window (once per call: cached)."""
        if self._classes is None:
            with torch.inference_mode():
                self._classes = int(network(window[:1]).shape[1])
        return self._classes

    @staticmethod
    def _spread(probs: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
        # MONAI weights the window output in place: a real (B, K, rows, cols) tensor, not an expanded view
        return probs[(...,) + (None,) * (window.ndim - 2)].expand(-1, -1, *window.shape[2:]).contiguous()

    def __call__(self, inputs: torch.Tensor, network: Callable[..., torch.Tensor], *args: Any,
                 breast_mask: torch.Tensor | None = None, **kwargs: Any) -> torch.Tensor:
        """The ``(B, K, rows, cols)`` heatmap of ``inputs``; ``breast_mask`` (``(B, 1, rows, cols)``, non-zero =
        breast, on the input's grid; optional): skip the windows without breast (see the class docstring)."""
        self.windows_run = self.windows_total = 0
        self._classes: int | None = None
        masked = breast_mask is not None and self.skip_background
        if masked:
            mask = torch.as_tensor(breast_mask)
            mask = mask.as_tensor() if hasattr(mask, "as_tensor") else mask
            if mask.ndim == inputs.ndim - 1:
                mask = mask[:, None]
            if mask.shape[0] != inputs.shape[0] or tuple(mask.shape[2:]) != tuple(inputs.shape[2:]):
                raise ValueError(f"PatchHeatmapInferer: breast_mask {tuple(mask.shape)} is not on the input's grid "
                                 f"{tuple(inputs.shape)}")
            # the mask travels as one more channel, so MONAI cuts (and pads) it with each window
            inputs = torch.cat([inputs, (mask[:, :1] > 0).to(device=inputs.device, dtype=inputs.dtype)], dim=1)
        parts = split_patch_classifier(network) if self.fully_convolutional else None
        fits = all(int(n) >= int(r) for n, r in zip(inputs.shape[2:], self.roi_size))
        if parts is None or not fits or args or kwargs:
            if self.fully_convolutional:
                logger.warning("PatchHeatmapInferer: fully_convolutional needs a DenseNet/ResNet patch classifier, a "
                               "film at least one window large and no extra network arguments: sweeping window by "
                               "window")
            return super().__call__(inputs, self._probabilities(network, masked), *args, **kwargs)
        body, head = parts
        image = inputs[:, :-1] if masked else inputs
        device = self.sw_device if self.sw_device is not None else image.device
        with torch.inference_mode():
            cells = body(torch.as_tensor(image).to(device))
        predictor = self._cell_probabilities(cells, head, tuple(image.shape[2:]), masked)
        with_coord, self.with_coord = self.with_coord, True
        try:
            return super().__call__(inputs, predictor)
        finally:
            self.with_coord = with_coord

    def _cell_probabilities(self, cells: torch.Tensor, head: Callable[[torch.Tensor], torch.Tensor],
                            size: tuple[int, ...], masked: bool) -> Callable[..., torch.Tensor]:
        """The predictor of the fully convolutional mode: a window's logits are ``head`` of the mean of the feature
        cells whose centres lie in it (at least one cell per axis)."""
        steps = [n / c for n, c in zip(size, cells.shape[2:])]  # input pixels per feature cell (32 for DenseNet)

        def cell_range(start: int, stop: int, step: float, count: int) -> slice:
            first = min(max(0, round(start / step)), count - 1)
            return slice(first, max(first + 1, min(count, round(stop / step))))

        def spread(window: torch.Tensor, coords: Sequence[Sequence[slice]]) -> torch.Tensor:
            self.windows_total += int(window.shape[0])
            keep = (window[:, -1].reshape(window.shape[0], -1).amax(1) > 0) if masked else None
            window = window[:, :-1] if masked else window
            rows = [i for i in range(window.shape[0]) if keep is None or bool(keep[i])]
            probs = torch.zeros(window.shape[0], 0)
            if rows:
                with torch.inference_mode():
                    pooled = torch.stack([
                        cells[(coords[i][0].start, slice(None),
                               *(cell_range(sl.start, sl.stop, st, n)
                                 for sl, st, n in zip(coords[i][2:], steps, cells.shape[2:])))].mean((-2, -1))
                        for i in rows])
                    probs_kept = self._activate(head(pooled)).clone()
                probs = torch.zeros(window.shape[0], probs_kept.shape[1], dtype=torch.float32,
                                    device=probs_kept.device)
                if self.background_class is not None:
                    probs[:, self.background_class] = 1.0
                probs[torch.as_tensor(rows, device=probs.device)] = probs_kept
            else:
                with torch.inference_mode():
                    classes = int(head(cells[:1].mean((-2, -1))).shape[1])
                probs = torch.zeros(window.shape[0], classes, dtype=torch.float32, device=cells.device)
                if self.background_class is not None:
                    probs[:, self.background_class] = 1.0
            self.windows_run += len(rows)
            return self._spread(probs.to(window.device), window)

        return spread


def split_patch_classifier(network: Any) -> tuple[Callable[[torch.Tensor], torch.Tensor],
                                                  Callable[[torch.Tensor], torch.Tensor]] | None:
    """``(body, head)`` of a global-average-pooling patch classifier, ``network(x) == head(body(x).mean((2, 3)))``:
    MONAI's ``DenseNet``/``DenseNet121``... (``features`` + ``class_layers``: relu, pool, flatten, out) and ``ResNet``
    (``conv1`` ... ``layer4``, ``avgpool``, ``fc``); ``None`` for other networks. DataParallel/DDP wrappers are
    looked through (``module``)."""
    net = getattr(network, "module", network)
    class_layers = getattr(net, "class_layers", None)
    if isinstance(getattr(net, "features", None), torch.nn.Module) and isinstance(class_layers, torch.nn.Sequential):
        layers = dict(class_layers.named_children())
        if list(layers) == ["relu", "pool", "flatten", "out"]:
            return (lambda x: layers["relu"](net.features(x))), layers["out"]
        return None
    names = ("conv1", "bn1", "act", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool", "fc")
    if all(hasattr(net, n) for n in names) and isinstance(net.avgpool, torch.nn.AdaptiveAvgPool2d):
        def body(x: torch.Tensor) -> torch.Tensor:
            x = net.act(net.bn1(net.conv1(x)))
            if not getattr(net, "no_max_pool", False):
                x = net.maxpool(x)
            return net.layer4(net.layer3(net.layer2(net.layer1(x))))

        return body, (net.fc if net.fc is not None else torch.nn.Identity())
    return None


def abnormality_score(heatmap: np.ndarray, classes: Sequence[str]) -> np.ndarray:
    """The probability of any finding per pixel: ``1 - p(normal)`` (or the single class of a one-class map).

    Args:
        heatmap: ``(K, rows, cols)`` class probabilities.
        classes: the ``K`` class names; ``"normal"`` (if present) is the no-finding class.
    """
    if heatmap.ndim != 3 or heatmap.shape[0] != len(classes):
        raise ValueError(f"expected a ({len(classes)}, rows, cols) heatmap for classes {list(classes)}, got "
                         f"{heatmap.shape}")
    if NORMAL in classes:
        return 1.0 - heatmap[list(classes).index(NORMAL)]
    if len(classes) == 1:
        return heatmap[0]
    return heatmap.sum(0)


def breast_score(heatmap: np.ndarray, classes: Sequence[str], breast_mask: Any = None) -> np.ndarray:
    """:func:`abnormality_score` of ``heatmap``, zero outside ``breast_mask`` (``(rows, cols)`` or ``(1, rows,
    cols)``; ``None``: no mask): what the candidates are found on and the overlay shows."""
    score = abnormality_score(np.asarray(heatmap, dtype=np.float32), classes)
    if breast_mask is None:
        return score
    breast = convert_to_numpy(breast_mask)
    if breast.size != score.size:
        raise ValueError(f"the breast mask {breast.shape} is not on the heatmap's grid {score.shape}")
    return np.where(breast.reshape(score.shape) > 0, score, 0.0)


def _component(score: np.ndarray, peak: tuple[int, int], level: float, radius: int
               ) -> tuple[np.ndarray, np.ndarray]:
    """Rows and cols of the connected region of ``score >= level`` holding ``peak``, within ``radius`` px."""
    r, c = peak
    r0, c0 = max(0, r - radius), max(0, c - radius)
    labels, _ = ndimage.label(score[r0:r + radius + 1, c0:c + radius + 1] >= level)
    rows, cols = np.nonzero(labels == labels[r - r0, c - c0])
    return rows + r0, cols + c0


def heatmap_candidates(
    heatmap: np.ndarray,
    classes: Sequence[str],
    breast_mask: np.ndarray | None = None,
    min_distance: int = 8,
    threshold: float = 0.1,
    max_candidates: int = 50,
    box_level: float = 0.5,
    box_radius: int | None = None,
) -> list[dict[str, Any]]:
    """Local maxima of the abnormality score of a ``(K, rows, cols)`` heatmap, on the heatmap's grid.

    Args:
        heatmap: class probabilities per pixel.
        classes: the class names (``"normal"`` the no-finding class).
        breast_mask: ``(rows, cols)``; the score is zero outside it.
        min_distance: px between two candidates (the peak filter's radius: a non-maximum suppression).
        threshold: the lowest score kept.
        max_candidates: keep the best this many.
        box_level: the box covers the peak's region where the score is at least this fraction of the peak
            (and at least ``threshold``).
        box_radius: the box stays within this many px of the peak (default ``4 * min_distance``).

    Returns:
        Candidates by decreasing score: ``score``, ``center`` (``[row, col]``), ``box`` (half-open), ``class``,
        ``probabilities`` (of each finding class at the peak).
    """
    heatmap = np.asarray(heatmap, dtype=np.float32)
    score = breast_score(heatmap, classes, breast_mask)
    findings = [k for k, name in enumerate(classes) if name != NORMAL]
    radius = int(box_radius) if box_radius is not None else 4 * int(min_distance)
    peaks = peak_local_max(score, min_distance=max(1, int(min_distance)), threshold_abs=float(threshold),
                           exclude_border=False, num_peaks=int(max_candidates))
    out = []
    for r, c in peaks:
        r, c = int(r), int(c)
        peak = float(score[r, c])
        probs = {classes[k]: float(heatmap[k, r, c]) for k in findings}
        best = max(probs, key=probs.get) if probs else classes[0]
        # a flat top (windows agreeing) is reported at its centroid, not at its first pixel
        top_r, top_c = _component(score, (r, c), peak - 1e-6, radius)
        rows, cols = _component(score, (r, c), max(float(threshold), box_level * peak), radius)
        out.append({"score": peak, "center": [float(top_r.mean()), float(top_c.mean())],
                    "box": [int(rows.min()), int(cols.min()), int(rows.max()) + 1, int(cols.max()) + 1],
                    "class": best, "probabilities": probs})
    out.sort(key=lambda cand: -cand["score"])
    return out


def _matrix(x: Any) -> np.ndarray:
    m = convert_to_numpy(x, dtype=np.float64)
    if m.shape == (4, 4):  # a 2D image in a 3D affine: keep rows/cols and the translation
        m = m[np.ix_([0, 1, 3], [0, 1, 3])]
    if m.shape != (3, 3):
        raise ValueError(f"expected a 2D (3x3) affine, got shape {m.shape}")
    return m


def grid_to_original(image: Any) -> np.ndarray:
    """The 3x3 matrix taking ``[row, col, 1]`` of ``image``'s grid to its original file's pixels:
    ``inv(original_affine) @ affine`` of the MetaTensor (MONAI updates ``affine`` with every spatial transform;
    :class:`~mammo_monai.transforms.SetPixelSpacingd` keeps ``original_affine`` in step on the file's grid)."""
    meta = getattr(image, "meta", None) or {}
    if "original_affine" not in meta:
        raise ValueError("the image has no original_affine in its meta: load it with MONAI's LoadImage(d)")
    affine = getattr(image, "affine", None)
    if affine is None:
        affine = meta.get("affine")
    return np.linalg.inv(_matrix(meta["original_affine"])) @ _matrix(affine)


def _map_candidate(cand: Mapping[str, Any], to_original: np.ndarray, shape: Sequence[int] | None
                   ) -> dict[str, Any]:
    out = dict(cand)
    r, c = cand["center"]
    centre = to_original @ np.array([r, c, 1.0])
    out["center"] = [round(float(centre[0]), 2), round(float(centre[1]), 2)]
    r0, c0, r1, c1 = cand["box"]
    # the box's outer pixel edges: [r0 - 0.5, r1 - 0.5] in pixel-centre coordinates
    corners = np.array([[r0 - 0.5, c0 - 0.5, 1.0], [r1 - 0.5, c1 - 0.5, 1.0]]) @ to_original.T
    lo, hi = corners[:, :2].min(0), corners[:, :2].max(0)
    box = [int(np.floor(lo[0] + 0.5)), int(np.floor(lo[1] + 0.5)), int(np.ceil(hi[0] + 0.5)), int(np.ceil(hi[1] + 0.5))]
    if shape is not None:
        box = [max(0, box[0]), max(0, box[1]), min(int(shape[0]), box[2]), min(int(shape[1]), box[3])]
    out["box"] = box
    return out


def _original_shape(image: Any) -> list[int] | None:
    meta = getattr(image, "meta", None) or {}
    shape = meta.get("spatial_shape")
    if shape is None:
        return None
    values = [int(v) for v in convert_to_numpy(shape).ravel()]
    return values[:2]


class HeatmapCandidatesd(MapTransform):
    """Lesion candidates from a heatmap (see the module docstring), in the original image's pixels.

    Args:
        keys: the ``(K, rows, cols)`` heatmap key (``pred``).
        classes: the heatmap's class names (``"normal"`` the no-finding class).
        image_key: the preprocessed image (a MetaTensor on the heatmap's grid, with ``original_affine``): its
            affines map the candidates back.
        breast_mask_key: a breast mask on the heatmap's grid (candidates only inside it); ``None``/absent: none.
        candidates_key: where the list goes.
        min_distance, threshold, max_candidates, box_level, box_radius: as in :func:`heatmap_candidates`
            (px of the heatmap's grid).
    """

    def __init__(self, keys: KeysCollection, classes: Sequence[str], image_key: str = "image",
                 breast_mask_key: str | None = "breast_mask", candidates_key: str = "candidates",
                 min_distance: int = 8, threshold: float = 0.1, max_candidates: int = 50, box_level: float = 0.5,
                 box_radius: int | None = None, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.classes = [str(c) for c in classes]
        if not self.classes:
            raise ValueError("classes must name the heatmap's channels")
        self.image_key, self.breast_mask_key, self.candidates_key = image_key, breast_mask_key, candidates_key
        self.options = {"min_distance": int(min_distance), "threshold": float(threshold),
                        "max_candidates": int(max_candidates), "box_level": float(box_level),
                        "box_radius": box_radius}

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            breast = d.get(self.breast_mask_key) if self.breast_mask_key else None
            found = heatmap_candidates(convert_to_numpy(d[key]), self.classes, breast, **self.options)
            image = d[self.image_key]
            to_original = grid_to_original(image)
            shape = _original_shape(image)
            d[self.candidates_key] = [_map_candidate(c, to_original, shape) for c in found]
        return d


def common_root(items: Sequence[Mapping[str, Any]], key: str = "image") -> str:
    """The deepest folder holding every item's ``key`` file: a ``data_root_dir`` under which the writers mirror
    the images' folders, so that files of one name in different folders (CBIS-DDSM's ``1-1.dcm``) get outputs
    of their own.

    Example:
        >>> common_root([{"image": "/d/a/1-1.dcm"}, {"image": "/d/b/1-1.dcm"}])
        '/d'
    """
    folders = [os.path.dirname(os.path.abspath(str(item[key]))) for item in items if item.get(key)]
    return os.path.commonpath(folders) if folders else ""


def data_root_for(items: Sequence[Mapping[str, Any]], preferred: str | os.PathLike = "", key: str = "image") -> str:
    """``preferred`` when every item's ``key`` file is under it, else :func:`common_root` of the items.

    A writer's ``data_root_dir`` that is not a prefix of an image's folder makes MONAI's ``create_file_basename``
    insert ``../`` steps, so the output lands outside ``output_dir`` (beside the user's images, for a datalist
    outside the bundle's default data): the common root keeps every output inside ``output_dir``.

    Example:
        >>> data_root_for([{"image": "/d/a/1-1.dcm"}, {"image": "/d/b/1-1.dcm"}], "/bundle/data")
        '/d'
        >>> data_root_for([{"image": "/d/a/1-1.dcm"}], "/d")
        '/d'
    """
    root = os.path.abspath(str(preferred)) if str(preferred) else ""
    files = [os.path.abspath(str(item[key])) for item in items if item.get(key)]
    if root and all(os.path.commonpath([root, f]) == root for f in files):
        return root
    return common_root(items, key)


def _heat_colours(score: np.ndarray) -> np.ndarray:
    """A score in ``[0, 1]`` as RGB (dark blue -> red -> yellow), ``(rows, cols, 3)`` float in ``[0, 255]``."""
    s = np.clip(score, 0.0, 1.0)[..., None]
    stops = np.array([[0, 0, 128], [220, 20, 20], [255, 240, 0]], dtype=np.float32)
    low = stops[0] + (stops[1] - stops[0]) * np.clip(s * 2, 0, 1)
    return np.where(s < 0.5, low, stops[1] + (stops[2] - stops[1]) * np.clip(s * 2 - 1, 0, 1))


def detection_overlay(image: np.ndarray, score: np.ndarray, to_original: np.ndarray,
                      candidates: Sequence[Mapping[str, Any]], max_size: int = 1024, alpha: float = 0.45,
                      min_score: float = 0.1, n_boxes: int = 10) -> Image.Image:
    """The original mammogram (shrunk to fit ``max_size``) with the heatmap's score blended where it is at least
    ``min_score`` and the best ``n_boxes`` candidates' boxes with their scores.

    The heatmap is sampled (nearest) at each display pixel through the inverse of ``to_original`` (the
    heatmap grid -> original pixels matrix), so nothing is resampled at full resolution.
    """
    rows, cols = fit_shape(image.shape, min(max_size, max(image.shape)))
    grey = window_to_uint8(np.asarray(Image.fromarray(np.asarray(image, np.float32), mode="F").resize(
        (cols, rows), Image.Resampling.BOX)))
    rgb = np.repeat(grey[:, :, None], 3, axis=2).astype(np.float32)
    sr, sc = image.shape[0] / rows, image.shape[1] / cols
    rr, cc = np.meshgrid((np.arange(rows) + 0.5) * sr - 0.5, (np.arange(cols) + 0.5) * sc - 0.5, indexing="ij")
    grid = np.linalg.inv(to_original) @ np.stack([rr.ravel(), cc.ravel(), np.ones(rr.size)])
    gr, gc = np.rint(grid[0]).astype(np.int64), np.rint(grid[1]).astype(np.int64)
    inside = (gr >= 0) & (gr < score.shape[0]) & (gc >= 0) & (gc < score.shape[1])
    values = np.zeros(rr.size, np.float32)
    values[inside] = score[gr[inside], gc[inside]]
    values = values.reshape(rows, cols)
    shown = values >= min_score
    rgb[shown] = (1 - alpha) * rgb[shown] + alpha * _heat_colours(values)[shown]
    tile = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), mode="RGB")
    draw = ImageDraw.Draw(tile)
    for cand in list(candidates)[:n_boxes]:
        r0, c0, r1, c1 = cand["box"]
        draw.rectangle([c0 / sc, r0 / sr, c1 / sc, r1 / sr], outline=(0, 255, 255), width=2)
        draw.text((c0 / sc + 2, max(0.0, r0 / sr - 11)), f"{cand['score']:.2f}", fill=(0, 255, 255))
    return tile


class SaveDetectionsd(MapTransform):
    """Write ``<output_dir>/<relative folder>/<image stem>_detections.json`` (the module docstring's format) and,
    with ``overlay``, ``..._heatmap.png`` (:func:`detection_overlay`) per image.

    Naming is MONAI's ``FolderLayout`` as in ``SaveImaged`` (the image's folder below ``data_root_dir``
    mirrored under ``output_dir``; :func:`common_root` gives a ``data_root_dir`` for a datalist: CBIS-DDSM's
    files are all called ``1-1.dcm``). Two images of one run mapping to one output is an error (not a silent
    overwrite). Outputs of an earlier run are replaced only with ``overwrite`` (default, like ``SaveImaged``).

    Args:
        keys: the heatmap key (``pred``, ``(K, rows, cols)`` on the preprocessed grid).
        classes: the heatmap's class names.
        image_key: the preprocessed image (its meta: the file name, original shape, affines, pixel size).
        candidates_key: the candidates of :class:`HeatmapCandidatesd`.
        breast_mask_key: masks the heatmap on the overlay.
        output_dir, data_root_dir: as in ``SaveImaged``.
        overlay: also write the PNG; ``max_size``: its longest side.
        overwrite: replace existing files (else ``FileExistsError``).
    """

    def __init__(self, keys: KeysCollection, classes: Sequence[str], image_key: str = "image",
                 candidates_key: str = "candidates", breast_mask_key: str | None = "breast_mask",
                 output_dir: str | os.PathLike = "./", data_root_dir: str = "", overlay: bool = True,
                 max_size: int = 1024, overwrite: bool = True, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.classes = [str(c) for c in classes]
        self.image_key, self.candidates_key, self.breast_mask_key = image_key, candidates_key, breast_mask_key
        self.json_layout = FolderLayout(output_dir, postfix="detections", extension=".json", parent=False,
                                        makedirs=True, data_root_dir=data_root_dir)
        self.png_layout = FolderLayout(output_dir, postfix="heatmap", extension=".png", parent=False,
                                       makedirs=True, data_root_dir=data_root_dir)
        self.overlay, self.max_size, self.overwrite = bool(overlay), int(max_size), bool(overwrite)
        self.written: dict[Path, str] = {}

    def _path(self, layout: FolderLayout, source: str) -> Path:
        path = Path(layout.filename(subject=source))
        earlier = self.written.get(path)
        if earlier is not None and earlier != source:
            raise ValueError(f"SaveDetectionsd: {source} and {earlier} both map to {path}: set data_root_dir to a "
                             f"folder above both (mammo_monai.inference.common_root of the datalist)")
        if earlier is None and path.exists() and not self.overwrite:
            raise FileExistsError(f"{path} exists (overwrite=False)")
        self.written[path] = source
        return path

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            image = d[self.image_key]
            meta = getattr(image, "meta", None) or {}
            source = meta.get(ImageMetaKey.FILENAME_OR_OBJ)
            if not isinstance(source, (str, os.PathLike)) or not source:
                raise ValueError(f"SaveDetectionsd: {self.image_key!r} has no source file name (filename_or_obj)")
            source = str(source)
            pixdim = [float(abs(v)) for v in np.diag(_matrix(image.affine))[:2]]
            record = {"image": source, "image_shape": _original_shape(image), "classes": self.classes,
                      "pixdim": [round(v, 6) for v in pixdim], "candidates": list(d.get(self.candidates_key, []))}
            path = self._path(self.json_layout, source)
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(json.dumps(record, indent=1))
            os.replace(tmp, path)
            if self.overlay:
                breast = d.get(self.breast_mask_key) if self.breast_mask_key else None
                score = breast_score(convert_to_numpy(d[key]), self.classes, breast)
                original, _ = read_mammogram(source)
                detection_overlay(original, score, grid_to_original(image), record["candidates"],
                                  self.max_size).save(self._path(self.png_layout, source))
        return d
