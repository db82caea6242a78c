"""Area resampling of a large image in two exact steps: integer block means, then fractional overlaps.

MONAI's ``Resize(mode="area")`` is ``torch.nn.functional.interpolate(mode="area")``, i.e. adaptive average
pooling; on a 4500 x 2900 scan shrunk to 1024 px it costs ~20-25 ms on 2 CPU cores, most of the time spent
on windows whose bounds change from one output pixel to the next. :func:`area_resize` gets the same kind of
result in two cheap steps, which is why it is written here rather than taken from MONAI:

1. block means over ``f x f`` blocks, ``f = floor(input / output)`` (``avg_pool2d``; a partial block at the
   end averages the pixels it has), exact;
2. each output pixel averages the block cells it overlaps, weighted by the overlap length in the
   input's own pixel units (separable, at most 3 taps per axis: a gather and a multiply-add).

Step 2 treats a block as uniform, so an output pixel's footprint is exact but a partly covered block counts
with its mean: the result differs from a one-step area average only inside the ``f``-pixel blocks cut by an
output pixel's edge. The geometry is that of an area (``align_corners=False``) resize: output pixel ``i``
covers input ``[i * H / h, (i + 1) * H / h)``, which is how ``Resize``'s inverse maps it back.

Example:
    >>> import torch
    >>> img = torch.arange(36.0).reshape(1, 6, 6)
    >>> area_resize(img, (3, 3))[0, 0].tolist()   # 2x2 block means
    [3.5, 5.5, 7.5]
    >>> tuple(area_resize(torch.ones(1, 4432, 2864), (1024, 662)).shape)
    (1, 1024, 662)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["aligned_box", "area_resize", "crop_area_resize", "longest_side_size"]


def longest_side_size(size: Sequence[int], spatial_size: int) -> tuple[int, int]:
    """The output size MONAI's ``Resize(spatial_size, size_mode="longest")`` gives an image of ``size``."""
    scale = int(spatial_size) / max(int(s) for s in size)
    return round(int(size[0]) * scale), round(int(size[1]) * scale)


