"""Checkpoint records: a training checkpoint says which bundle, version and network wrote it, and a resume loads
only a checkpoint whose record matches (issue 21).

Two bundles that share an output folder, or a bundle whose network was changed between runs, must not resume from
each other's ``checkpoint_epoch=N.pt``. The training configs save a :class:`CheckpointRecord` with every epoch
checkpoint (``"record": "@checkpoint_record"`` in the ``CheckpointSaver``'s ``save_dict``) and choose the checkpoint
to resume from with :func:`find_resume_checkpoint` instead of "the newest file":

.. code-block:: json

    "checkpoint_record": "$mammo_monai.engines.CheckpointRecord(@bundle_root, @network)",
    "last_ckpt": "$mammo_monai.engines.find_resume_checkpoint(@ckpt_dir, @checkpoint_record)",

A checkpoint without a record (written before records existed), with another record, or that cannot be read (a
half-written file) is skipped with a logged warning naming it and why; the one loaded is named on stdout.
"""

from __future__ import annotations

import glob
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import torch

from ..io.errors import MammoInputError

__all__ = ["CheckpointMismatchError", "CheckpointRecord", "find_resume_checkpoint", "network_hash"]

logger = logging.getLogger(__name__)


class CheckpointMismatchError(MammoInputError):
    """A checkpoint was written by another bundle, version or network than the one loading it."""


def network_hash(network: torch.nn.Module) -> str:
    """SHA-256 (16 hex digits) of a network's configuration: its module tree as ``repr`` prints it (layer types and
    their hyper-parameters) and the name and shape of every parameter and buffer. Weights do not enter it: the hash
    is the same before and after training."""
    net = getattr(network, "module", network)  # DataParallel / DistributedDataParallel
    digest = hashlib.sha256(repr(net).encode())
    for name, tensor in list(net.state_dict().items()):
        digest.update(f"{name}:{tuple(tensor.shape)};".encode())
    return digest.hexdigest()[:16]


class CheckpointRecord:
    """What a checkpoint records about its writer: ``{"bundle", "version", "network_hash"}``.

    Saved and loaded like any object with ``state_dict``/``load_state_dict`` (so it sits in a ``CheckpointSaver``'s
    ``save_dict`` and a ``CheckpointLoader``'s ``load_dict``); loading a checkpoint with another record raises
    :class:`CheckpointMismatchError`.

    Args:
        bundle_root: the bundle folder; its ``configs/metadata.json`` gives the version, and the name (the
            metadata's ``name``, else the folder's name).
        network: the network the checkpoint holds.
    """

    def __init__(self, bundle_root: str | os.PathLike, network: torch.nn.Module) -> None:
        root = Path(bundle_root)
        meta: dict[str, Any] = {}
        try:
            meta = json.loads((root / "configs" / "metadata.json").read_text())
        except (OSError, ValueError):
            pass
        self.record = {
            "bundle": str(meta.get("name") or root.resolve().name),
            "version": str(meta.get("version", "")),
            "network_hash": network_hash(network),
        }

    def state_dict(self) -> dict[str, str]:
        return dict(self.record)

    def mismatch(self, saved: Any) -> str | None:
        """Why a saved record does not match this one (``None`` when it does)."""
        if not isinstance(saved, dict):
            return "no checkpoint record (written before records existed, or by another program)"
        diffs = [f"{key} {saved.get(key)!r} (this run: {value!r})" for key, value in self.record.items()
                 if saved.get(key) != value]
        return ", ".join(diffs) or None

    def load_state_dict(self, state: Any, path: str | os.PathLike = "checkpoint") -> None:
        why = self.mismatch(state)
        if why:
            raise CheckpointMismatchError(path, f"written by another bundle or network: {why}")

    def __repr__(self) -> str:
        return f"CheckpointRecord({self.record})"


def find_resume_checkpoint(
    ckpt_dir: str | os.PathLike, record: CheckpointRecord, pattern: str = "checkpoint_epoch=*.pt"
) -> str:
    """The newest checkpoint in ``ckpt_dir`` whose record matches ``record``, or ``""`` when there is none (a fresh
    run). Newest by modification time; every file passed over is logged with the reason."""
    candidates = sorted(glob.glob(os.path.join(glob.escape(str(ckpt_dir)), pattern)), key=os.path.getmtime,
                        reverse=True)
    for path in candidates:
        try:
            saved = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # a half-written or foreign file
            logger.warning("%s: not resumed from: cannot be read (%s: %s)", path, type(e).__name__, e)
            continue
        why = record.mismatch(saved.get("record") if isinstance(saved, dict) else None)
        if why:
            logger.warning("%s: not resumed from: %s", path, why)
            continue
        print(f"resuming from {path} ({record.record['bundle']} {record.record['version']}, network "
              f"{record.record['network_hash']})", flush=True)
        return path
    return ""
