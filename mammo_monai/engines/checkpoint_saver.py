"""Checkpoints written atomically (issue 21): a run killed while it saves never leaves half a checkpoint.

MONAI's ``CheckpointSaver`` writes through ignite's ``DiskSaver`` with ``atomic=False`` (ignite's atomic mode gives
the file owner-only permissions), i.e. ``torch.save`` straight into ``checkpoint_epoch=N.pt``, ``model.pt`` or
``model_final.pt``: a kill or a full disk in the middle leaves a truncated file under the final name, which the
next resume or ``model.pt`` reader then meets.
:class:`AtomicCheckpointSaver` is the same handler (same arguments, same files, same rotation) whose every file is
written by :class:`AtomicDiskSaver`: to a temporary file in the same folder, then ``os.replace``d
(:func:`mammo_monai.io.writers.atomic_write_file`), with ordinary permissions. And where ignite deletes the
previous checkpoint *before* writing the next one (the ``n_saved`` rotation of ``checkpoint_epoch=N.pt``, the
best ``model.pt``), a kill in between would leave no checkpoint at all: here the previous file is deleted only
once its successor is complete.

The bundles' training configs name it where they named ``CheckpointSaver``:

.. code-block:: json

    {"_target_": "mammo_monai.engines.AtomicCheckpointSaver", "save_dir": "@ckpt_dir",
     "save_dict": {"model": "@network"}, "save_key_metric": true, "key_metric_filename": "model.pt"}
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ignite.handlers import Checkpoint, DiskSaver
from monai.handlers import CheckpointSaver

from ..io.writers import atomic_write_file

__all__ = ["AtomicCheckpointSaver", "AtomicDiskSaver"]


class AtomicDiskSaver(DiskSaver):
    """ignite's ``DiskSaver`` that writes each checkpoint atomically with ordinary permissions, optionally always
    under one fixed ``filename`` (as MONAI's saver does for ``model.pt`` and ``model_final.pt``).

    ``remove`` (which ignite's ``Checkpoint`` calls just before it saves the next file) only marks the file; it is
    deleted after the next save completed, unless that save replaced it (same name).

    Args:
        dirname: the checkpoint folder (created when missing; existing ``.pt`` files are allowed).
        filename: a fixed file name replacing the one ignite composes (``None``: ignite's name).

    Example:
        >>> import tempfile, torch
        >>> scratch = tempfile.TemporaryDirectory()
        >>> AtomicDiskSaver(scratch.name, "model.pt")({"w": torch.zeros(2)}, "ignored_name.pt")
        >>> sorted(p.name for p in Path(scratch.name).iterdir())
        ['model.pt']
        >>> scratch.cleanup()
    """

    def __init__(self, dirname: str | Path, filename: str | None = None) -> None:
        super().__init__(dirname=dirname, atomic=True, create_dir=True, require_empty=False)
        self.filename = filename
        self._stale: list[str] = []

    def __call__(self, checkpoint: Mapping, filename: str, metadata: Mapping | None = None) -> None:
        name = self.filename or filename
        super().__call__(checkpoint, name, metadata)
        stale, self._stale = self._stale, []
        for old in stale:
            if old != name and (self.dirname / old).exists():
                super().remove(old)

    def remove(self, filename: str) -> None:
        self._stale.append(self.filename or filename)

    def _save_func(self, checkpoint: Mapping, path: Path, func: Callable) -> None:
        atomic_write_file(path, lambda f: func(checkpoint, f, **self.kwargs))


class AtomicCheckpointSaver(CheckpointSaver):
    """MONAI's ``CheckpointSaver`` (same arguments, files and rotation) whose final, key-metric and interval
    checkpoints are all written atomically by :class:`AtomicDiskSaver`.

    Args:
        save_dir, save_dict, kwargs: as MONAI's ``CheckpointSaver``.
        resumed_from: the epoch checkpoint this run resumed from (``@last_ckpt``; ``""``: a fresh run); the
            ``n_saved`` rotation deletes it in turn like the checkpoints this saver wrote.

    Example:
        >>> import tempfile, torch
        >>> from ignite.engine import Engine
        >>> scratch = tempfile.TemporaryDirectory()
        >>> net = torch.nn.Linear(2, 1)
        >>> trainer = Engine(lambda engine, batch: None)
        >>> state = {"model": net, "optimizer": torch.optim.SGD(net.parameters(), lr=0.1)}
        >>> AtomicCheckpointSaver(scratch.name, state, save_interval=1, n_saved=1).attach(trainer)
        >>> _ = trainer.run([0], max_epochs=2)
        >>> sorted(p.name for p in Path(scratch.name).iterdir())
        ['checkpoint_epoch=2.pt']
        >>> scratch.cleanup()
    """

    def __init__(self, save_dir: str, save_dict: dict, resumed_from: str | os.PathLike = "", **kwargs: Any) -> None:
        super().__init__(save_dir, save_dict, **kwargs)
        for checkpoint in (self._final_checkpoint, self._key_metric_checkpoint, self._interval_checkpoint):
            if checkpoint is not None:
                fixed = getattr(checkpoint.save_handler, "filename", None)
                checkpoint.save_handler = AtomicDiskSaver(self.save_dir, fixed)
        if resumed_from and self._interval_checkpoint is not None:
            self._adopt(Path(resumed_from))

    def _adopt(self, path: Path) -> None:
        """Count the interval checkpoint this run resumed from as one of its own, so that the ``n_saved`` rotation
        deletes it in turn (a fresh saver knows nothing of the files of the killed run: each resume would leave
        one more ``checkpoint_epoch=N.pt``). Only that one file, and only when it lies in ``save_dir`` under this
        saver's naming, so nothing of another run sharing the folder is ever touched."""
        checkpoint = self._interval_checkpoint
        score_name = "epoch" if self.epoch_level else "iteration"
        match = re.fullmatch(rf"(?:.*_)?{score_name}=(\d+)\.pt", path.name)
        if match is None or not path.is_file() or path.parent.resolve() != Path(self.save_dir).resolve():
            return
        checkpoint._saved.append(Checkpoint.Item(int(match.group(1)), path.name))