def _taps(edges: np.ndarray, n_out: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Input cells and weights of each output pixel: ``(n_out, T)`` indices and weights (summing to 1), for
    cells ``k`` covering ``[edges[k], edges[k + 1])`` and output pixels of length ``edges[-1] / n_out``."""
    step = float(edges[-1]) / n_out
    start = np.arange(n_out) * step
    end = np.minimum(start + step, edges[-1])  # no float overshoot past the last cell
    first = np.searchsorted(edges, start, side="right") - 1
    last = np.minimum(np.searchsorted(edges, end, side="left"), len(edges) - 1)  # exclusive
    taps = int((last - first).max())
    index = first[:, None] + np.arange(taps)[None]
    valid = index < last[:, None]
    index = np.minimum(index, len(edges) - 2)
    overlap = np.minimum(end[:, None], edges[index + 1]) - np.maximum(start[:, None], edges[index])
    weight = np.where(valid, np.clip(overlap, 0.0, None), 0.0) / step
    return torch.from_numpy(index), torch.from_numpy(weight.astype(np.float32))


def _integer_accumulator(dtype: torch.dtype, factor: int) -> np.dtype | None:
    """The numpy accumulator for exact integer block sums of ``dtype`` over ``factor x factor`` blocks, or
    ``None`` when the float path is used (other dtypes, or blocks so large a 32-bit sum could overflow)."""
    if factor > 256:
        return None
    if dtype in (torch.uint8, torch.uint16, torch.bool):
        return np.dtype(np.uint32)
    if dtype in (torch.int8, torch.int16):
        return np.dtype(np.int32)
    return None


def _integer_block_means(cells: np.ndarray, f: int, acc: np.dtype) -> torch.Tensor:
    """Means over ``f x f`` blocks of an integer ``(C, R, W)`` array (partial blocks at the end average the
    pixels they have) as float32, summed exactly in ``acc``.

    Why not ``avg_pool2d``: it needs float input, and converting a 16-bit scan to float32 first costs more
    than the pooling (a 4432 x 2864 uint16 scan, f = 4, 2 cores: convert + pool ~45 ms, these sums ~21 ms;
    torch's own uint16 -> float32 conversion is slower still). The sums add ``f`` strided row views and then
    ``f`` column views into one accumulator: one read of the input, no float copy of it.
    """
    channels, rows, cols = cells.shape
    full_r, full_c = rows // f, cols // f
    out_r, out_c = -(-rows // f), -(-cols // f)
    # row sums: (C, out_r, cols); the partial last block of rows sums what it has
    row_sums = np.zeros((channels, out_r, cols), dtype=acc)
    if full_r:
        view = cells[:, : full_r * f].reshape(channels, full_r, f, cols)
        head = row_sums[:, :full_r]
        for i in range(f):
            head += view[:, :, i]
    if rows > full_r * f:
        row_sums[:, full_r] = cells[:, full_r * f:].sum(axis=1, dtype=acc)
    sums = np.zeros((channels, out_r, out_c), dtype=acc)
    if full_c:
        view = row_sums[:, :, : full_c * f].reshape(channels, out_r, full_c, f)
        head = sums[:, :, :full_c]
        for j in range(f):
            head += view[:, :, :, j]
    if cols > full_c * f:
        sums[:, :, full_c] = row_sums[:, :, full_c * f:].sum(axis=2, dtype=acc)
    count_r = np.full(out_r, f, dtype=np.float32)
    count_r[-1] = rows - (out_r - 1) * f
    count_c = np.full(out_c, f, dtype=np.float32)
    count_c[-1] = cols - (out_c - 1) * f
    means = sums.astype(np.float32)
    means /= count_r[:, None] * count_c[None, :]
    return torch.from_numpy(means)


def _apply_taps(img: torch.Tensor, dim: int, index: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    shape = [1] * img.ndim
    shape[dim] = -1
    if img.device.type == "cpu" and img.dtype == torch.float32:
        # numpy on the CPU: the same float32 products and sums in the same order (bit-identical), on one core.
        # torch splits these ~3 MB ops over its intra-op threads, and on a busy machine every split waits for
        # the slowest thread: 2 threads beside a running job took 83 ms per call here against 6 ms in numpy.
        cells, w = img.numpy(), weight.numpy()
        out_np = np.take(cells, index[:, 0].numpy(), axis=dim) * w[:, 0].reshape(shape)
        for t in range(1, index.shape[1]):
            out_np += np.take(cells, index[:, t].numpy(), axis=dim) * w[:, t].reshape(shape)
        return torch.from_numpy(out_np)
    out = img.index_select(dim, index[:, 0]) * weight[:, 0].reshape(shape)
    for t in range(1, index.shape[1]):
        out.add_(img.index_select(dim, index[:, t]) * weight[:, t].reshape(shape))
    return out


def aligned_box(box: Sequence[int], size: Sequence[int], factor: int) -> list[int]:
    """``box`` (half-open ``[row0, col0, row1, col1]``) grown to the ``factor`` grid of the image: starts
    rounded down to a multiple of ``factor``, ends up to one or to the image's edge."""
    f = int(factor)
    r0, c0 = (int(box[0]) // f) * f, (int(box[1]) // f) * f
    r1, c1 = min(int(size[0]), -(-int(box[2]) // f) * f), min(int(size[1]), -(-int(box[3]) // f) * f)
    return [r0, c0, r1, c1]


def crop_area_resize(img: torch.Tensor, box: Sequence[int], out_size: Sequence[int], factor: int = 1) -> torch.Tensor:
    """Crop a ``(C, rows, cols)`` tensor to ``box`` and area-resample the crop to ``out_size`` (float32).

    ``factor`` is the block size of step 1 (module docstring); the box must lie on its grid (see
    :func:`aligned_box`) and ``factor`` must not exceed ``box size // out_size`` on either axis. The blocks are
    averaged over a full-width band of rows (contiguous memory, so no copy of the crop is made), then the
    box's columns of blocks are kept. An 8/16-bit integer input (a scan loaded in its own dtype) is not
    converted to float first: its blocks are summed exactly in integers, over the box only.
    """
    if img.ndim != 3:
        raise ValueError(f"expected a (C, H, W) tensor, got shape {tuple(img.shape)}")
    rows, cols = int(img.shape[-2]), int(img.shape[-1])
    r0, c0, r1, c1 = (int(v) for v in box)
    h, w, f = int(out_size[0]), int(out_size[1]), int(factor)
    if not (0 <= r0 < r1 <= rows and 0 <= c0 < c1 <= cols) or h < 1 or w < 1:
        raise ValueError(f"bad box {list(box)} or size {list(out_size)} for an image of {rows} x {cols}")
    if f < 1 or (f > 1 and f > min((r1 - r0) // h, (c1 - c0) // w)):
        raise ValueError(f"factor {f} must be >= 1 and at most the box / output size ratio")
    if f > 1 and (r0 % f or c0 % f or (r1 % f and r1 != rows) or (c1 % f and c1 != cols)):
        raise ValueError(f"box {list(box)} is not on the {f}-pixel grid (use aligned_box)")
    acc = _integer_accumulator(img.dtype, f) if f > 1 and img.device.type == "cpu" else None
    if acc is not None:  # a 16-bit scan loaded as it is: exact integer block sums of the box only
        window = img[:, r0:r1, c0:c1].numpy()
        cells = _integer_block_means(window.view(np.uint8) if window.dtype == bool else window, f, acc)
    else:
        band = img[:, r0:r1]  # full-width rows: contiguous, so no copy of the crop is made
        band = band if band.dtype == torch.float32 else band.to(torch.float32)
        if f > 1:
            band = F.avg_pool2d(band[None], f, ceil_mode=True)[0]
        cells = band[:, :, c0 // f: -(-c1 // f)]
    if (h, w) == (r1 - r0, c1 - c0):
        return cells.clone(memory_format=torch.contiguous_format)
    row_edges = (np.minimum(np.arange(cells.shape[-2] + 1) * f + r0, r1) - r0).astype(np.float64)
    col_edges = (np.minimum(np.arange(cells.shape[-1] + 1) * f + c0, c1) - c0).astype(np.float64)
    cells = _apply_taps(cells, cells.ndim - 2, *_taps(row_edges, h))
    return _apply_taps(cells, cells.ndim - 1, *_taps(col_edges, w))


def area_resize(img: torch.Tensor, out_size: Sequence[int]) -> torch.Tensor:
    """Area-resample a ``(C, H, W)`` tensor (any float or integer dtype) to ``(C, h, w)`` float32.

    Shrinking and enlarging both work (enlarging: step 1 is skipped and each output pixel blends the one or
    two input pixels under it). See the module docstring for the method.
    """
    if img.ndim != 3:
        raise ValueError(f"expected a (C, H, W) tensor, got shape {tuple(img.shape)}")
    rows, cols = int(img.shape[-2]), int(img.shape[-1])
    factor = max(1, min(rows // max(1, int(out_size[0])), cols // max(1, int(out_size[1]))))
    return crop_area_resize(img, [0, 0, rows, cols], out_size, factor)
