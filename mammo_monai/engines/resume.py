"""What a training checkpoint must hold besides the network, optimizer, scheduler and engine counters for a resumed
run to go on exactly as the uninterrupted run would have (issue 21).

A ``CheckpointLoader`` restores ``model``, ``optimizer``, ``lr_scheduler`` and the trainer's epoch and iteration;
without more, a resumed run re-seeds its random generators (other shuffles, other augmentations), forgets the best
validation metric (so the first validation after the resume overwrites ``model.pt`` with a worse model and early
stopping restarts its patience), and loses the per-epoch metrics of the epochs before the kill. Three objects with
``state_dict``/``load_state_dict`` close these gaps; the bundles' training configs put them into both the epoch
``CheckpointSaver``'s ``save_dict`` and the resume ``CheckpointLoader``'s ``load_dict``:

* :class:`RandomStates`: Python's, NumPy's and torch's global generators, and the generator of every random
  transform and sampler of the training data loader;
* :class:`BestMetricState`: the workflows' best metric and its epoch, the early stopping's counter and best score,
  the best-model saver's record of what it saved;
* :class:`MetricHistory`: a handler recording each epoch's mean loss, training and validation metrics and learning
  rates, also written to a JSON file after every epoch.

.. code-block:: json

    "save_dict": {"model": "@network", "...": "...", "rng": "@train#random_states",
                  "best": "@train#best_metrics", "history": "@train#history"}

Everything is stored as tensors and plain Python values, so ``torch.load(..., weights_only=True)`` reads it.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from numbers import Number
from typing import Any

import numpy as np
import torch
from ignite.engine import Engine, Events
from monai.handlers import from_engine
from monai.transforms import Randomizable, Transform

from ..io.writers import write_json

__all__ = ["BestMetricState", "MetricHistory", "RandomStates"]

logger = logging.getLogger(__name__)


def _numpy_state(rs: np.random.RandomState) -> dict[str, Any]:
    name, keys, pos, has_gauss, cached = rs.get_state()
    return {"name": str(name), "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)), "pos": int(pos),
            "has_gauss": int(has_gauss), "cached_gaussian": float(cached)}


def _set_numpy_state(rs: np.random.RandomState, state: Mapping[str, Any]) -> None:
    keys = np.asarray(state["keys"].cpu().numpy(), dtype=np.uint32)
    rs.set_state((state["name"], keys, state["pos"], state["has_gauss"], state["cached_gaussian"]))


def _reachable(sources: Iterable[Any]) -> tuple[list[np.random.RandomState], list[torch.Generator]]:
    """The NumPy generators of the random transforms and the torch generators reachable from ``sources`` (data
    loaders, datasets, samplers, transforms), each once, in a fixed order."""
    states: dict[int, np.random.RandomState] = {}
    generators: dict[int, torch.Generator] = {}
    seen: set[int] = set()
    stack = list(reversed(list(sources)))
    while stack:
        obj = stack.pop()
        if obj is None or id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, torch.Generator):
            generators.setdefault(id(obj), obj)
            continue
        if isinstance(obj, (list, tuple)):
            stack.extend(reversed(obj))
            continue
        if isinstance(obj, Randomizable):
            states.setdefault(id(obj.R), obj.R)
        if isinstance(obj, torch.utils.data.DataLoader):
            children = [obj.dataset, obj.sampler, obj.batch_sampler, obj.generator]
        elif isinstance(obj, torch.utils.data.Dataset):
            children = [getattr(obj, name, None) for name in ("transform", "dataset", "generator")]
        elif isinstance(obj, (Transform, Randomizable, torch.utils.data.Sampler)):
            children = [v for v in vars(obj).values()
                        if isinstance(v, (Transform, Randomizable, torch.utils.data.Sampler, torch.Generator))
                        or (isinstance(v, (list, tuple)) and any(isinstance(x, (Transform, Randomizable)) for x in v))]
        else:
            children = []
        stack.extend(reversed(children))
    return list(states.values()), list(generators.values())


class RandomStates:
    """The random generators a training run draws from, saved with a checkpoint and restored at resume, so the
    resumed epochs shuffle and augment exactly as the uninterrupted run's did: Python's ``random``, NumPy's and
    torch's global generators (and CUDA's when in use), the ``RandomState`` of every MONAI random transform and
    every ``torch.Generator`` (samplers) reachable from ``sources``.

    Capture it where the checkpoint is written (the end of an epoch, after validation) and restore it before the
    next epoch starts (a ``CheckpointLoader`` on the trainer's ``STARTED``): the data loader then draws its shuffle
    and worker seeds from the same torch state, and the transforms their parameters from the same NumPy states.

    Args:
        sources: the training data loader (or datasets, transforms, samplers) whose generators are saved.

    Example:
        >>> from monai.transforms import Compose, RandFlipd
        >>> t = Compose([RandFlipd("x", prob=0.5)]).set_random_state(0)
        >>> saved = RandomStates([t]).state_dict()
        >>> first = [t.transforms[0].R.rand() for _ in range(3)]
        >>> RandomStates([t]).load_state_dict(saved)
        >>> [t.transforms[0].R.rand() for _ in range(3)] == first
        True
    """

    def __init__(self, sources: Sequence[Any] = ()) -> None:
        self.sources = list(sources) if isinstance(sources, (list, tuple)) else [sources]

    def state_dict(self) -> dict[str, Any]:
        states, generators = _reachable(self.sources)
        cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else []
        return {"python": random.getstate(), "numpy": _numpy_state(np.random.mtrand._rand), "torch":
                torch.get_rng_state(), "cuda": list(cuda), "transforms": [_numpy_state(rs) for rs in states],
                "generators": [g.get_state() for g in generators]}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        random.setstate(_as_tuples(state["python"]))
        _set_numpy_state(np.random.mtrand._rand, state["numpy"])
        torch.set_rng_state(state["torch"].cpu())
        if state["cuda"] and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
        states, generators = _reachable(self.sources)
        if len(states) != len(state["transforms"]) or len(generators) != len(state["generators"]):
            logger.warning("random states: the checkpoint has %d transform and %d sampler generators, this run %d and "
                           "%d (the data pipeline changed); their generators are not restored",
                           len(state["transforms"]), len(state["generators"]), len(states), len(generators))
            return
        for rs, saved in zip(states, state["transforms"]):
            _set_numpy_state(rs, saved)
        for g, saved in zip(generators, state["generators"]):
            g.set_state(saved.cpu())


def _as_tuples(value: Any) -> Any:
    """``random.setstate`` wants the tuples ``getstate`` gave (a checkpoint may hand back lists)."""
    return tuple(_as_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value


class BestMetricState:
    """The "best so far" a training run keeps across epochs: each workflow's ``best_metric`` and
    ``best_metric_epoch`` (MONAI's trainer and evaluator), the early stopping's patience counter and best score,
    and the best-model ``CheckpointSaver``'s record of the score it saved (so after a resume ``model.pt`` is
    replaced only by a better model, and patience goes on counting, as in the uninterrupted run).

    Args:
        engines: MONAI workflows (``SupervisedTrainer``, ``SupervisedEvaluator``) whose best metric is kept.
        early_stop: a MONAI ``EarlyStopHandler`` (its trainer set before the resume loads), or ``None``.
        key_metric_saver: the ``CheckpointSaver`` with ``save_key_metric`` that writes ``model.pt``, or ``None``.

    Example:
        >>> from types import SimpleNamespace
        >>> evaluator = SimpleNamespace(state=SimpleNamespace(best_metric=0.8, best_metric_epoch=3))
        >>> saved = BestMetricState([evaluator]).state_dict()
        >>> evaluator.state.best_metric = -1
        >>> BestMetricState([evaluator]).load_state_dict(saved)
        >>> evaluator.state.best_metric, evaluator.state.best_metric_epoch
        (0.8, 3)
    """

    def __init__(self, engines: Sequence[Engine] = (), early_stop: Any = None, key_metric_saver: Any = None) -> None:
        self.engines = list(engines)
        self.early_stop = early_stop
        self.key_metric_saver = key_metric_saver

    def _early_stopping(self) -> Any:
        return getattr(self.early_stop, "_handler", None)

    def _key_metric_checkpoint(self) -> Any:
        return getattr(self.key_metric_saver, "_key_metric_checkpoint", None)

    def state_dict(self) -> dict[str, Any]:
        stopping, best_model = self._early_stopping(), self._key_metric_checkpoint()
        return {"best_metric": [_number(getattr(e.state, "best_metric", -1)) for e in self.engines],
                "best_metric_epoch": [int(getattr(e.state, "best_metric_epoch", -1)) for e in self.engines],
                "early_stop": _plain(dict(stopping.state_dict())) if stopping is not None else {},
                "key_metric_saver": _plain(dict(best_model.state_dict())) if best_model is not None else {}}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if len(state["best_metric"]) != len(self.engines):
            logger.warning("best metrics: the checkpoint has %d workflows, this run %d; not restored",
                           len(state["best_metric"]), len(self.engines))
        else:
            for engine, metric, epoch in zip(self.engines, state["best_metric"], state["best_metric_epoch"]):
                engine.state.best_metric, engine.state.best_metric_epoch = metric, epoch
        stopping, best_model = self._early_stopping(), self._key_metric_checkpoint()
        if stopping is not None and state["early_stop"]:
            stopping.load_state_dict(state["early_stop"])
        if best_model is not None and state["key_metric_saver"]:
            best_model.load_state_dict(state["key_metric_saver"])


def _plain(value: Any) -> Any:
    """``value`` with NumPy scalars made Python numbers, in nested dicts, lists and tuples (what a
    ``weights_only`` load accepts: scores are often NumPy floats)."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    return value.item() if isinstance(value, np.generic) else value


def _number(value: Any) -> Any:
    """A metric as a plain float (or int) when it is a number or a one-element tensor/array, else ``None``."""
    if isinstance(value, (torch.Tensor, np.ndarray)):
        if value.size != 1 if isinstance(value, np.ndarray) else value.numel() != 1:
            return None
        value = value.item()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, Number):
        return None
    return value if isinstance(value, int) else float(value)


