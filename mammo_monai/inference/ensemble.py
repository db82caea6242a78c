"""Model ensembles (the fold models of a cross-validation) as one network a bundle's ``inference.json`` can run.

:class:`ProbabilityEnsemble` holds copies of the bundle's network, one per checkpoint, and averages their class
probabilities. It returns the *log* of the mean probability (or, for a one-logit sigmoid head, its logit), so the
bundle's postprocessing (``Activationsd`` with ``softmax`` / ``sigmoid``, ``AsDiscreted`` argmax, any inferer,
TTA included) runs unchanged and sees exactly the mean probability. The mean is taken over probabilities, not
logits: a member that is sure does not outvote the others by the size of its logit.

:class:`EnsembleCheckpointLoader` is the handler that fills it: one checkpoint per member, each loaded by MONAI's
own ``CheckpointLoader``; with one path and a plain network it is exactly that ``CheckpointLoader``.
:func:`ensemble_network` builds the network for a list of checkpoints (the network itself for one), so a config
switches between one model and an ensemble with one value::

    "ensemble_checkpoints": [],
    "checkpoints": "$@ensemble_checkpoints or [@ckpt_dir + '/model.pt']",
    "network": "$mammo_monai.inference.ensemble_network(@network_def, len(@checkpoints)).to(@device)",
    handlers: {"_target_": "mammo_monai.inference.EnsembleCheckpointLoader", "load_paths": "@checkpoints",
               "network": "@network", "map_location": "@device"}

Example:
    >>> import torch
    >>> a, b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    >>> ensemble = ProbabilityEnsemble([a, b])
    >>> x = torch.randn(3, 2)
    >>> mean = (a(x).softmax(1) + b(x).softmax(1)) / 2
    >>> bool(torch.allclose(ensemble(x).softmax(1), mean, atol=1e-6))
    True
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from monai.handlers import CheckpointLoader

from mammo_monai.io.errors import InputNotFoundError

__all__ = ["EnsembleCheckpointLoader", "ProbabilityEnsemble", "ensemble_network"]

#: the activations whose mean an ensemble can hand on through the bundle's own activation
ACTIVATIONS = ("softmax", "sigmoid")


class ProbabilityEnsemble(torch.nn.Module):
    """The mean class probability of ``members``, returned so that the bundle's activation recovers it.

    Args:
        members: networks with the same output shape (``(B, K, ...)``: class scores along ``dim``).
        activation: the bundle's postprocessing activation: ``"softmax"`` (forward returns ``log(mean softmax)``)
            or ``"sigmoid"`` (forward returns ``logit(mean sigmoid)``).
        dim: the class axis of the members' outputs (softmax only).

    Shapes: input whatever the members take; output the members' output shape.

    Raises:
        ValueError: no member, or an unknown activation.
    """

    def __init__(self, members: Sequence[torch.nn.Module], activation: str = "softmax", dim: int = 1) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member network")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
        self.members = torch.nn.ModuleList(members)
        self.activation = activation
        self.dim = dim

    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        outputs = [member(x, *args, **kwargs) for member in self.members]
        if self.activation == "softmax":
            mean = torch.stack([o.float().softmax(self.dim) for o in outputs]).mean(0)
            return mean.clamp_min(torch.finfo(mean.dtype).tiny).log()
        mean = torch.stack([o.float().sigmoid() for o in outputs]).mean(0)
        eps = torch.finfo(mean.dtype).eps
        return torch.logit(mean, eps=eps)


def ensemble_network(network: torch.nn.Module, n_members: int, activation: str = "softmax") -> torch.nn.Module:
    """``network`` itself for one member, else a :class:`ProbabilityEnsemble` of ``n_members`` deep copies of it
    (their weights come from :class:`EnsembleCheckpointLoader`).

    Example:
        >>> import torch
        >>> net = torch.nn.Linear(2, 2)
        >>> ensemble_network(net, 1) is net, len(ensemble_network(net, 3).members)
        (True, 3)
    """
    if n_members < 1:
        raise ValueError(f"an ensemble needs at least one member, got {n_members}")
    if n_members == 1:
        return network
    return ProbabilityEnsemble([copy.deepcopy(network) for _ in range(n_members)], activation=activation)


class EnsembleCheckpointLoader:
    """Load one checkpoint per member of ``network`` when the engine starts (a MONAI handler).

    Each file is loaded into its member by MONAI's ``CheckpointLoader`` (``{"model": member}``), so a checkpoint the
    bundles' ``CheckpointSaver`` wrote, or a bare ``state_dict``, both load, with MONAI's shape checks.

    Args:
        load_paths: the checkpoint files, one per member (in member order); one file for a plain network.
        network: a :class:`ProbabilityEnsemble` (one path per member) or any other network (one path).
        map_location: as ``torch.load``'s.
        strict: as ``CheckpointLoader``'s.

    Raises:
        ValueError: the number of paths differs from the number of members.
        InputNotFoundError: (when attached) a checkpoint file is missing; the message names it.
    """

    def __init__(self, load_paths: Sequence[str | os.PathLike], network: torch.nn.Module,
                 map_location: Any = None, strict: bool = True) -> None:
        members = list(network.members) if isinstance(network, ProbabilityEnsemble) else [network]
        self.load_paths = [Path(p) for p in ([load_paths] if isinstance(load_paths, (str, os.PathLike))
                                             else load_paths)]
        if len(self.load_paths) != len(members):
            raise ValueError(f"{len(self.load_paths)} checkpoint(s) for a network of {len(members)} member(s): "
                             f"{[str(p) for p in self.load_paths]}")
        self.loaders = [CheckpointLoader(load_path=str(p), load_dict={"model": m}, map_location=map_location,
                                         strict=strict) for p, m in zip(self.load_paths, members)]

    def attach(self, engine: Any) -> None:
        """Check that every file is there, then load them all when ``engine`` starts."""
        missing = [str(p) for p in self.load_paths if not p.is_file()]
        if missing:
            raise InputNotFoundError(missing[0], "checkpoint not found"
                                     + (f" (and {len(missing) - 1} more: {missing[1:]})" if len(missing) > 1 else ""))
        from ignite.engine import Events

        engine.add_event_handler(Events.STARTED, self)

    def __call__(self, engine: Any) -> None:
        for loader in self.loaders:
            loader(engine)
