"""The training state a resume restores (issue 21) and the atomic checkpoint saver, in process; the real
kill-and-resume run is ``tests/bundles/test_kill_resume.py``."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from ignite.engine import Engine, Events
from monai.data import DataLoader, Dataset
from monai.handlers import EarlyStopHandler
from monai.transforms import Compose, RandAffined, RandFlipd
from monai.utils import set_determinism

from mammo_monai.engines import AtomicCheckpointSaver, BestMetricState, MetricHistory, RandomStates


def _weights_only_round_trip(state: dict) -> dict:
    """What a checkpoint gives back: ``torch.save`` then ``torch.load(weights_only=True)`` (as the resume does)."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def _loader() -> DataLoader:
    transform = Compose([RandFlipd("x", prob=0.5, spatial_axis=0),
                         RandAffined("x", prob=1.0, rotate_range=0.3, padding_mode="zeros")])
    data = [{"x": torch.rand(1, 8, 8, generator=torch.Generator().manual_seed(k))} for k in range(6)]
    sampler = torch.utils.data.RandomSampler(range(6), generator=torch.Generator().manual_seed(3))
    return DataLoader(Dataset(data, transform), batch_size=2, sampler=sampler, num_workers=0)


def _epoch(loader: DataLoader) -> list[torch.Tensor]:
    return [batch["x"] for batch in loader] + [torch.rand(3)]


def test_random_states_make_the_next_epoch_repeat():
    set_determinism(seed=0)
    loader = _loader()
    _epoch(loader)
    saved = _weights_only_round_trip(RandomStates([loader]).state_dict())
    assert len(saved["transforms"]) >= 3 and len(saved["generators"]) == 1  # Compose, flip, affine (+ its parts)
    expected = _epoch(loader)
    set_determinism(seed=1)  # another process: other seeds everywhere ...
    other = _loader()
    other.sampler.generator.manual_seed(9)
    other.dataset.transform.set_random_state(9)
    RandomStates([other]).load_state_dict(saved)  # ... until the checkpoint's states are restored
    for a, b in zip(_epoch(other), expected):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_random_states_warn_when_the_pipeline_changed(caplog):
    saved = RandomStates([_loader()]).state_dict()
    RandomStates([Compose([RandFlipd("x", prob=0.5)])]).load_state_dict(saved)
    assert "the data pipeline changed" in caplog.text


def _trainer_and_validator(scores: list[float]) -> tuple[Engine, Engine]:
    trainer = Engine(lambda engine, batch: [{"loss": 0.5}])
    validator = Engine(lambda engine, batch: None)

    @validator.on(Events.EPOCH_COMPLETED)
    def score(engine: Engine) -> None:
        engine.state.metrics = {"val_auc": np.float64(scores[trainer.state.epoch - 1])}

    @trainer.on(Events.EPOCH_COMPLETED)
    def validate(engine: Engine) -> None:
        # as MONAI's Evaluator.run(global_epoch): the validation of epoch N is the validator's epoch N
        validator.state.max_epochs, validator.state.epoch = engine.state.epoch, engine.state.epoch - 1
        validator.state.iteration = 0
        validator.run([0])

    return trainer, validator


def test_best_metric_state_goes_through_a_checkpoint(tmp_path: Path):
    trainer, validator = _trainer_and_validator([0.6, 0.9, 0.7])
    trainer.state.best_metric, trainer.state.best_metric_epoch = 0.4, 1
    validator.state.best_metric, validator.state.best_metric_epoch = np.float64(0.9), 2
    stop = EarlyStopHandler(patience=5, score_function=lambda e: e.state.metrics["val_auc"], trainer=trainer)
    stop.attach(validator)
    best = AtomicCheckpointSaver(str(tmp_path), {"model": torch.nn.Linear(2, 1)}, save_key_metric=True,
                                 key_metric_name="val_auc", key_metric_filename="model.pt")
    best.attach(validator)
    trainer.run([0], max_epochs=3)
    state = BestMetricState([trainer, validator], early_stop=stop, key_metric_saver=best)
    saved = _weights_only_round_trip(state.state_dict())  # NumPy scores are stored as Python floats
    assert saved["early_stop"]["counter"] == 1 and saved["early_stop"]["best_score"] == pytest.approx(0.9)

    new_trainer, new_validator = _trainer_and_validator([0.8])
    new_stop = EarlyStopHandler(patience=5, score_function=lambda e: e.state.metrics["val_auc"], trainer=new_trainer)
    new_best = AtomicCheckpointSaver(str(tmp_path), {"model": torch.nn.Linear(2, 1)}, save_key_metric=True,
                                     key_metric_name="val_auc", key_metric_filename="model.pt")
    BestMetricState([new_trainer, new_validator], early_stop=new_stop, key_metric_saver=new_best).load_state_dict(saved)
    assert (new_trainer.state.best_metric, new_trainer.state.best_metric_epoch) == (0.4, 1)
    assert (new_validator.state.best_metric, new_validator.state.best_metric_epoch) == (0.9, 2)
    assert new_stop._handler.counter == 1 and new_stop._handler.best_score == pytest.approx(0.9)
    # model.pt is replaced only by a better score than the one saved before the resume (0.8 < 0.9: kept)
    before = (tmp_path / "model.pt").stat().st_mtime_ns
    new_validator.state.metrics = {"val_auc": 0.8}
    new_best.metrics_completed(new_validator)
    assert (tmp_path / "model.pt").stat().st_mtime_ns == before


