"""User-supplied starting weights for a bundle's network (nothing is ever downloaded).

MONAI's classification networks download ImageNet weights with ``pretrained=True``; the bundles keep that
off and take a path instead (``pretrained_weights``): a state dict (or a checkpoint holding one under
``model`` / ``state_dict``) saved from the same architecture, e.g. a model trained on CBIS-DDSM to fine-tune
on a hospital's data. Layers whose shape differs (another number of classes) are skipped and listed, so the
head can be re-learnt.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch
from torch import nn

__all__ = ["load_pretrained_weights"]

logger = logging.getLogger(__name__)


def load_pretrained_weights(network: nn.Module, path: str | os.PathLike | None) -> nn.Module:
    """Load the weights at ``path`` into ``network`` (in place) and return it; ``None``/``""``: unchanged.

    Entries whose name or shape does not match are skipped and logged (at least one must load).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file holds no state dict, or nothing in it fits the network.

    Example:
        >>> net = nn.Linear(4, 2)
        >>> load_pretrained_weights(net, "") is net
        True
    """
    if not path:
        return network
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pretrained_weights: {path} does not exist (weights are never downloaded)")
    state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("model", "state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"pretrained_weights: {path} holds no state dict of tensors")
    own = network.state_dict()
    fitting = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not fitting:
        raise ValueError(f"pretrained_weights: nothing in {path} fits {type(network).__name__} (another architecture?)")
    skipped = sorted(set(state) - set(fitting))
    missing = sorted(set(own) - set(fitting))
    network.load_state_dict(fitting, strict=False)
    logger.info("pretrained_weights: loaded %d tensors from %s; skipped %d (%s); left as initialised %d (%s)",
                len(fitting), path, len(skipped), ", ".join(skipped[:5]), len(missing), ", ".join(missing[:5]))
    return network
