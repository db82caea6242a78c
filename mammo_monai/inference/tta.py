"""Test-time augmentation by flips, as a MONAI ``Inferer`` a bundle's ``inference.json`` can name.

:class:`FlipTTAInferer` runs its base inferer (``SimpleInferer``, a ``SlidingWindowInferer``, ...) on the input and
on flipped copies of it, flips each spatial output back, and averages. Outputs without the input's spatial shape
(class logits ``(B, K)``) are averaged as they are. The averaging happens on what the network returns (logits);
the bundle's postprocessing (softmax, argmax, ...) then runs once on the mean, as without TTA.

Mammograms after the full-mammogram pipeline have the chest wall at column 0, so only the up-down flip (spatial
axis 0, the rows) keeps a film a plausible film; that is the default. Geometric TTA that needs resampling
(rotations) is not offered: its inverse would blur the output and it costs a resampling per view.

Example:
    >>> import torch
    >>> from monai.inferers import SimpleInferer
    >>> net = lambda x: x * torch.arange(4.0).view(1, 1, 4, 1)        # not flip-equivariant
    >>> x = torch.ones(1, 1, 4, 2)
    >>> FlipTTAInferer(SimpleInferer())(x, net)[0, 0, :, 0].tolist()  # the mean of the view and its flip
    [1.5, 1.5, 1.5, 1.5]
    >>> FlipTTAInferer(SimpleInferer(), enabled=False)(x, net)[0, 0, :, 0].tolist()
    [0.0, 1.0, 2.0, 3.0]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from monai.inferers import Inferer, SimpleInferer

__all__ = ["FlipTTAInferer"]


class FlipTTAInferer(Inferer):
    """The mean of ``inferer``'s outputs over the input and its flips, each spatial output flipped back.

    Args:
        inferer: the base inferer (default ``SimpleInferer``).
        flips: each entry a tuple of spatial axes to flip together (0 = rows); the unflipped input is always
            included. Default ``((0,),)``: the film and its up-down mirror.
        enabled: False: just the base inferer (so a config switches TTA with one value).

    Raises:
        ValueError: an empty or negative spatial axis.
    """

    def __init__(self, inferer: Inferer | None = None, flips: Sequence[Sequence[int]] = ((0,),),
                 enabled: bool = True) -> None:
        super().__init__()
        self.inferer = inferer if inferer is not None else SimpleInferer()
        self.flips = [tuple(int(a) for a in axes) for axes in flips]
        if any(not axes or min(axes) < 0 for axes in self.flips):
            raise ValueError(f"each flip needs one or more spatial axes >= 0, got {list(flips)}")
        self.enabled = bool(enabled)

    def __call__(self, inputs: torch.Tensor, network: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        first = self.inferer(inputs, network, *args, **kwargs)
        if not self.enabled or not self.flips:
            return first
        total = first.clone() if isinstance(first, torch.Tensor) else first
        for axes in self.flips:
            dims = [2 + a for a in axes]
            if max(dims) >= inputs.ndim:
                raise ValueError(f"flip axes {axes} outside the input's {inputs.ndim - 2} spatial dims")
            out = self.inferer(torch.flip(inputs, dims=dims), network, *args, **kwargs)
            if out.ndim == inputs.ndim and out.shape[2:] == inputs.shape[2:]:
                out = torch.flip(out, dims=dims)
            total = total + out
        return total / (1 + len(self.flips))