def test_metric_history_is_written_each_epoch_and_restored(tmp_path: Path):
    trainer, validator = _trainer_and_validator([0.6, 0.9, 0.7])
    net = torch.nn.Linear(2, 1)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    path = tmp_path / "eval" / "metric_history.json"
    history = MetricHistory(validator, optimizer, path)
    history.attach(trainer)
    trainer.run([0, 1], max_epochs=3)
    written = json.loads(path.read_text())
    assert written == history.history and [e["epoch"] for e in written] == [1, 2, 3]
    assert written[1] == {"epoch": 2, "loss": 0.5, "train": {}, "validation": {"val_auc": 0.9}, "lr": [0.1]}

    resumed = MetricHistory(validator, optimizer, path)
    resumed.load_state_dict(_weights_only_round_trip(history.state_dict()))
    assert resumed.history == written


def _saver(folder: Path, net: torch.nn.Module) -> tuple[Engine, AtomicCheckpointSaver]:
    trainer = Engine(lambda engine, batch: None)
    saver = AtomicCheckpointSaver(str(folder), {"model": net, "optimizer": torch.optim.SGD(net.parameters(), lr=1)},
                                  save_interval=1, n_saved=1, save_final=True, final_filename="model_final.pt")
    saver.attach(trainer)
    return trainer, saver


def test_interrupted_checkpoint_keeps_the_previous_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A save killed mid-way (``torch.save`` writes part of the file, then dies) leaves the previous epoch's
    checkpoint complete (ignite removes it before writing the next: here only after), and no temporary file."""
    net = torch.nn.Linear(2, 1)
    trainer, _ = _saver(tmp_path, net)
    real_save = torch.save

    def dies_in_epoch_2(obj, f, *args, **kwargs):
        if trainer.state.epoch == 2:
            f.write(b"PK\x03\x04 part of a checkpoint")
            raise KeyboardInterrupt("killed while saving")
        real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", dies_in_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        trainer.run([0], max_epochs=3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint_epoch=1.pt"]
    state = torch.load(tmp_path / "checkpoint_epoch=1.pt", weights_only=True)
    torch.testing.assert_close(state["model"]["weight"], net.weight.detach())

    monkeypatch.setattr(torch, "save", real_save)
    trainer, _ = _saver(tmp_path, net)
    trainer.run([0], max_epochs=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint_epoch=2.pt", "model_final.pt"]


def test_resumed_saver_rotates_the_checkpoint_it_resumed_from(tmp_path: Path):
    """After a resume the ``n_saved=1`` rotation deletes the checkpoint the run resumed from (and nothing else:
    another run's checkpoint in the same folder stays)."""
    net = torch.nn.Linear(2, 1)
    trainer, _ = _saver(tmp_path, net)
    trainer.run([0], max_epochs=2)
    (tmp_path / "other_checkpoint_epoch=1.pt").write_bytes(b"another run's")
    resumed = Engine(lambda engine, batch: None)
    saver = AtomicCheckpointSaver(str(tmp_path), {"model": net, "optimizer": torch.optim.SGD(net.parameters(), lr=1)},
                                  resumed_from=str(tmp_path / "checkpoint_epoch=2.pt"), save_interval=1, n_saved=1)
    saver.attach(resumed)
    resumed.load_state_dict({"iteration": 2, "epoch_length": 1, "max_epochs": 2})
    resumed.run([0], max_epochs=4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint_epoch=4.pt", "model_final.pt",
                                                         "other_checkpoint_epoch=1.pt"]
