"""Checkpoint records (issue 21): a resume loads only a checkpoint written by the same bundle, version and network."""

from __future__ import annotations

import json
import logging
import os
import time

import pytest
import torch
from ignite.engine import Engine
from monai.handlers import CheckpointLoader

from mammo_monai.engines import CheckpointMismatchError, CheckpointRecord, find_resume_checkpoint, network_hash
from mammo_monai.io import MammoInputError


def _bundle(tmp_path, name: str, version: str = "0.1.0"):
    root = tmp_path / name
    (root / "configs").mkdir(parents=True)
    (root / "configs" / "metadata.json").write_text(json.dumps({"name": name, "version": version}))
    return root


def _save(path, record: CheckpointRecord | None, net: torch.nn.Module) -> None:
    data = {"model": net.state_dict()}
    if record is not None:
        data["record"] = record.state_dict()
    torch.save(data, path)
    time.sleep(0.01)
    os.utime(path)  # modification order = writing order


def test_network_hash_is_the_architecture_not_the_weights():
    a, b = torch.nn.Linear(4, 2), torch.nn.Linear(4, 2)
    assert network_hash(a) == network_hash(b) == network_hash(torch.nn.DataParallel(a))
    assert network_hash(a) != network_hash(torch.nn.Linear(4, 3))
    assert network_hash(torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3))) != \
        network_hash(torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, padding=1)))  # same shapes, other config


def test_resume_takes_only_a_matching_checkpoint(tmp_path, caplog, capsys):
    net = torch.nn.Linear(4, 2)
    seg, cls = _bundle(tmp_path, "seg"), _bundle(tmp_path, "cls")
    ours, theirs = CheckpointRecord(seg, net), CheckpointRecord(cls, net)
    shared = tmp_path / "models"
    shared.mkdir()
    assert find_resume_checkpoint(shared, ours) == ""  # a fresh run
    _save(shared / "checkpoint_epoch=1.pt", ours, net)
    _save(shared / "checkpoint_epoch=2.pt", CheckpointRecord(_bundle(tmp_path, "seg2", "0.2.0"), net), net)
    _save(shared / "checkpoint_epoch=3.pt", theirs, net)  # another bundle in the same folder, newest
    _save(shared / "checkpoint_epoch=4.pt", CheckpointRecord(seg, torch.nn.Linear(4, 3)), torch.nn.Linear(4, 3))
    _save(shared / "checkpoint_epoch=5.pt", None, net)  # written before records existed
    (shared / "checkpoint_epoch=6.pt").write_bytes(b"half a checkpoint")  # killed while writing
    with caplog.at_level(logging.WARNING, logger="mammo_monai.engines.checkpoints"):
        found = find_resume_checkpoint(shared, ours)
    assert found == str(shared / "checkpoint_epoch=1.pt")
    assert f"resuming from {found}" in capsys.readouterr().out
    for n in (2, 3, 4, 5, 6):
        assert f"checkpoint_epoch={n}.pt: not resumed from" in caplog.text
    assert "bundle 'cls'" in caplog.text and "network_hash" in caplog.text and "no checkpoint record" in caplog.text


def test_loading_a_foreign_checkpoint_is_refused(tmp_path):
    net = torch.nn.Linear(4, 2)
    ours, theirs = CheckpointRecord(_bundle(tmp_path, "a"), net), CheckpointRecord(_bundle(tmp_path, "b"), net)
    path = tmp_path / "b.pt"
    _save(path, theirs, net)
    loader = CheckpointLoader(load_path=str(path), load_dict={"model": net, "record": ours})
    with pytest.raises(CheckpointMismatchError, match="bundle 'b' \\(this run: 'a'\\)") as info:
        loader(Engine(lambda engine, batch: None))
    assert isinstance(info.value, MammoInputError)
    ours.load_state_dict(ours.state_dict())  # the same record loads
