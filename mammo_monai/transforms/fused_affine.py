"""Rotation, zoom/shear/translation and flips drawn like MONAI's and applied as ONE resampling.

:class:`RandFusedAffine` / :class:`RandFusedAffined` draw the same random components as the chain
``RandRotated -> RandAffined -> RandFlipd(axis 0) [-> RandFlipd(axis 1)]`` that
:func:`~mammo_monai.transforms.augment.mammography_train_augmentations` builds — each component on its own
with probability ``prob``, with the same ranges — and compose them into one ``output -> input`` pixel map
about the image centre (MONAI's convention), sampled once with ``torch.nn.functional.affine_grid`` /
``grid_sample``.

Why written by hand: on 2 CPU cores MONAI's ``RandRotated`` costs about 8 ms per key on a 128 x 128 patch,
of which the resampling is 0.3 ms; the rest is per-call bookkeeping (MetaTensor conversion and the inverse
records). Patch training calls it for every patch and key, and on a 2-core machine that time is taken from
the network (measured with ``scripts/bench/bench_trainer.py``). One resampling instead of two also blurs
the image less. What this does not do: it records no inverse (training augmentation only) and supports 2D
images only.

Geometry: for an output pixel ``p`` (row, col) the input is sampled at ``c + R A F (p - c) + t`` with
``c = (size - 1) / 2``, ``R`` the rotation, ``A`` scale and shear, ``F`` the flips and ``t`` the translation —
what the MONAI chain gives (each of its steps resamples its input at its own ``output -> input`` map). Flips
alone are done with ``torch.flip`` (exact, no resampling); with no component drawn the input is returned
as it is. A ``MetaTensor`` keeps its metadata and gets the affine of the new grid (``affine @ map``).

Example:
    >>> import torch
    >>> label = torch.zeros(1, 64, 48); label[:, 20:40, 10:30] = 1
    >>> t = RandFusedAffined(["image", "label"], mode=["bilinear", "nearest"], prob=1.0, rotate_range=0.3)
    >>> out = t.set_random_state(0)({"image": torch.rand(1, 64, 48), "label": label})
    >>> tuple(out["image"].shape), sorted(out["label"].unique().tolist())
    ((1, 64, 48), [0.0, 1.0])
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform, Randomizable, Transform
from monai.transforms.utils import create_rotate, create_scale, create_shear
from monai.utils import ensure_tuple, ensure_tuple_rep

from .utils import on_new_grid, symmetric_range

__all__ = ["RandFusedAffine", "RandFusedAffined", "fused_affine_apply"]

_MODES = ("bilinear", "nearest")
_PADDING = ("zeros", "border", "reflection")


def fused_affine_apply(img: torch.Tensor | np.ndarray, matrix: np.ndarray | None, flips: Sequence[int] = (),
                       mode: str = "bilinear", padding_mode: str = "zeros") -> torch.Tensor:
    """Resample a ``(C, rows, cols)`` image at ``output -> input`` pixel map ``matrix`` (3 x 3, row/col).

    ``matrix`` ``None``: only the ``flips`` (spatial axes 0/1) are applied, by ``torch.flip``. Integer and
    boolean images are resampled as float and cast back (use ``mode="nearest"`` for them). A ``MetaTensor``
    comes back as one with the same metadata and the affine of the new grid.
    """
    meta = img if isinstance(img, MetaTensor) else None
    x = img.as_tensor() if meta is not None else torch.as_tensor(img)
    if x.ndim != 3:
        raise ValueError(f"expected a channel-first 2D image (C, rows, cols), got shape {tuple(x.shape)}")
    if matrix is None:
        out = torch.flip(x, [a + 1 for a in flips]) if flips else x
        pixel_map = _flip_matrix(flips, x.shape[1:])
    else:
        rows, cols = int(x.shape[1]), int(x.shape[2])
        # pixel offsets from the centre -> grid_sample's normalised coordinates (align_corners=False)
        half = np.diag([rows / 2.0, cols / 2.0])
        lin = np.linalg.inv(half) @ matrix[:2, :2] @ half
        centre = np.array([(rows - 1) / 2.0, (cols - 1) / 2.0])
        shift = np.linalg.inv(half) @ (matrix[:2, :2] @ centre + matrix[:2, 2] - centre)
        theta = np.array([[lin[1, 1], lin[1, 0], shift[1]], [lin[0, 1], lin[0, 0], shift[0]]])  # (x=col, y=row)
        work = x if x.is_floating_point() else x.float()
        grid = F.affine_grid(torch.as_tensor(theta, dtype=work.dtype, device=work.device)[None],
                             [1, *work.shape], align_corners=False)
        out = F.grid_sample(work[None], grid, mode=mode, padding_mode=padding_mode, align_corners=False)[0]
        if out.dtype != x.dtype:
            out = out.round().to(x.dtype) if x.dtype != torch.bool else out > 0.5
        pixel_map = matrix
    return out if meta is None else on_new_grid(meta, out, pixel_map)


def _flip_matrix(flips: Sequence[int], shape: Sequence[int]) -> np.ndarray:
    m = np.eye(3)
    for axis in flips:
        m[axis, axis] = -1.0
        m[axis, 2] = float(shape[axis]) - 1.0
    return m


class RandFusedAffine(Randomizable, Transform):
    """Random rotation, scale/shear/translation and flips of a ``(C, rows, cols)`` image in one resampling.

    Args:
        prob: the probability of each component (rotation; scale/shear/translation; each flip), drawn
            independently, as the MONAI chain does.
        rotate_range: angle in radians, ``r`` meaning ``[-r, r]``; 0: no rotation.
        scale_range: per-axis scale ``1 + U(-s, s)`` (MONAI ``RandAffine``'s ``scale_range``).
        shear_range: the two 2D shear coefficients ``U(-s, s)``.
        translate_range: per-axis shift in pixels ``U(-t, t)``.
        flip_axes: spatial axes that may be flipped (0: up-down; 1: left-right, which undoes laterality
            normalisation — see :mod:`~mammo_monai.transforms.augment`).
        mode: ``"bilinear"`` (images) or ``"nearest"`` (masks: values kept).
        padding_mode: ``"zeros"``, ``"border"`` or ``"reflection"`` (``grid_sample``'s).

    Returns the resampled image, same shape (MetaTensor in, MetaTensor out).
    """

    def __init__(self, prob: float = 0.5, rotate_range: float | Sequence[float] = np.pi, scale_range: float = 0.1,
                 shear_range: float = 0.05, translate_range: float = 0.0, flip_axes: Sequence[int] = (0,),
                 mode: str = "bilinear", padding_mode: str = "zeros") -> None:
        if not 0.0 <= float(prob) <= 1.0:
            raise ValueError(f"prob must be in [0, 1], got {prob}")
        for name, value in (("scale_range", scale_range), ("shear_range", shear_range),
                            ("translate_range", translate_range)):
            if float(value) < 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
        axes = tuple(int(a) for a in ensure_tuple(flip_axes))
        if any(a not in (0, 1) for a in axes) or len(set(axes)) != len(axes):
            raise ValueError(f"flip_axes must hold distinct spatial axes 0 and/or 1, got {flip_axes}")
        _check_modes([mode], [padding_mode])
        self.prob = float(prob)
        self.rotate_range = tuple(symmetric_range(rotate_range, "rotate_range"))
        self.scale_range, self.shear_range = float(scale_range), float(shear_range)
        self.translate_range = float(translate_range)
        self.flip_axes = axes
        self.mode, self.padding_mode = mode, padding_mode
        self.matrix: np.ndarray | None = None
        self.flips: tuple[int, ...] = ()

    def randomize(self, data: Any = None) -> None:
        """Draw the components; ``self.matrix`` (``None``: no resampling) and ``self.flips`` hold the result."""
        linear, shift, resample = np.eye(2), np.zeros(2), False
        if self.rotate_range != (0.0, 0.0) and self.R.rand() < self.prob:
            linear = linear @ create_rotate(2, self.R.uniform(*self.rotate_range))[:2, :2]
            resample = True
        if (self.scale_range or self.shear_range or self.translate_range) and self.R.rand() < self.prob:
            s, h, t = self.scale_range, self.shear_range, self.translate_range
            shear = create_shear(2, [self.R.uniform(-h, h) for _ in range(2)])[:2, :2]
            scale = create_scale(2, [1.0 + self.R.uniform(-s, s) for _ in range(2)])[:2, :2]
            shift = linear @ np.array([self.R.uniform(-t, t) for _ in range(2)])
            linear = linear @ shear @ scale
            resample = True
        self.flips = tuple(a for a in self.flip_axes if self.R.rand() < self.prob)
        if not resample:
            self.matrix = None
            return
        flip = np.ones(2)
        flip[list(self.flips)] = -1.0
        self.matrix = np.eye(3)
        self.matrix[:2, :2] = linear @ np.diag(flip)
        self.matrix[:2, 2] = shift

    def _centred(self, shape: Sequence[int]) -> np.ndarray | None:
        """``self.matrix`` (about the centre) as a pixel map of a grid of ``shape`` (rows, cols)."""
        if self.matrix is None:
            return None
        centre = (np.asarray(shape[:2], dtype=float) - 1.0) / 2.0
        m = self.matrix.copy()
        m[:2, 2] = centre + self.matrix[:2, 2] - self.matrix[:2, :2] @ centre
        return m

    def __call__(self, img: torch.Tensor | np.ndarray, randomize: bool = True) -> torch.Tensor:
        if randomize:
            self.randomize()
        return fused_affine_apply(img, self._centred(tuple(img.shape[1:])), self.flips, self.mode,
                                  self.padding_mode)


class RandFusedAffined(Randomizable, MapTransform):
    """Dictionary version of :class:`RandFusedAffine`: one draw for every key (all on one grid).

    Args:
        keys: images and masks to transform together.
        mode, padding_mode: one value or one per key (``"nearest"`` for masks).
        prob, rotate_range, scale_range, shear_range, translate_range, flip_axes: see
            :class:`RandFusedAffine`.
        allow_missing_keys: skip missing keys.
    """

    def __init__(self, keys: KeysCollection, prob: float = 0.5, rotate_range: float | Sequence[float] = np.pi,
                 scale_range: float = 0.1, shear_range: float = 0.05, translate_range: float = 0.0,
                 flip_axes: Sequence[int] = (0,), mode: str | Sequence[str] = "bilinear",
                 padding_mode: str | Sequence[str] = "zeros", allow_missing_keys: bool = False) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        self.mode = ensure_tuple_rep(mode, len(self.keys))
        self.padding_mode = ensure_tuple_rep(padding_mode, len(self.keys))
        _check_modes(self.mode, self.padding_mode)
        self.augment = RandFusedAffine(prob, rotate_range, scale_range, shear_range, translate_range, flip_axes)

    def set_random_state(self, seed: int | None = None, state: np.random.RandomState | None = None
                         ) -> RandFusedAffined:
        super().set_random_state(seed, state)
        self.augment.set_random_state(state=self.R)
        return self

    def randomize(self, data: Any = None) -> None:
        self.augment.randomize()

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        self.randomize()
        shape = None
        for key, mode, padding in self.key_iterator(d, self.mode, self.padding_mode):
            spatial = tuple(int(s) for s in d[key].shape[1:])
            if shape is None:
                shape, matrix = spatial, self.augment._centred(spatial)
            elif spatial != shape:
                raise ValueError(f"RandFusedAffined: {key!r} has spatial shape {spatial}, the first key {shape}: "
                                 f"the keys must share a grid")
            d[key] = fused_affine_apply(d[key], matrix, self.augment.flips, mode, padding)
        return d


def _check_modes(modes: Sequence[str], paddings: Sequence[str]) -> None:
    for m in modes:
        if m not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, got {m!r}")
    for p in paddings:
        if p not in _PADDING:
            raise ValueError(f"padding_mode must be one of {_PADDING}, got {p!r}")