def _numbers(metrics: Mapping[str, Any]) -> dict[str, Any]:
    out = {str(k): _number(v) for k, v in metrics.items()}
    return {k: v for k, v in out.items() if v is not None}


class MetricHistory:
    """A trainer handler that keeps one entry per completed epoch and writes them all to ``path`` (JSON,
    atomically) after every epoch: ``{"epoch", "loss" (the mean of the iterations' losses), "train" (the trainer's
    metrics), "validation" (the validator's, when it ran that epoch), "lr" (each parameter group's)}``.

    Saved in the checkpoints (``state_dict``), so a resumed run's history holds the epochs before the kill too and
    ends equal to the uninterrupted run's. Attach it after the ``ValidationHandler`` (it reads what that epoch's
    validation gave) and before the epoch ``CheckpointSaver`` (which then holds the epoch's entry).

    Args:
        validator: the evaluator the ``ValidationHandler`` runs (``None``: no validation entries).
        optimizer: whose learning rates are recorded (``None``: none).
        path: the JSON file (``None``: kept in memory and checkpoints only).
        output_transform: the loss of one iteration from ``engine.state.output`` (default: MONAI's
            ``from_engine(["loss"], first=True)``).

    Example:
        >>> trainer = Engine(lambda engine, batch: [{"loss": float(batch)}])
        >>> history = MetricHistory()
        >>> history.attach(trainer)
        >>> _ = trainer.run([1.0, 3.0], max_epochs=2)
        >>> [(e["epoch"], e["loss"]) for e in history.history]
        [(1, 2.0), (2, 2.0)]
    """

    def __init__(self, validator: Engine | None = None, optimizer: torch.optim.Optimizer | None = None,
                 path: str | os.PathLike | None = None,
                 output_transform: Callable[[Any], Any] | None = None) -> None:
        self.validator = validator
        self.optimizer = optimizer
        self.path = path
        self.output_transform = output_transform or from_engine(["loss"], first=True)
        self.history: list[dict[str, Any]] = []
        self._losses: list[float] = []

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.EPOCH_STARTED, self._epoch_started)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self._iteration_completed)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self)

    def _epoch_started(self, engine: Engine) -> None:
        self._losses = []

    def _iteration_completed(self, engine: Engine) -> None:
        loss = _number(self.output_transform(engine.state.output))
        if loss is not None:
            self._losses.append(loss)

    def __call__(self, engine: Engine) -> None:
        epoch = int(engine.state.epoch)
        entry: dict[str, Any] = {"epoch": epoch, "loss": float(np.mean(self._losses)) if self._losses else None,
                                 "train": _numbers(engine.state.metrics)}
        if self.validator is not None and getattr(self.validator.state, "epoch", 0) == epoch:
            entry["validation"] = _numbers(self.validator.state.metrics)
        if self.optimizer is not None:
            entry["lr"] = [float(group["lr"]) for group in self.optimizer.param_groups]
        self.history = [e for e in self.history if e["epoch"] < epoch] + [entry]
        if self.path is not None:
            write_json(self.history, self.path)

    def state_dict(self) -> dict[str, Any]:
        return {"history": [dict(e) for e in self.history]}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.history = [dict(e) for e in state["history"]]
